#!/usr/bin/env python3
"""Incremental runs on a generated corpus: a full load, a run with nothing changed, and a
run after scripted edits (modify, delete, add, touch), side by side with a full refresh.

    python benchmarks/incremental.py [--count 20000] [--workdir benchmarks/out/incremental]

Prints files read/parsed and seconds per run (the pipeline without Prefect's start-up).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from warehouse import Warehouse  # noqa: E402
from warehouse.pipeline import run_ingest  # noqa: E402

OLD = 1_600_000_000


def timed(label: str, source: Path, wh: Warehouse, **kw) -> dict:
    start = time.perf_counter()
    summary = run_ingest(source, wh, **kw)
    seconds = time.perf_counter() - start
    print(
        f"{label:<28} {seconds:8.2f} s  seen {summary['files_seen']:>7,}  parsed "
        f"{summary['files_parsed']:>7,}  unchanged {summary['files_unchanged']:>7,}  "
        f"deleted {summary['files_deleted']:>5,}  articles {summary['articles']:>7,}"
    )
    return summary


def edit(source: Path, share: float) -> dict:
    files = sorted(p for p in source.rglob("*.txt"))
    step = max(int(1 / share), 1)
    counts = {"modified": 0, "deleted": 0, "added": 0, "touched": 0}
    for i, path in enumerate(files[::step]):
        kind = ("modified", "deleted", "touched", "modified")[i % 4]
        if kind == "modified":
            path.write_text(path.read_text().replace("heat:", "heat: 1\nold_heat:", 1))
            os.utime(path, (OLD + 10, OLD + 10))
        elif kind == "deleted":
            path.unlink()
        else:
            os.utime(path, (OLD + 20, OLD + 20))
        counts[kind] += 1
    for i in range(counts["deleted"]):
        new = source / "added" / f"{i}.md"
        new.parent.mkdir(exist_ok=True)
        new.write_text(f"---\ntitle: Added {i}\nwebUrl: https://added.org/{i}\n---\n")
        os.utime(new, (OLD + 30, OLD + 30))
        counts["added"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out" / "incremental")
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    source = args.workdir / "corpus"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "generate_corpus.py"),
            str(source),
            "--count",
            str(args.count),
            "--seed",
            "42",
        ],
        check=True,
    )
    for path in source.rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.utime(path, (OLD, OLD))
    wh = Warehouse(args.workdir / "warehouse")
    timed("full load", source, wh)
    timed("nothing changed", source, wh)
    counts = edit(source, 0.01)
    print("edits:", ", ".join(f"{n} {k}" for k, n in counts.items()))
    timed("after 1% edits", source, wh)
    timed("nothing changed", source, wh)
    timed("full refresh (baseline)", source, Warehouse(args.workdir / "fresh"), full_refresh=True)


if __name__ == "__main__":
    main()
