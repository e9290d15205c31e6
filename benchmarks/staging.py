#!/usr/bin/env python3
"""Staging alone, without Prefect: how fast the worker processes parse a whole corpus, and
how fast one process parses one chunk over and over (its files then stay in the CPU's
caches), to tell the pipeline's own cost from the parsing's.

    python benchmarks/staging.py [--corpus benchmarks/out/corpus-100000] [--chunk-size 2500]

Prints seconds and µs of CPU a file per worker. The corpus is one `make bench` generated.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from warehouse.parallel import ProcessStager  # noqa: E402
from warehouse.source import list_candidates  # noqa: E402
from warehouse.staging import ChunkJob, stage_chunk  # noqa: E402
from warehouse.state import TO_READ_SCHEMA  # noqa: E402


def chunk_jobs(source: Path, out: Path, chunk_size: int) -> list[ChunkJob]:
    """Every file of `source`, in chunks, as a first load stages them."""
    listing = list_candidates(source, stat=False)
    n = listing.num_rows
    files = pa.table(
        [*listing.columns, pa.nulls(n, pa.string()), pa.nulls(n, pa.string())],
        schema=TO_READ_SCHEMA,
    )
    return [
        ChunkJob(
            source=str(source),
            part_dir=str(out / f"{index:06d}"),
            part=f"bench/{index:06d}",
            files=files.slice(start, chunk_size),
        )
        for index, start in enumerate(range(0, n, chunk_size))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = ROOT / "benchmarks" / "out" / "corpus-100000"
    parser.add_argument("--corpus", type=Path, default=default)
    parser.add_argument("--chunk-size", type=int, default=2500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        jobs = chunk_jobs(args.corpus, out, args.chunk_size)
        files = sum(job.file_count for job in jobs)
        with ProcessStager() as stager:
            for future in [stager.submit(job) for job in jobs[: stager.workers]]:
                future.result()  # the workers are started, as they are once a run stages
            for path in out.iterdir():
                shutil.rmtree(path)
            start = time.perf_counter()
            for future in [stager.submit(job) for job in jobs]:
                future.result()
            seconds = time.perf_counter() - start
            workers = stager.workers
        print(
            f"{files:,} files in {len(jobs)} chunks on {workers} workers: {seconds:.2f} s, "
            f"{files / seconds:,.0f} files/s, {seconds * workers / files * 1e6:.0f} µs a file "
            "per worker"
        )
        one = jobs[0]
        best = float("inf")
        for _ in range(5):
            shutil.rmtree(one.part_dir, ignore_errors=True)
            start = time.perf_counter()
            stage_chunk(one)
            best = min(best, time.perf_counter() - start)
        print(
            f"one chunk of {one.file_count:,} files again and again, in this process: "
            f"{best / one.file_count * 1e6:.0f} µs a file (the best of 5)"
        )


if __name__ == "__main__":
    main()
