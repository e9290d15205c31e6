"""Crash safety: a run killed with SIGKILL at any point leaves the last published state
intact and queryable, and the next run reaches the correct state without manual cleanup."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import ROOT
from tests.warehouse.fault_runner import POINTS
from tests.warehouse.helpers import OLD, tables, write
from warehouse import Warehouse, connect
from warehouse.pipeline import run_ingest

GENERATOR = ROOT / "examples" / "generate_corpus.py"
BEFORE_PUBLISH = {
    "staging",
    "part_write",
    "compaction",
    "snapshot_written",
    "before_publish",
    "before_rename",
}
AFTER_PUBLISH = {"after_rename", "before_final_record", "cleanup"}


def runner(point: str, source: Path, wh: Warehouse, chunk_size: int = 3, **kw):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.warehouse.fault_runner",
            point,
            str(source),
            str(wh.root),
            str(chunk_size),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def generate(target: Path, count: int, seed: int) -> None:
    subprocess.run(
        [sys.executable, str(GENERATOR), str(target), "--count", str(count), "--seed", str(seed)],
        check=True,
        capture_output=True,
    )
    for path in target.rglob("*"):  # old mtimes: the stat shortcut is used, as in real life
        if path.is_file() and not path.is_symlink():
            os.utime(path, (OLD, OLD))


def edit(source: Path, round_: int) -> None:
    """Modify, delete, add and touch a few files."""
    files = sorted(p for p in source.rglob("*.txt"))
    stamp = OLD + 100 * round_
    for path in files[round_::7][:5]:
        text = path.read_text().replace("heat:", f"heat: {round_}\nold_heat:", 1)
        write(source, str(path.relative_to(source)), text, stamp)
    for path in files[round_ + 3 :: 11][:3]:
        path.unlink()
    for path in files[round_ + 5 :: 13][:3]:
        os.utime(path, (stamp + 1, stamp + 1))
    write(
        source,
        f"added/{round_}.md",
        f"---\ntitle: Added {round_}\nwebUrl: https://added.org/{round_}\n---\n",
        stamp,
    )


def wait_for_lock_holder(wh: Warehouse) -> None:
    """Until a run has taken the lock (it writes its pid into the lock file)."""
    deadline = time.monotonic() + 30
    while not (wh.lock_file.exists() and wh.lock_file.stat().st_size):
        assert time.monotonic() < deadline, "the run never took the lock"
        time.sleep(0.05)


def full_refresh(source: Path, root: Path) -> dict:
    target = Warehouse(root / f"fresh-{time.monotonic_ns()}")
    run_ingest(source, target, full_refresh=True)
    return tables(target)


def assert_clean(wh: Warehouse) -> None:
    """Nothing left behind that the published state does not need."""
    leftovers = [p for p in wh.root.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    assert len(list(wh.snapshots.iterdir())) <= 2


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    source = tmp_path_factory.mktemp("faults") / "corpus"
    generate(source, 60, seed=3)
    return source


@pytest.mark.parametrize("point", sorted(BEFORE_PUBLISH | AFTER_PUBLISH))
def test_kill_at_each_point(point, corpus, tmp_path):
    assert set(POINTS) - {"none", "slow"} == BEFORE_PUBLISH | AFTER_PUBLISH
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    shutil.copytree(corpus, source, symlinks=True)
    run_ingest(source, wh, chunk_size=10, keep_snapshots=2)
    old = tables(wh)
    edit(source, 1)
    new = full_refresh(source, tmp_path)
    assert new != old

    killed = runner(point, source, wh)
    out, err = killed.communicate(timeout=120)
    assert killed.returncode == -9, f"the run was not killed at {point}: {out} {err}"
    assert tables(wh) == (old if point in BEFORE_PUBLISH else new)

    summary = run_ingest(source, wh, chunk_size=10, keep_snapshots=2)
    assert tables(wh) == new
    with connect(wh.root) as con:
        statuses = [s for (s,) in con.execute("SELECT status FROM load_runs").fetchall()]
    # killed during cleanup, the run had already recorded its success
    assert statuses == ["succeeded", "succeeded" if point == "cleanup" else "killed", "succeeded"]
    if point in BEFORE_PUBLISH:
        assert summary["files_parsed"] >= 1
    assert_clean(wh)


def test_kill_at_random_moments(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    generate(source, 1500, seed=11)
    run_ingest(source, wh, chunk_size=100, keep_snapshots=2)
    states = [tables(wh)]
    rng = random.Random(5)
    for round_ in range(1, 4):
        edit(source, round_)
        states.append(full_refresh(source, tmp_path))
        for _ in range(3):
            started = runner("none", source, wh, chunk_size=100)
            time.sleep(rng.uniform(0.2, 2.5))
            started.kill()
            started.communicate(timeout=60)
            assert tables(wh) in (states[-2], states[-1])  # the old state or the new one
        run_ingest(source, wh, chunk_size=100, keep_snapshots=2)
        assert tables(wh) == states[-1]
        assert_clean(wh)


def test_a_reader_keeps_its_view_during_runs(corpus, tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    shutil.copytree(corpus, source, symlinks=True)
    run_ingest(source, wh, chunk_size=10)
    before = tables(wh)["articles"]
    reader = duckdb.connect(str(wh.catalog), read_only=True)
    edit(source, 1)
    run_ingest(source, wh, chunk_size=10)  # succeeds while the reader holds the file open
    edit(source, 2)
    run_ingest(source, wh, chunk_size=10)
    sql = (
        "SELECT a.*, count(t.topic) FROM articles a LEFT JOIN article_topics t "
        "USING (article_id) GROUP BY ALL ORDER BY article_id"
    )
    assert [row[:21] for row in reader.execute(sql).fetchall()] == before
    reader.close()
    assert tables(wh)["articles"] != before


def test_a_reader_process_queries_without_error_during_a_run(corpus, tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    shutil.copytree(corpus, source, symlinks=True)
    run_ingest(source, wh, chunk_size=10)
    script = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(wh.catalog)!r}, read_only=True)\n"
        "n = 0\nend = time.time() + float(sys.argv[1])\n"
        "while time.time() < end:\n"
        "    con.execute('SELECT count(*) FROM articles JOIN images USING (article_id)')"
        ".fetchall()\n"
        "    n += 1\n"
        "print(n)\n"
    )
    reader = subprocess.Popen(
        [sys.executable, "-c", script, "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    edit(source, 1)
    run = runner("slow", source, wh)
    _, run_err = run.communicate(timeout=120)
    out, err = reader.communicate(timeout=60)
    assert run.returncode == 0, run_err
    assert reader.returncode == 0, err
    assert int(out) > 10


def test_two_runs_never_interleave(corpus, tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    shutil.copytree(corpus, source, symlinks=True)
    first = runner("slow", source, wh)
    wait_for_lock_holder(wh)
    second = runner("none", source, wh)
    _, err = second.communicate(timeout=60)
    assert second.returncode != 0
    assert "another run holds the warehouse lock" in err and f"pid {first.pid}" in err
    assert first.communicate(timeout=120) and first.returncode == 0
    assert tables(wh) == full_refresh(source, tmp_path)


def test_a_waiting_run_goes_after_the_first(corpus, tmp_path):
    from warehouse.lock import RunLock

    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    shutil.copytree(corpus, source, symlinks=True)
    first = runner("slow", source, wh)
    wait_for_lock_holder(wh)
    with RunLock(wh.lock_file, wait_seconds=60):  # waits, then holds it
        # the first run had finished its work when it let go
        assert tables(wh) == full_refresh(source, tmp_path)
    first.communicate(timeout=60)
    assert first.returncode == 0
