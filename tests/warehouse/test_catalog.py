import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from tests.conftest import SEED, build_warehouse
from warehouse import Warehouse, connect
from warehouse.catalog import published_snapshot, write_catalog
from warehouse.lock import RunLock
from warehouse.runs import RUN_SCHEMA
from warehouse.store import WarehouseError, claim


@pytest.fixture
def published(tmp_path) -> Warehouse:
    doc = (
        b"---\ntitle: T\nwebUrl: https://e.com/a\n"
        b"publishedDateTime: 2021-03-31T23:30:00-02:00\nextra_key: 1\n---\n"
    )
    return Warehouse(build_warehouse(tmp_path, {"a.md": doc}))


def test_catalog_opens_read_only_from_any_directory(published, tmp_path):
    script = (
        "import duckdb; con = duckdb.connect('news.duckdb', read_only=True); "
        "print(con.execute('SELECT count(*) FROM articles, article_topics, related_items, "
        "images, providers, article_sources, rejected_files, field_issues, load_runs')"
        ".fetchone()[0], con.execute('SELECT typeof(extra) FROM articles').fetchone()[0])"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(published.catalog, elsewhere / "news.duckdb")
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=elsewhere, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["0", "JSON"]  # topics etc. are empty: the cross join is 0


def test_connect_gives_every_table_in_utc(published):
    with connect(published.root) as con:
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (1,)
        month = con.execute("SELECT date_trunc('month', published_at)::VARCHAR FROM articles")
        assert month.fetchone()[0].startswith("2021-04-01")  # 01:30 UTC on April 1st
        assert con.execute("SELECT extra->>'extra_key' FROM articles").fetchone() == ("1",)


def test_connect_without_warehouse_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="newsfront run"):
        connect(tmp_path)


def test_warehouse_belongs_to_its_first_source(published, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(WarehouseError, match="--full-refresh"):
        claim(published, other, full_refresh=False)
    claim(published, other, full_refresh=True)  # allowed, and now it belongs to `other`
    claim(published, other, full_refresh=False)


def test_second_lock_holder_is_refused_with_the_holder_named(tmp_path):
    lock = tmp_path / ".lock"
    with RunLock(lock):
        holder = subprocess.run(
            [
                sys.executable,
                "-c",
                "from warehouse.lock import RunLock\nimport sys\n"
                f"try:\n  RunLock({str(lock)!r}, 0.3).__enter__()\nexcept Exception as e:\n"
                "  print(e); sys.exit(3)",
            ],
            capture_output=True,
            text=True,
        )
        assert holder.returncode == 3
        assert f"pid {os.getpid()}" in holder.stdout
    with RunLock(lock):  # released: free again
        pass


def test_load_runs_has_todays_columns_when_only_older_runs_recorded_them(tmp_path):
    # runs recorded by the previous version lack the *_seconds columns: they read as NULL
    root = build_warehouse(tmp_path / "wh", {"a.md": SEED.read_bytes()})
    wh = Warehouse(root)
    for path in wh.runs.glob("*.parquet"):
        table = pq.read_table(path)
        pq.write_table(table.drop_columns([c for c in table.column_names if "seconds" in c]), path)
    write_catalog(wh, wh.snapshots / published_snapshot(wh))
    with connect(root) as con:
        rows = con.execute(
            "SELECT status, listing_seconds, staging_seconds, publishing_seconds FROM load_runs"
        ).fetchall()
        columns = [
            c for (c,) in con.execute("SELECT column_name FROM (DESCRIBE load_runs)").fetchall()
        ]
    assert rows == [("succeeded", None, None, None)]
    assert columns == RUN_SCHEMA.names
