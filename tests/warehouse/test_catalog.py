import os
import subprocess
import sys

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.conftest import SEED, build_warehouse
from warehouse import Warehouse, connect
from warehouse.catalog import CATALOG_FILE, VIEWS_ID_FILE, published_snapshot, write_catalog
from warehouse.lock import RunLock
from warehouse.pipeline import run_ingest
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


def published_once(tmp_path) -> tuple:
    """A source of one article, and a warehouse that published it."""
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    source.mkdir()
    (source / "a.md").write_text("---\ntitle: first\nwebUrl: https://e.com/a\n---\n")
    run_ingest(source, wh)
    return source, wh


@pytest.mark.parametrize("same_views", [True, False])
def test_a_catalog_starts_from_the_last_one_when_it_has_the_same_views(tmp_path, same_views):
    source, wh = published_once(tmp_path)
    first = wh.snapshots / published_snapshot(wh)
    # a mark in the first catalog: only a copy of it carries it over
    with duckdb.connect(str(first / CATALOG_FILE)) as con:
        con.execute("CREATE MACRO mark() AS 1")
    if not same_views:  # made by a version whose views differ
        (first / VIEWS_ID_FILE).write_text("other views")
    (source / "b.md").write_text("---\ntitle: second\nwebUrl: https://e.com/b\n---\n")
    run_ingest(source, wh)
    assert published_snapshot(wh) != first.name
    with connect(wh.root) as con:
        # the views read the new snapshot's files either way
        assert sorted(r[0] for r in con.execute("SELECT title FROM articles").fetchall()) == [
            "first",
            "second",
        ]
        marks = con.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'mark'")
        assert marks.fetchall()[0][0] == int(same_views)
        comments = "SELECT count(*) FROM duckdb_columns() WHERE comment IS NOT NULL"
        assert con.execute(comments).fetchall()[0][0] > 50  # every column's, from the first


def test_a_failed_catalog_write_leaves_the_next_one_free(tmp_path, monkeypatch):
    import warehouse.catalog as catalog_module

    _, wh = published_once(tmp_path)
    snapshot = wh.snapshots / published_snapshot(wh)
    monkeypatch.setattr(catalog_module, "view_statements", lambda: ["CREATE VIEW broken AS x"])
    with pytest.raises(duckdb.Error):
        write_catalog(wh, snapshot)
    monkeypatch.undo()
    write_catalog(wh, snapshot)  # not stopped by the failed one's attachment
    with connect(wh.root) as con:
        assert con.execute("SELECT title FROM articles").fetchall() == [("first",)]
