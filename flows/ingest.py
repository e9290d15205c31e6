"""The `ingest` flow: a Prefect task per chunk of files around `warehouse.pipeline`.

Each task hands its chunk to a worker process and waits for its counts, so the Prefect UI
shows one task run per chunk while the parsing runs on every core.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture

from flows.settings import Settings
from warehouse import Warehouse
from warehouse.parallel import ProcessStager, worth_workers
from warehouse.pipeline import run_ingest
from warehouse.staging import ChunkJob, stage_chunk


@task(cache_policy=NO_CACHE)
def stage(job: ChunkJob, stager: ProcessStager | None) -> dict:
    """Read, parse and stage one chunk of files in a worker process (or here, without a
    stager); returns counts only."""
    return stage_chunk(job) if stager is None else stager.submit(job).result()


def stage_as_tasks(stager: ProcessStager):
    """A `stage_chunks` that keeps every worker busy: up to four chunks in flight per worker,
    so that Prefect's own calls for one task overlap the parsing of others."""

    def stage_chunks(jobs: list[ChunkJob]) -> list[dict]:
        runner = stager if worth_workers(jobs) else None
        window: deque[PrefectFuture] = deque()
        results: list[dict] = []
        for job in jobs:
            if len(window) >= 4 * stager.workers:
                results.append(window.popleft().result())
            window.append(stage.submit(job, runner))
        results.extend(future.result() for future in window)
        stager.close()  # the workers' memory goes back before DuckDB builds the tables
        return results

    return stage_chunks


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
    with ProcessStager(settings.workers) as stager:
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
            stage_chunks=stage_as_tasks(stager),
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
