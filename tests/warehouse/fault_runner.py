"""Run one ingest in this process and SIGKILL it at a named point (for tests/warehouse/test_faults).

    python -m tests.warehouse.fault_runner POINT SOURCE WAREHOUSE [CHUNK_SIZE]

POINT `none` runs to the end; `slow` sleeps in every chunk (for lock and reader tests).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

import warehouse.build as build
import warehouse.catalog as catalog
import warehouse.pipeline as pipeline
import warehouse.store as store
from warehouse import Warehouse


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def kill_around(owner, name: str, nth: int = 1, after: bool = False) -> None:
    """Replace owner.name so that its nth call dies before (or right after) running."""
    original = getattr(owner, name)
    calls = 0

    def wrapper(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == nth and not after:
            die()
        result = original(*args, **kwargs)
        if calls == nth and after:
            die()
        return result

    setattr(owner, name, wrapper)


def die_in_cleanup() -> None:
    """Die at the first removal that the cleanup after publishing makes."""
    original = pipeline.remove_stale

    def wrapper(*args, **kwargs):
        kill_around(shutil, "rmtree")
        return original(*args, **kwargs)

    pipeline.remove_stale = wrapper


def slow_chunks(seconds: float) -> None:
    original = pipeline.stage_chunk

    def wrapper(job):
        time.sleep(seconds)
        return original(job)

    pipeline.stage_chunk = wrapper


POINTS = {
    "none": lambda: None,
    "slow": lambda: slow_chunks(0.15),
    # while parsing: before the second chunk is staged
    "staging": lambda: kill_around(pipeline, "stage_chunk", nth=2),
    # while a part's Parquet files are being written
    "part_write": lambda: kill_around(pq, "write_table", nth=3),
    # while the snapshot is built, after the compacted part is written
    "compaction": lambda: kill_around(build, "_compact", after=True),
    # snapshot tables written, not yet renamed into place
    "snapshot_written": lambda: kill_around(store, "build_snapshot", after=True),
    # just before the publish step
    "before_publish": lambda: kill_around(store, "write_catalog"),
    # new catalog written and synced, not yet renamed over the old one
    "before_rename": lambda: kill_around(catalog, "_fsync", nth=1, after=True),
    # just after the publish step (catalog renamed)
    "after_rename": lambda: kill_around(catalog, "_fsync", nth=2),
    # published, before the run's final load_runs row
    "before_final_record": lambda: kill_around(pipeline, "record_run", nth=2),
    # while old snapshots and parts are being removed
    "cleanup": lambda: die_in_cleanup(),
}


def main() -> None:
    point, source, target = sys.argv[1:4]
    chunk_size = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    if point == "compaction":
        store.MAX_PARTS = 1
    POINTS[point]()
    keep = 1 if point == "cleanup" else 2  # so that there is an old snapshot to remove
    summary = pipeline.run_ingest(
        Path(source), Warehouse(Path(target)), chunk_size=chunk_size, keep_snapshots=keep
    )
    print(summary["run_id"], summary["files_parsed"], flush=True)


if __name__ == "__main__":
    main()
