"""`load_runs` records (warehouse.runs): a run that died while `running` is marked killed by
the next run, which finds it from each file's footer without reading every file."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse import Warehouse
from warehouse.runs import RUN_SCHEMA, _known_status, mark_killed_runs, record_run


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
