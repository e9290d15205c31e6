"""One run, start to end, independent of how chunks are executed.

`run_ingest` lists the source, plans what to read against the published state (or takes
the plan made ahead of it, see `plan_ahead`), hands the chunk jobs to `stage_chunks`
(serially here, Prefect tasks in flows/, a process pool or a cluster later), then publishes
the new snapshot. Locking and `load_runs` live here too, so
every way of running newsfront keeps the same guarantees.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from transforms.version import PARSER_VERSION
from warehouse.build import DEFAULT_PATCH_LIMIT
from warehouse.catalog import catalog_is_here, published_snapshot
from warehouse.layout import Warehouse
from warehouse.lock import RunLock, looks_held
from warehouse.memory import release_memory
from warehouse.objects import is_url
from warehouse.parallel import ProcessStager
from warehouse.runs import compact_runs, mark_killed_runs, new_run_id, record_run
from warehouse.source import DEFAULT_MAX_BYTES, display_paths, list_candidates
from warehouse.staging import ChunkJob, stage_chunk
from warehouse.state import (
    STATE_SCHEMA,
    Plan,
    empty_state,
    is_same_state,
    moved_files,
    next_state,
    plan_run,
    rows_before,
)
from warehouse.store import (
    DEFAULT_KEEP_SNAPSHOTS,
    WarehouseError,
    check_owner,
    claim,
    has_every_table,
    part_dir,
    part_id,
    publish,
    published_counts,
    read_files,
    remove_stale,
    snapshot_state,
    write_state,
)

StageChunks = Callable[[list[ChunkJob]], list[dict]]
# Files a chunk job reads, unless told (`newsfront run` says: Settings.chunk_size).
DEFAULT_CHUNK_SIZE = 1000


def stage_serially(jobs: list[ChunkJob]) -> list[dict]:
    return [stage_chunk(job) for job in jobs]


def run_ingest(
    source: Path | str,
    warehouse: Warehouse,
    *,
    full_refresh: bool = False,
    keep_snapshots: int = DEFAULT_KEEP_SNAPSHOTS,
    lock_wait_seconds: float = 0.0,
    flow_run_id: str | None = None,
    **options,
) -> dict:
    """Bring `warehouse` up to date with `source` (a folder, or an object-store URL) and
    publish it; return the run's summary. `options` are those of `_run`: how to read the
    source and stage its chunks."""
    source = source if is_url(source) else Path(source)
    ahead = _take_plan_ahead(source, warehouse)  # taken even if the run stops before it
    try:
        with RunLock(warehouse.lock_file, lock_wait_seconds):
            claim(warehouse, source, full_refresh)
            before = published_snapshot(warehouse)
            clock = time.perf_counter()
            # the plan stays in `ahead` for _run to take: no frame here holds it through
            # the build (at 500,000 files, the state itself when it keeps nearly all of it)
            holds = ahead is not None and _plan_holds(ahead, before, full_refresh, options)
            waited = time.perf_counter() - clock
            run = _recorded_run(
                source,
                warehouse,
                full_refresh,
                flow_run_id,
                ahead if holds else None,
                waited,
                options,
            )
            remove_stale(warehouse, keep_snapshots, previous=before)
    finally:
        if ahead:
            _let_go(ahead, warehouse)
    return run


def _recorded_run(
    source: Path | str,
    warehouse: Warehouse,
    full_refresh: bool,
    flow_run_id: str | None,
    ahead: PlanAhead | None,
    waited: float,
    options: dict,
) -> dict:
    """The run, recorded in load_runs as running, then as it ended; `ahead` holds the plan
    made ahead, if the run takes it."""
    started = dt.datetime.now(dt.UTC)
    run_id = new_run_id(started)
    if ahead and ahead.planned.jobs:  # staged ahead: the run began then, under that id
        run_id, started = ahead.run_id, ahead.run_started
    run = {
        "run_id": run_id,
        "started_at": started,
        "source": str(source),
        "full_refresh": full_refresh,
        "flow_run_id": flow_run_id,
    }
    mark_killed_runs(warehouse, run_id)
    record_run(warehouse, {**run, "status": "running"})
    try:
        try:
            compact_runs(warehouse, run_id)
        except (OSError, pa.ArrowException) as exc:  # only a saving: the run goes on
            log = options.get("log") or partial(print, file=sys.stderr)
            log(f"run files not merged into a history: {exc}")
        run.update(_run(source, warehouse, run_id, full_refresh, ahead, waited, **options))
        run["status"] = "succeeded"
    except BaseException as exc:
        run.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        run["finished_at"] = dt.datetime.now(dt.UTC)
        record_run(warehouse, run)
    return run


@dataclass
class PlannedRun:
    """A run's plan (what to read), with what it keeps of the state it was made against."""

    snapshot: str | None  # the published snapshot whose state the plan compares with
    plan: Plan
    before: pa.Table  # the state's rows of the files to read (see warehouse.state)
    files_seen: int
    started: float  # time.monotonic() when planning began
    seconds: float  # how long it took
    # the jobs, writing into warehouse.ahead, once the chunks began staging ahead of the run
    # (see plan_ahead)
    jobs: list[ChunkJob] | None = None


def plan_source(
    source: Path | str,
    warehouse: Warehouse,
    full_refresh: bool,
    storage_options: dict | None = None,
) -> PlannedRun:
    """List the source and plan the run against the published state. It only reads the
    warehouse: done ahead of the run's lock (plan_ahead), it holds as long as the same
    snapshot is published when the run takes the lock."""
    started, clock = time.monotonic(), time.perf_counter()
    snapshot = published_snapshot(warehouse)
    previous = empty_state() if full_refresh else snapshot_state(warehouse, snapshot)
    # reading the state leaves more than the state in Arrow's pool (at 500,000 files, about
    # 180 MB beside a state of 91 MB): given back before the listing adds its own
    release_memory()
    # with no state to compare with, every file is read, and its read gives size and mtime
    listing = list_candidates(source, storage_options, stat=previous.num_rows > 0)
    # what listing freed is given back before planning
    release_memory()
    plan = plan_run(listing, previous, PARSER_VERSION)
    files_seen = listing.num_rows
    # of the previous state, only the rows of the files to read are needed from here on
    # (every file read gets one row in its part's files.parquet), besides the kept rows:
    # not held while they are staged unless the plan keeps nearly all of it (see Plan)
    before = rows_before(previous, display_paths(plan.to_read["path"]))
    del listing, previous
    release_memory()
    seconds = time.perf_counter() - clock
    return PlannedRun(snapshot, plan, before, files_seen, started, seconds)


@dataclass
class PlanAhead:
    """A run's planning, started ahead of it in a thread (see plan_ahead)."""

    full_refresh: bool
    thread: threading.Thread | None = None
    planned: PlannedRun | None = None
    error: Exception | None = None
    # staging ahead: the stager and how the chunks were made; once it wrote, the run id the
    # staged rows name and when staging began (kept here after the run took `planned`, to
    # remove what is left)
    stager: ProcessStager | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    max_bytes: int = DEFAULT_MAX_BYTES
    run_id: str | None = None
    run_started: dt.datetime | None = None


# Plannings started ahead of their run, by source and warehouse folder, until the run takes
# its own (run_ingest, whether it gets to use it or not).
_AHEAD: dict[tuple[str, str], PlanAhead] = {}
# A plan made longer ago than this (say, while the run waited for another's lock) is made
# again, so a run never works from a listing much older than the run.
PLAN_AHEAD_MAX_AGE = 60.0


def plan_ahead(
    source: Path,
    warehouse: Warehouse,
    full_refresh: bool = False,
    stager: ProcessStager | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> PlanAhead:
    """Start planning a run of local folder `source` into local `warehouse` in a thread, for
    the next run of that source into that warehouse in this process to take (`newsfront
    run` does so while Prefect's server starts: listing and planning took 0.45-0.66 s of
    each incremental run at 100,000 files, about 3 s at 500,000). Planning only reads. The
    run takes the plan if it was made for the same kind of run (full refresh or not),
    against the snapshot still published once the run holds the lock, in the last
    PLAN_AHEAD_MAX_AGE seconds; otherwise, or if planning failed, the run plans again
    itself.

    Given a `stager`, the plan's chunks (of `chunk_size` files, read up to `max_bytes`)
    start staging in its workers too (see _stage_ahead): Prefect's start leaves a core
    idle for about 2 s. The run takes them only if it stages with that stager, in the same
    chunks."""
    ahead = PlanAhead(full_refresh, stager=stager, chunk_size=chunk_size, max_bytes=max_bytes)

    def work() -> None:
        try:
            ahead.planned = plan_source(source, warehouse, full_refresh)
        except Exception as exc:  # the run plans again, and says why
            ahead.error = exc.with_traceback(None)  # whose frames would hold the state
            return
        if stager is not None:
            try:
                _stage_ahead(ahead, source, warehouse)
            except Exception:  # the plan stands: the run stages its chunks itself
                stager.discard_ahead()

    # not a daemon: one ended at exit while inside pyarrow could abort the process
    ahead.thread = threading.Thread(target=work, name="newsfront-plan-ahead")
    _AHEAD[_ahead_key(source, warehouse)] = ahead
    ahead.thread.start()
    return ahead


def _stage_ahead(ahead: PlanAhead, source: Path, warehouse: Warehouse) -> None:
    """Submit the plan's chunks to the stager, writing into `warehouse.ahead`, under the
    run id the run then takes; a run that takes the plan moves the parts into place.

    However few the files, they go to the workers (a run of fewer than
    warehouse.parallel.INLINE_FILES stages them in its own process, but here the workers'
    start is hidden in Prefect's too). Nothing is written
    when the warehouse looks locked (the run would wait, or stop, and the workers would take
    the cores of the run that holds it), or when it belongs to another source (the run
    stops)."""
    planned = ahead.planned
    try:
        check_owner(warehouse, source, ahead.full_refresh)
    except (WarehouseError, OSError, ValueError):
        return
    if looks_held(warehouse.lock_file):
        return
    started = dt.datetime.now(dt.UTC)
    run_id = new_run_id(started)
    folder = warehouse.ahead / run_id
    jobs, _ = chunk_jobs(
        planned.plan,
        source,
        warehouse,
        run_id,
        ahead.chunk_size,
        ahead.max_bytes,
        where=lambda part: str(folder / part.name),
    )
    if not jobs:
        return
    try:
        folder.mkdir(parents=True)
    except OSError:
        return  # the run says what is wrong with the warehouse folder
    ahead.run_id, ahead.run_started = run_id, started  # from here, _let_go removes the folder
    ahead.stager.submit_ahead(jobs)
    planned.jobs = jobs
    planned.plan.to_read = planned.plan.to_read.schema.empty_table()  # the jobs hold it


def stager_ahead(source: Path | str, warehouse: Warehouse) -> ProcessStager | None:
    """The stager a plan made ahead for this run submits its chunks to, if any: the run
    must stage with that one to take them."""
    ahead = _AHEAD.get(_ahead_key(source, warehouse))
    return ahead.stager if ahead else None


def drop_plan_ahead(source: Path | str, warehouse: Warehouse) -> None:
    """Let go of a plan made ahead that no run took (the command failed before its run),
    and of its stager's workers."""
    ahead = _take_plan_ahead(source, warehouse)
    if ahead:
        _let_go(ahead, warehouse)
        if ahead.stager is not None:
            ahead.stager.close()


def _take_plan_ahead(source: Path | str, warehouse: Warehouse) -> PlanAhead | None:
    return _AHEAD.pop(_ahead_key(source, warehouse), None)


def _plan_holds(ahead: PlanAhead, snapshot: str | None, full_refresh: bool, options: dict) -> bool:
    """Whether the plan made ahead still holds for a run of `options` with `snapshot`
    published (see plan_ahead); if not, it is dropped, and the run says why."""
    log = options.get("log") or _quiet
    ahead.thread.join()
    planned = ahead.planned
    if planned is None:
        why = f"it failed: {type(ahead.error).__name__}: {ahead.error}"
    elif ahead.full_refresh != full_refresh:
        why = "it was made for a full refresh" if ahead.full_refresh else "this is a full refresh"
    elif time.monotonic() - planned.started > PLAN_AHEAD_MAX_AGE:
        why = f"it is older than {PLAN_AHEAD_MAX_AGE:.0f} s"
    elif planned.snapshot != snapshot:
        why = "another run published since"
    elif planned.jobs and (
        getattr(options.get("stage_chunks"), "stager", None) is not ahead.stager
        or options.get("chunk_size", DEFAULT_CHUNK_SIZE) != ahead.chunk_size
        or options.get("max_bytes", DEFAULT_MAX_BYTES) != ahead.max_bytes
    ):
        why = "its chunks were staged ahead in other workers or chunks than the run's"
    else:
        chunks = len(planned.jobs or ())
        staged = f"; its {chunks} chunk{'s' * (chunks > 1)} began staging then" if chunks else ""
        log(f"listed the source ahead of the run, in {planned.seconds:.2f} s{staged}")
        return True
    ahead.planned = None
    log(f"listing the source again: the plan made ahead of the run does not hold ({why})")
    return False


def _let_go(ahead: PlanAhead, warehouse: Warehouse) -> None:
    """End what a plan made ahead left: chunks submitted ahead that no run took are
    cancelled (or waited for), and their parts removed; those the run took were moved."""
    ahead.thread.join()
    ahead.planned = None
    if ahead.stager is not None:
        ahead.stager.discard_ahead()
    if ahead.run_id is not None:
        shutil.rmtree(warehouse.ahead / ahead.run_id, ignore_errors=True)
        with contextlib.suppress(OSError):
            warehouse.ahead.rmdir()  # when empty


def _quiet(message: str) -> None:
    pass


def _ahead_key(source: Path | str, warehouse: Warehouse) -> tuple[str, str] | None:
    """None for an object-store source or warehouse, never planned ahead (and a `s3://`
    source is not a local path to make absolute)."""
    if is_url(source) or warehouse.url is not None:
        return None
    return os.path.abspath(source), os.path.abspath(warehouse.root)


def chunk_jobs(
    plan: Plan,
    source: Path | str,
    warehouse: Warehouse,
    run_id: str,
    chunk_size: int,
    max_bytes: int,
    where: Callable[[Path], str] = str,
    storage_options: dict | None = None,
) -> tuple[list[ChunkJob], list[Path]]:
    """The plan's files to read, in chunks, and the part folder of each; a chunk writes its
    part `where` its folder says."""
    to_read = plan.to_read.num_rows
    jobs, folders = [], []
    for index, start in enumerate(range(0, to_read, chunk_size)):
        folder = part_dir(warehouse, run_id, index)
        folders.append(folder)
        rows = pa.array(range(start, min(start + chunk_size, to_read)), pa.int64())
        jobs.append(
            ChunkJob(
                source=str(source),
                part_dir=where(folder),
                part=part_id(warehouse, folder),
                # taken, not sliced: a slice would pickle the buffers of every chunk
                files=plan.to_read.take(rows),
                max_bytes=max_bytes,
                storage_options=storage_options,
            )
        )
    return jobs, folders


def _run(
    source: Path | str,
    warehouse: Warehouse,
    run_id: str,
    full_refresh: bool,
    ahead: PlanAhead | None,
    waited: float,
    *,
    storage_options: dict | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_bytes: int = DEFAULT_MAX_BYTES,
    stage_chunks: StageChunks = stage_serially,
    patch_limit: float = DEFAULT_PATCH_LIMIT,
    log: Callable[[str], None] = _quiet,
    part_location: Callable[[Path], str] = str,
    fetch_parts: Callable[[list[Path]], None] = lambda folders: None,
) -> dict:
    """List (unless planned `ahead`), plan, stage and publish: the run itself, inside
    run_ingest's lock and record, after it `waited` that long for the plan made ahead.

    The source is read with `storage_options` when it is a URL. Chunks write their parts
    where `part_location(folder)` says (the folder itself, or a URL for workers that cannot
    see it); `fetch_parts` then brings them into the folders."""
    clock = time.perf_counter() - waited
    planned = None
    if ahead is not None:  # taken: the run lets go of each part of it when done with it
        planned, ahead.planned = ahead.planned, None
    if planned is None:
        planned = plan_source(source, warehouse, full_refresh, storage_options)
    plan, before, files_seen = planned.plan, planned.before, planned.files_seen
    jobs = planned.jobs
    staged_ahead = jobs is not None
    del planned
    listed = time.perf_counter()
    if not staged_ahead:
        jobs, folders = chunk_jobs(
            plan,
            source,
            warehouse,
            run_id,
            chunk_size,
            max_bytes,
            part_location,
            storage_options,
        )
        plan.to_read = plan.to_read.schema.empty_table()  # the jobs hold what chunks need
    else:  # staged ahead: each part moves into its folder once written
        folders = [part_dir(warehouse, run_id, index) for index in range(len(jobs))]
    log(
        f"{files_seen} candidate files: {plan.unchanged} unchanged, "
        f"{sum(job.file_count for job in jobs)} to read, {plan.deleted} deleted"
    )
    summaries = stage_chunks(jobs)
    if staged_ahead:
        folders[0].parent.mkdir(parents=True, exist_ok=True)
        for job, folder in zip(jobs, folders, strict=True):
            os.replace(job.part_dir, folder)
    staged = time.perf_counter()

    del jobs  # every path of the run: not needed by the build
    fetch_parts(folders)
    read = read_files(warehouse, folders)
    files = (
        pa.concat_tables(read)
        if read
        else STATE_SCHEMA.empty_table().select(STATE_SCHEMA.names[:-1])
    )
    staged_files = pc.sum(pc.not_equal(files["outcome"], "unchanged")).as_py() or 0
    tables_changed = plan.deleted > 0 or staged_files > 0
    # the files a patch rewrites, unless too many to patch (at 500,000 files, a full load's
    # would hold every path through the build)
    moved = None
    if patch_limit > 0 and plan.deleted + staged_files <= patch_limit * (
        plan.unchanged + files.num_rows
    ):
        moved = moved_files(plan, before, files)
    state = next_state(plan, before, files, PARSER_VERSION)
    same_state = is_same_state(plan, state, before)
    deleted, unchanged = plan.deleted, plan.unchanged
    del read, files, before, plan
    release_memory()  # before DuckDB takes its share
    current = None if full_refresh else published_snapshot(warehouse)
    if current and not has_every_table(warehouse, current):
        tables_changed = True  # written by an older version: build every table
    if current and not tables_changed and same_state and catalog_is_here(warehouse):
        counts = published_counts(warehouse)  # nothing to publish: all is as published
    else:
        # tables unchanged (files touched, or the warehouse folder moved): link, not build
        same = current if current and not tables_changed else None
        write_state(warehouse, run_id, state)
        del state  # on disk now: the build reads it from there
        release_memory()
        counts = publish(
            warehouse,
            run_id,
            same_tables_as=same,
            patch_from=current,
            moved=moved,
            patch_limit=patch_limit,
        )
    rejected: Counter[str] = Counter()
    for summary in summaries:
        rejected.update(summary["rejected"])
    return {
        "files_seen": files_seen,
        "files_parsed": sum(s["parsed"] for s in summaries),
        "files_unchanged": unchanged + sum(s["unchanged"] for s in summaries),
        "files_deleted": deleted,
        "files_rejected": rejected.total(),
        "articles": counts["articles"],
        "rejected_by_reason": dict(sorted(rejected.items())),
        "tables": counts,
        "seconds": {
            "listing": round(listed - clock, 3),
            "staging": round(staged - listed, 3),
            "publishing": round(time.perf_counter() - staged, 3),
        },
    }
