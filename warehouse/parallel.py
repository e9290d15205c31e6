"""Staging chunks in worker processes: on this machine, or on a Dask cluster.

Parsing is CPU-bound Python, so threads do not help; processes do. Local workers are forked
from a forkserver that has already imported the parsing code, so a worker starts in
milliseconds and not the seconds a fresh interpreter takes. Either way only a ChunkJob
(paths) goes to a worker and only counts come back; rows go from the worker straight to its
Parquet part in the warehouse.

A stager has `workers`, `submit(job)` (a future with `.result()`), `runs_here(jobs)` (whether
the caller should stage these jobs itself rather than submit them) and `close()`. The local
one also takes a run's chunks before the run asks (`submit_ahead`, `discard_ahead`; see
warehouse.pipeline.plan_ahead).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import warnings
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import forkserver

from warehouse.staging import ChunkJob, stage_chunk

# A worker runs the program's main module again by name as it starts, which finds it
# preloaded (see start_forkserver), as intended; runpy would warn about it on stderr.
warnings.filterwarnings(
    "ignore", r"'[\w.]+' found in sys.modules after import of package", RuntimeWarning, "runpy"
)

# Below this many files a run parses them in its own process: starting the workers costs
# about 1 s (the forkserver is a fresh interpreter importing pyarrow), more than parsing
# 5,000 files takes here (measured: a 1% change of 100,000 files went from 1.4 s to 0.2 s).
# Even with the forkserver started early, as `newsfront run` does, 1,000 files took 0.34 s
# to stage in a worker against 0.22 s here.
INLINE_FILES = 5_000


def _files(jobs: list[ChunkJob]) -> int:
    return sum(job.file_count for job in jobs)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def start_forkserver(preload: tuple[str, ...] = ()) -> None:
    """Start the forkserver the local workers fork from, unless it runs already. It imports
    the parsing code (about 1 s, pandas included where it is installed: pyarrow imports it
    on its first conversion), and the `preload` modules, on another core while this process
    goes on, so that the workers fork from it in milliseconds when chunks come.

    `newsfront run` starts it before Prefect starts, whose start-up then hides it, and
    preloads its own module: each worker imports the program's main module as it starts
    (0.36 s each for `newsfront run`, 0.02 s once the forkserver holds it)."""
    main = getattr(sys.modules.get("__main__"), "__spec__", None)  # run as `python -m`
    # not a package's __main__, which runs its program when imported (multiprocessing itself
    # never imports one again in a worker)
    by_name = [main.name] if main and not main.name.endswith("__main__") else []
    # this module too: its warnings filter then holds in the workers; and the guard, which
    # ends the forkserver with the run
    modules = list(dict.fromkeys([__name__, "warehouse.forkserver_guard", *preload, *by_name]))
    multiprocessing.get_context("forkserver").set_forkserver_preload(modules)
    forkserver.ensure_running()


PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None = None) -> None:
    """Get SIGTERM when this process's parent dies (Linux's parent-death signal; elsewhere
    nothing is set): for the forkserver (warehouse.forkserver_guard) and each worker.
    `parent` is the pid it must have (by default, the one it has now): a worker that starts
    after its forkserver died has another one already, and ends at once."""
    parent = os.getppid() if parent is None else parent
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the signal was asked for
        os.kill(os.getpid(), signal.SIGTERM)


class ProcessStager:
    """A pool of worker processes for one run: `submit(job)` stages a chunk in a worker."""

    def __init__(self, workers: int | None = None):
        start_forkserver()
        self.workers = workers or default_workers()
        self.pool = self._new_pool()
        self.ahead: dict[str, Future] = {}  # by part id: chunks submitted ahead of their run

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=die_with_parent,  # with the forkserver, which dies with the run
            initargs=(forkserver._forkserver._forkserver_pid,),
        )

    def submit(self, job: ChunkJob) -> Future:
        """A future of the chunk's counts; a chunk submitted ahead is not staged again."""
        ahead = self.ahead.pop(job.part, None)
        return ahead if ahead is not None else self.pool.submit(stage_chunk, job)

    def submit_ahead(self, jobs: list[ChunkJob]) -> None:
        """Start staging a run's chunks before the run asks for them (see
        warehouse.pipeline.plan_ahead); `submit` then gives each one's future."""
        for job in jobs:
            self.ahead[job.part] = self.pool.submit(stage_chunk, job)

    def discard_ahead(self) -> None:
        """Cancel the chunks submitted ahead that no run took, and wait for those already
        running, whose parts are then complete and no longer written."""
        futures = list(self.ahead.values())
        self.ahead.clear()
        for future in futures:
            future.cancel()
        wait(futures)
        if any(
            isinstance(future.exception(), BrokenProcessPool)
            for future in futures
            if not future.cancelled()
        ):  # a worker died (killed, out of memory): the run's own chunks get a new pool
            self.pool.shutdown(wait=False)
            self.pool = self._new_pool()

    def runs_here(self, jobs: list[ChunkJob]) -> bool:
        # chunks submitted ahead are the workers' already, however few
        return _files(jobs) < INLINE_FILES and not any(job.part in self.ahead for job in jobs)

    def close(self) -> None:
        """Let the workers and the forkserver exit (idempotent): their memory (about 100 MB
        each) is then free for the build. A later stager starts a new forkserver."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        server = forkserver._forkserver  # private, but there since 3.8 (its tests use it);
        # tests/warehouse/test_parallel.py checks these two names
        if server._forkserver_pid is not None:
            # ended at once, with its workers gone: neither waited for its imports (never
            # used, a small run parsed in-process) nor for its interpreter's exit (0.1 s)
            with contextlib.suppress(ProcessLookupError):
                os.kill(server._forkserver_pid, signal.SIGTERM)
        server._stop()

    def __enter__(self) -> ProcessStager:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class DaskStager:
    """Chunks staged on a Dask cluster: `address` of its scheduler, or "local" for a
    `distributed.LocalCluster` of `workers` processes here. Every worker must see the source
    and the warehouse at the same paths (a shared file system, or object storage)."""

    def __init__(self, address: str, workers: int | None = None):
        from distributed import Client, LocalCluster

        self.cluster = None
        if address == "local":
            # the cluster's own start and stop would fill the run's log at INFO
            logging.getLogger("distributed").setLevel(logging.WARNING)
            self.cluster = LocalCluster(
                n_workers=workers or default_workers(),
                threads_per_worker=1,  # parsing holds the GIL: one chunk per process
                processes=True,
                dashboard_address=":0",  # any free port, never a clash with a running one
            )
            self.client = Client(self.cluster)
        else:
            self.client = Client(address)
        self.workers = max(1, len(self.client.scheduler_info()["workers"]))

    def submit(self, job: ChunkJob):
        return self.client.submit(stage_chunk, job, pure=False)

    def runs_here(self, jobs: list[ChunkJob]) -> bool:
        return False  # a cluster was asked for: every chunk goes to it

    def close(self) -> None:
        """Disconnect, and stop the cluster if this stager started it (idempotent)."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def __enter__(self) -> DaskStager:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
