"""The `ingest` flow: Prefect tasks, each for a few chunks of files, around
`warehouse.pipeline`.

Each task hands its chunks to worker processes and waits for their counts, so the Prefect
UI shows a task run per 10,000 files (by default) while the parsing runs on every core.
"""

from __future__ import annotations

from collections import deque
from functools import partial
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture
from prefect.utilities.annotations import quote

from flows.report import (
    EXAMPLES_PER_REASON,
    MAX_REJECTED_ROWS,
    REJECTED_KEY,
    SUMMARY_KEY,
    StagingProgress,
    rejected_table,
    summary_markdown,
)
from flows.settings import Settings
from warehouse import Warehouse
from warehouse.catalog import rejected_overview
from warehouse.objects import is_url
from warehouse.parallel import DaskStager, ProcessStager
from warehouse.pipeline import run_ingest, stager_ahead
from warehouse.remote import RemoteWarehouse
from warehouse.staging import ChunkJob, stage_chunk

# Chunks per Prefect task. A task run costs Prefect about 25 ms of CPU (20 ms of it in its
# server's recording of the run's states), taken from the workers on a busy machine: about
# a tenth of what a worker spends on a chunk of 2,500 files. With four chunks a task,
# 100,000 files make 10 task runs, not 40 (measured: 40 trivial task runs took 1.0 s of the
# server's CPU, 10 took 0.38 s), while the workers still take the chunks one by one.
CHUNKS_PER_TASK = 4


@task(cache_policy=NO_CACHE)
def stage(jobs: list[ChunkJob], stager: ProcessStager | DaskStager | None) -> list[dict]:
    """Read, parse and stage a few chunks of files, each in a worker process (or here,
    without a stager); returns each chunk's counts."""
    if stager is None:
        return [stage_chunk(job) for job in jobs]
    futures = [stager.submit(job) for job in jobs]
    return [future.result() for future in futures]


def stage_as_tasks(stager: ProcessStager | DaskStager, log):
    """A `stage_chunks` that keeps every worker busy: a task stages CHUNKS_PER_TASK chunks,
    and two tasks per worker are in flight, so that Prefect's own calls for one task overlap
    the parsing of others."""

    def stage_chunks(jobs: list[ChunkJob]) -> list[dict]:
        runner = None if stager.runs_here(jobs) else stager
        window: deque[tuple[list[ChunkJob], PrefectFuture]] = deque()
        results: list[dict] = []
        try:
            with StagingProgress(sum(job.file_count for job in jobs), log) as progress:

                def collect() -> None:
                    batch, future = window.popleft()
                    results.extend(future.result())
                    progress.advance(sum(job.file_count for job in batch))

                for start in range(0, len(jobs), CHUNKS_PER_TASK):
                    if len(window) >= 2 * stager.workers:
                        collect()
                    batch = jobs[start : start + CHUNKS_PER_TASK]
                    # quoted: Prefect would otherwise visit every path of the jobs looking
                    # for futures (measured: staging 100,000 files took 18.7 s, not 11.7 s)
                    window.append((batch, stage.submit(quote(batch), runner)))
                while window:
                    collect()
        finally:
            # The workers' memory goes back before DuckDB builds the tables; and if a chunk
            # failed, no chunk is still being written once the run lets go of its lock.
            stager.close()
            for _, future in window:
                future.wait()
        return results

    stage_chunks.stager = stager  # chunks staged ahead in it are the run's to take
    return stage_chunks


@flow(name="ingest")
def ingest(
    source: str | None = None,
    warehouse: str | None = None,
    full_refresh: bool = False,
    lock_wait_seconds: float | None = None,
    dask_address: str | None = None,
) -> dict:
    """Bring the warehouse up to date with the source and publish it; return the run summary.

    With `dask_address` (a scheduler's address, or "local" for a cluster started here) the
    chunks are staged on that Dask cluster instead of this machine's worker processes."""
    settings = Settings()
    logger = get_run_logger()
    context = FlowRunContext.get()
    source = source or settings.source
    warehouse = warehouse or settings.warehouse
    dask_address = dask_address or settings.dask_address
    options = dict(
        storage_options=settings.storage_options,
        full_refresh=full_refresh,
        chunk_size=settings.chunk_size,
        max_bytes=settings.max_file_bytes,
        keep_snapshots=settings.keep_snapshots,
        patch_limit=settings.patch_limit,
        lock_wait_seconds=(
            settings.lock_wait_seconds if lock_wait_seconds is None else lock_wait_seconds
        ),
        flow_run_id=str(context.flow_run.id) if context and context.flow_run else None,
        log=logger.info,
    )
    source = source if is_url(source) else Path(source)
    if is_url(warehouse):
        remote = RemoteWarehouse(warehouse, settings.storage_options, settings.cache_dir)
        # Dask workers may be on other machines: they write parts into the store itself
        store = remote.mirror
        ingest_into = partial(remote.run, parts_in_store=bool(dask_address))
    else:
        store = Warehouse(Path(warehouse))
        ingest_into = partial(run_ingest, warehouse=store)
    with (
        DaskStager(dask_address, settings.workers)
        if dask_address
        else stager_ahead(source, store) or ProcessStager(settings.workers)
    ) as stager:
        summary = ingest_into(source, stage_chunks=stage_as_tasks(stager, logger.info), **options)
    seconds = summary["seconds"]
    logger.info(
        "published run %s: %s files seen, %s parsed, %s unchanged, %s deleted, %s rejected, "
        "%s articles; listing %.2f s, staging %.2f s, publishing %.2f s",
        summary["run_id"],
        summary["files_seen"],
        summary["files_parsed"],
        summary["files_unchanged"],
        summary["files_deleted"],
        summary["files_rejected"],
        summary["articles"],
        seconds["listing"],
        seconds["staging"],
        seconds["publishing"],
    )
    publish_artifacts(summary, store)
    return summary


def publish_artifacts(summary: dict, store: Warehouse) -> None:
    """The run summary (Markdown) and the warehouse's rejected files (a table), attached to
    this flow run; keyed, so the UI's Artifacts page shows each one's history across runs."""
    counts, examples, first = rejected_overview(
        store.root, per_reason=EXAMPLES_PER_REASON, limit=MAX_REJECTED_ROWS
    )
    create_markdown_artifact(
        summary_markdown(summary, counts, examples),
        key=SUMMARY_KEY,
        description=f"newsfront run {summary['run_id']}",
    )
    create_table_artifact(
        rejected_table(first, sum(counts.values())),
        key=REJECTED_KEY,
        description="Files the warehouse holds as rejected, with the reason and detail",
    )


def serve_ingest(
    *, source: str, warehouse: str, cron: str | None, interval: float | None, name: str
) -> None:
    """Serve the ingest flow as deployment `ingest/<name>` on the Prefect server in
    PREFECT_API_URL, until Ctrl-C or SIGTERM. One run at a time: a run that comes due while
    another is going waits for it, rather than failing on the warehouse lock."""
    from prefect.types.entrypoint import EntrypointType

    ingest.serve(
        name=name,
        parameters={"source": source, "warehouse": warehouse},
        cron=cron,
        interval=interval,
        limit=1,
        # Stopping pauses the schedule (no runs pile up while nothing serves them), and
        # starting again resumes it.
        paused=False,
        # imported by module name in each run's process, whatever its working directory
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
