"""`load_runs` records (warehouse.runs): a run that died while `running` is marked killed by
the next run, which finds it from each file's footer without reading every file; run files
are merged into one history file once enough gather."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse import Warehouse, runs
from warehouse.runs import RUN_SCHEMA, _known_status, compact_runs, mark_killed_runs, record_run


def run_row(run_id: str, status: str) -> dict:
    return {
        "run_id": run_id,
        "source": "src",
        "started_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "status": status,
    }


def statuses(wh: Warehouse) -> dict[str, str]:
    table = pq.read_table(wh.runs, columns=["run_id", "status"])
    return dict(zip(table["run_id"].to_pylist(), table["status"].to_pylist(), strict=True))


def test_the_runs_left_running_are_marked_killed_but_not_the_current_one(tmp_path):
    wh = Warehouse(tmp_path / "wh")
    for run_id, status in [("a", "succeeded"), ("b", "running"), ("c", "failed")]:
        record_run(wh, run_row(run_id, status))
    record_run(wh, run_row("d", "running"))  # the run in progress
    mark_killed_runs(wh, "d")
    assert statuses(wh) == {"a": "succeeded", "b": "killed", "c": "failed", "d": "running"}
    assert pq.read_table(wh.runs / "b.parquet")["error"][0].as_py().startswith("the run ended")


def test_a_status_comes_from_the_footer_and_a_file_without_statistics_is_read(tmp_path):
    wh = Warehouse(tmp_path / "wh")
    record_run(wh, run_row("a", "succeeded"))
    assert _known_status(wh.runs / "a.parquet") == "succeeded"
    # written elsewhere without statistics: the footer cannot tell, so the file is read
    bare = pa.Table.from_pylist([run_row("b", "running")], schema=RUN_SCHEMA)
    pq.write_table(bare, wh.runs / "b.parquet", write_statistics=False)
    assert _known_status(wh.runs / "b.parquet") is None
    mark_killed_runs(wh, "c")
    assert statuses(wh) == {"a": "succeeded", "b": "killed"}


def test_run_files_are_merged_into_one_history_file_once_enough_gather(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "COMPACT_AT", 3)
    wh = Warehouse(tmp_path / "wh")
    record_run(wh, run_row("a", "succeeded"))
    record_run(wh, run_row("b", "failed"))
    compact_runs(wh, "z")  # two files: fewer than COMPACT_AT
    assert sorted(p.name for p in wh.runs.iterdir()) == ["a.parquet", "b.parquet"]
    # a file of an older version, without the *_seconds columns, and one of a newer version
    old = pa.Table.from_pylist([run_row("c", "killed")], schema=RUN_SCHEMA)
    pq.write_table(old.drop_columns(["listing_seconds"]), wh.runs / "c.parquet")
    newer = pa.Table.from_pylist([run_row("c2", "succeeded")], schema=RUN_SCHEMA)
    pq.write_table(newer.append_column("later", pa.array([7])), wh.runs / "c2.parquet")
    (wh.runs / "history-x.tmp").write_bytes(b"a merge that died")
    compact_runs(wh, "d")
    assert [p.name for p in wh.runs.iterdir()] == ["history-d.parquet"]
    assert statuses(wh) == {"a": "succeeded", "b": "failed", "c": "killed", "c2": "succeeded"}
    history = pq.read_table(wh.runs / "history-d.parquet")
    assert history.schema.names == [*RUN_SCHEMA.names, "later"]
    assert history.select(RUN_SCHEMA.names).schema == RUN_SCHEMA
    assert history["later"].to_pylist() == [None, None, None, 7]
    # the next merge takes the history and the runs since
    for run_id in ("d", "e", "f"):
        record_run(wh, run_row(run_id, "succeeded"))
    compact_runs(wh, "g")
    assert [p.name for p in wh.runs.iterdir()] == ["history-g.parquet"]
    assert sorted(statuses(wh)) == ["a", "b", "c", "c2", "d", "e", "f"]
    assert pq.read_table(wh.runs)["run_id"].to_pylist() == ["a", "b", "c", "c2", "d", "e", "f"]


def test_a_run_in_both_a_history_and_its_own_file_is_merged_once_from_its_own(
    tmp_path, monkeypatch
):
    """An object-store mirror may keep a run's file that another machine merged."""
    monkeypatch.setattr(runs, "COMPACT_AT", 2)
    wh = Warehouse(tmp_path / "wh")
    for run_id in ("a", "b"):
        record_run(wh, run_row(run_id, "running"))
    compact_runs(wh, "c")  # running rows: never merged, nothing removed
    assert len(list(wh.runs.iterdir())) == 2
    mark_killed_runs(wh, "c")
    compact_runs(wh, "c")
    record_run(wh, {**run_row("a", "killed"), "error": "told apart"})
    record_run(wh, run_row("d", "succeeded"))
    compact_runs(wh, "e")
    table = pq.read_table(wh.runs / "history-e.parquet")
    assert table["run_id"].to_pylist() == ["a", "b", "d"]
    assert table["error"][0].as_py() == "told apart"


def test_load_runs_keeps_one_row_per_run_and_runs_stay_few(tmp_path, monkeypatch):
    from tests.conftest import SAMPLE_CORPUS
    from warehouse import connect
    from warehouse.pipeline import run_ingest

    monkeypatch.setattr(runs, "COMPACT_AT", 2)
    wh = Warehouse(tmp_path / "wh")
    run_ids = [run_ingest(SAMPLE_CORPUS, wh)["run_id"] for _ in range(5)]
    names = sorted(p.name for p in wh.runs.iterdir())
    assert len(names) <= 3 and any(name.startswith("history-") for name in names)
    # the moment between writing a history and removing what it replaces: a run in two files
    history = next(p for p in wh.runs.iterdir() if p.name.startswith("history-"))
    (wh.runs / f"copy-{history.name}").write_bytes(history.read_bytes())
    with connect(wh.root) as con:
        rows = con.execute("SELECT run_id, status FROM load_runs").fetchall()
    assert rows == [(run_id, "succeeded") for run_id in run_ids]
