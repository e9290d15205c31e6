"""The `ingest` flow: list the source, stage it chunk by chunk, publish one snapshot."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from flows.settings import Settings
from warehouse import Warehouse
from warehouse.lock import RunLock
from warehouse.runs import mark_killed_runs, new_run_id, record_run
from warehouse.source import list_candidates
from warehouse.staging import stage_chunk
from warehouse.store import claim, part_dir, publish, remove_stale


@task(cache_policy=NO_CACHE)
def list_source(source: Path) -> list[str]:
    return list_candidates(source)


@task(cache_policy=NO_CACHE)
def stage(source: Path, paths: list[str], target: Path, max_file_bytes: int) -> dict:
    return stage_chunk(source, paths, target, max_file_bytes)


@task(cache_policy=NO_CACHE)
def publish_snapshot(warehouse: Warehouse, run_id: str, parts: list[Path]) -> dict[str, int]:
    return publish(warehouse, run_id, parts)


@flow(name="ingest")
def ingest(
    source: str | None = None,
    warehouse: str | None = None,
    full_refresh: bool = False,
    lock_wait_seconds: float | None = None,
) -> dict:
    """Bring the warehouse up to date with the source and publish it; return the run summary."""
    settings = Settings()
    source_path = Path(source) if source else settings.source
    store = Warehouse(Path(warehouse) if warehouse else settings.warehouse)
    wait = settings.lock_wait_seconds if lock_wait_seconds is None else lock_wait_seconds
    logger = get_run_logger()
    started = dt.datetime.now(dt.UTC)
    run = {
        "run_id": new_run_id(started),
        "started_at": started,
        "source": str(source_path),
        "full_refresh": full_refresh,
        "flow_run_id": _flow_run_id(),
    }
    with RunLock(store.lock_file, wait):
        claim(store, source_path, full_refresh)
        mark_killed_runs(store, run["run_id"])
        record_run(store, {**run, "status": "running"})
        try:
            run.update(_ingest(source_path, store, run["run_id"], settings, logger))
            run["status"] = "succeeded"
        except BaseException as exc:
            run.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            run["finished_at"] = dt.datetime.now(dt.UTC)
            record_run(store, run)
        remove_stale(store, run["run_id"], settings.keep_snapshots)
    logger.info(
        "published run %s: %s files, %s articles", run["run_id"], run["files_seen"], run["articles"]
    )
    return run


def _ingest(source: Path, store: Warehouse, run_id: str, settings: Settings, logger) -> dict:
    clock = time.perf_counter()
    paths = list_source(source)
    logger.info("%d candidate files in %s", len(paths), source)
    chunks = [paths[i : i + settings.chunk_size] for i in range(0, len(paths), settings.chunk_size)]
    parts: list[Path] = []
    rejected: Counter[str] = Counter()
    parsed = 0
    for index, chunk in enumerate(chunks or [[]]):  # an empty source still gets empty tables
        target = part_dir(store, run_id, index)
        summary = stage(source, chunk, target, settings.max_file_bytes)
        parts.append(target)
        parsed += summary["parsed"]
        rejected.update(summary["rejected"])
    staged = time.perf_counter()
    counts = publish_snapshot(store, run_id, parts)
    return {
        "files_seen": len(paths),
        "files_parsed": parsed,
        "files_unchanged": 0,
        "files_deleted": 0,
        "files_rejected": rejected.total(),
        "articles": counts["articles"],
        "rejected_by_reason": dict(sorted(rejected.items())),
        "tables": counts,
        "seconds_staging": round(staged - clock, 3),
        "seconds_publishing": round(time.perf_counter() - staged, 3),
    }


def _flow_run_id() -> str | None:
    context = FlowRunContext.get()
    return str(context.flow_run.id) if context and context.flow_run else None
