"""The `ingest` flow: a Prefect task per chunk of files around `warehouse.pipeline`."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from flows.settings import Settings
from warehouse import Warehouse
from warehouse.pipeline import run_ingest
from warehouse.staging import ChunkJob, stage_chunk


@task(cache_policy=NO_CACHE)
def stage(job: ChunkJob) -> dict:
    """Read, parse and stage one chunk of files; returns counts only."""
    return stage_chunk(job)


def stage_as_tasks(jobs: list[ChunkJob]) -> list[dict]:
    return [stage(job) for job in jobs]


@flow(name="ingest")
def ingest(
    source: str | None = None,
    warehouse: str | None = None,
    full_refresh: bool = False,
    lock_wait_seconds: float | None = None,
) -> dict:
    """Bring the warehouse up to date with the source and publish it; return the run summary."""
    settings = Settings()
    logger = get_run_logger()
    context = FlowRunContext.get()
    summary = run_ingest(
        Path(source) if source else settings.source,
        Warehouse(Path(warehouse) if warehouse else settings.warehouse),
        full_refresh=full_refresh,
        chunk_size=settings.chunk_size,
        max_bytes=settings.max_file_bytes,
        keep_snapshots=settings.keep_snapshots,
        lock_wait_seconds=(
            settings.lock_wait_seconds if lock_wait_seconds is None else lock_wait_seconds
        ),
        stage_chunks=stage_as_tasks,
        flow_run_id=str(context.flow_run.id) if context and context.flow_run else None,
        log=logger.info,
    )
    logger.info(
        "published run %s: %s files seen, %s parsed, %s unchanged, %s articles",
        summary["run_id"],
        summary["files_seen"],
        summary["files_parsed"],
        summary["files_unchanged"],
        summary["articles"],
    )
    return summary
