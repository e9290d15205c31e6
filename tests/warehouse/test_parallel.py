"""The local process stager: chunks staged in worker processes, and everything stopped after."""

from __future__ import annotations

import os
import subprocess
import sys
from multiprocessing import forkserver

import pyarrow.parquet as pq

from tests.conftest import ROOT, SEED
from tests.warehouse.helpers import write
from transforms.version import PARSER_VERSION
from warehouse.parallel import ProcessStager, start_forkserver
from warehouse.source import Listing, path_bytes
from warehouse.staging import ChunkJob
from warehouse.state import empty_state, plan_run


def job(source, part_dir, paths) -> ChunkJob:
    listing = Listing()
    for path in paths:
        listing.add(path_bytes(path), None, None)
    files = plan_run(listing.table(), empty_state(), PARSER_VERSION).to_read
    return ChunkJob(source=str(source), part_dir=str(part_dir), part=part_dir.name, files=files)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_stage_chunks_and_close_stops_the_forkserver(tmp_path):
    source = tmp_path / "src"
    for name in ("a.md", "b.md", "c.md"):
        write(source, name, SEED.read_bytes())
    for round_ in range(2):  # a second stager starts a new forkserver
        stager = ProcessStager(workers=2)
        server = forkserver._forkserver._forkserver_pid
        assert server is not None and alive(server)
        futures = [
            stager.submit(job(source, tmp_path / f"r{round_}-{n}", names))
            for n, names in enumerate([["a.md", "b.md"], ["c.md"]])
        ]
        counts = [future.result() for future in futures]
        stager.close()
        assert [c["parsed"] for c in counts] == [2, 1]
        articles = pq.read_table(tmp_path / f"r{round_}-0" / "articles.parquet")
        assert articles["source_path"].to_pylist() == ["a.md", "b.md"]
        assert not alive(server)  # stopped and reaped
        stager.close()  # closing twice is harmless


def test_an_unused_stager_stops_its_forkserver_too():
    # a small run parses in its own process: the forkserver started for it must not linger
    stager = ProcessStager(workers=2)
    server = forkserver._forkserver._forkserver_pid
    assert server is not None and alive(server)
    stager.close()
    assert not alive(server) and forkserver._forkserver._forkserver_pid is None


def test_a_stager_uses_the_forkserver_started_before_it():
    # `newsfront run` starts it before Prefect, so that its imports overlap Prefect's start-up
    start_forkserver()
    server = forkserver._forkserver._forkserver_pid
    assert server is not None and alive(server)
    stager = ProcessStager(workers=1)
    assert forkserver._forkserver._forkserver_pid == server
    stager.close()
    assert not alive(server)


def test_workers_of_a_program_run_by_module_name_warn_of_nothing(tmp_path):
    """Each worker imports the program's main module again, which its forkserver preloaded:
    runpy's warning about that must not reach the user's terminal."""
    write(tmp_path / "src", "a.md", SEED.read_bytes())
    done = subprocess.run(
        [sys.executable, "-m", "tests.warehouse.worker_main", tmp_path / "src", tmp_path / "p"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
    assert "Warning" not in done.stderr, done.stderr


KILLED_RUN = """
import os, signal, sys
from pathlib import Path
from multiprocessing import forkserver
from tests.warehouse.test_parallel import job
from warehouse.parallel import ProcessStager

if __name__ == "__main__":
    stager = ProcessStager(workers=2)
    folder = Path(sys.argv[1])
    futures = [stager.submit(job(folder, folder / f"part{n}", [])) for n in range(2)]
    [future.result() for future in futures]
    pids = [forkserver._forkserver._forkserver_pid, *stager.pool._processes]
    print(" ".join(map(str, pids)), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
"""


def test_a_run_killed_outright_leaves_no_worker_behind(tmp_path):
    """The forkserver and its workers get SIGTERM when the run dies, even by SIGKILL; they
    would otherwise wait for chunks forever."""
    import time

    script = tmp_path / "killed_run.py"
    script.write_text(KILLED_RUN)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    pids = [int(pid) for pid in done.stdout.split()]
    assert done.returncode == -9 and len(pids) == 3, done.stderr
    deadline = time.monotonic() + 10
    while any(map(alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(alive, pids))


def test_a_worker_whose_forkserver_died_before_it_started_ends_at_once():
    """Its parent is then another process already: the signal would never come."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, time\nfrom warehouse.parallel import die_with_parent\n"
            "die_with_parent(os.getppid() + 1_000_000)\ntime.sleep(60)",
        ],
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == -15  # SIGTERM, at once rather than after the minute


def test_chunks_submitted_ahead_are_staged_in_the_workers_however_few(tmp_path):
    """A run stages fewer than INLINE_FILES files in its own process, but not chunks the
    workers took ahead: they would be written twice, at once."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.md").write_text("---\ntitle: A\nwebUrl: https://x.com/a\n---\n")
    chunk = job(source, tmp_path / "part", ["a.md"])
    with ProcessStager(1) as stager:
        assert stager.runs_here([chunk])
        stager.submit_ahead([chunk])
        assert not stager.runs_here([chunk])
        future = stager.ahead[chunk.part]
        assert stager.submit(chunk) is future and not stager.ahead
        assert future.result()["parsed"] == 1
