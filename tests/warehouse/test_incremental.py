"""Incremental runs give exactly the tables of a full refresh, and read only what changed."""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import time
import weakref
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import warehouse.pipeline as pipeline
import warehouse.store as store_module
from tests.warehouse.helpers import OLD, tables, write
from warehouse import Warehouse, connect
from warehouse.build import current_parts
from warehouse.catalog import published_snapshot
from warehouse.lock import RunLock, WarehouseLocked
from warehouse.parallel import ProcessStager
from warehouse.pipeline import run_ingest
from warehouse.source import Listing, display_path, path_bytes, path_text
from warehouse.state import (
    MOVED_SCHEMA,
    STATE_SCHEMA,
    is_same_state,
    moved_files,
    next_state,
    plan_run,
    rows_before,
)


def doc(url: str, date: str | None = None, title: str = "T", extra: str = "") -> str:
    stamp = f"publishedDateTime: {date}\n" if date else ""
    return f"---\ntitle: {title}\nwebUrl: {url}\n{stamp}{extra}---\n"


def full_refresh_of(source: Path, tmp: Path) -> dict:
    fresh = Warehouse(tmp / f"fresh-{len(list(tmp.iterdir()))}")
    run_ingest(source, fresh, full_refresh=True)
    return tables(fresh)


def state_of(paths: list[str]) -> pa.Table:
    """A state of these source paths, in this order: 10 bytes each, mtime 5, parser 1."""
    return pa.Table.from_pylist(
        [
            {
                "source_path": path,
                "size_bytes": 10,
                "mtime_ns": 5,
                "sha256": f"sha-{path}",
                "outcome": "article",
                "part": "r/0",
                "parser_version": 1,
            }
            for path in paths
        ],
        schema=STATE_SCHEMA,
    )


def test_plan_keeps_unchanged_files_and_reads_the_rest():
    previous = state_of(["same.md", "touched.md", "grown.md", "gone.md", "old-parser.md"])
    at = STATE_SCHEMA.get_field_index("parser_version")
    previous = previous.set_column(at, "parser_version", [[1, 1, 1, 1, 0]])
    listing = Listing()
    for path, size, mtime in [
        ("touched.md", 10, 6),
        ("grown.md", 11, 5),
        ("new.md", 3, 5),
        ("old-parser.md", 10, 5),
        ("same.md", 10, 5),
    ]:
        listing.add(path_bytes(path), size, mtime)
    plan = plan_run(listing.table(), previous, parser_version=1)
    assert plan.take_kept().column("source_path").to_pylist() == ["same.md"]
    assert plan.to_read.to_pylist() == [
        {**read, "path": read["path"].encode(), "known_rejection": None}
        for read in [
            {"path": "grown.md", "size_bytes": 11, "mtime_ns": 5, "known_sha256": "sha-grown.md"},
            {"path": "new.md", "size_bytes": 3, "mtime_ns": 5, "known_sha256": None},
            {"path": "old-parser.md", "size_bytes": 10, "mtime_ns": 5, "known_sha256": None},
            {
                "path": "touched.md",
                "size_bytes": 10,
                "mtime_ns": 6,
                "known_sha256": "sha-touched.md",
            },
        ]
    ]
    assert plan.deleted == 1


@pytest.mark.parametrize(
    ("listed", "read", "same"),
    [
        ([("a.md", 5), ("b.md", 5)], [], True),  # nothing read
        ([("a.md", 5), ("b.md", 6)], [("b.md", 6)], False),  # touched: a new mtime
        ([("a.md", 5), ("b.md", 6)], [("b.md", 5)], True),  # read back as it was
        ([("a.md", 5)], [], False),  # b.md deleted
        ([("a.md", 5), ("b.md", 5), ("c.md", 5)], [("c.md", 5)], False),  # c.md new
    ],
)
def test_same_state_is_told_without_holding_the_previous_one(listed, read, same):
    previous = state_of(["a.md", "b.md"])
    listing = Listing()
    for path, mtime in listed:
        listing.add(path, 10, mtime)
    plan = plan_run(listing.table(), previous, parser_version=1)
    files = pa.Table.from_pylist(
        [
            {
                "source_path": path,
                "size_bytes": 10,
                "mtime_ns": mtime,
                "sha256": f"sha-{path}",
                "outcome": "unchanged" if path in ("a.md", "b.md") else "article",
                "rejection": None,
                "part": "r/1",
            }
            for path, mtime in read
        ],
        schema=pa.schema(list(STATE_SCHEMA)[:-1]),
    )
    before = rows_before(previous, files["source_path"])
    state = next_state(plan, before, files, parser_version=1)
    assert is_same_state(plan, state, before) is same
    assert state.equals(previous) is same


def test_the_files_moved_are_where_the_two_states_differ():
    previous = state_of(["kept.md", "touched.md", "edited.md", "rejected.md", "gone.md"])
    listing = Listing()
    for path, mtime in [
        ("kept.md", 5),
        ("touched.md", 6),
        ("edited.md", 6),
        ("rejected.md", 6),
        ("new.md", 5),
    ]:
        listing.add(path, 10, mtime)
    plan = plan_run(listing.table(), previous, parser_version=1)
    outcomes = {"touched.md": "unchanged", "rejected.md": "rejected"}
    files = pa.Table.from_pylist(
        [
            {
                "source_path": path,
                "size_bytes": 10,
                "mtime_ns": 6,
                "sha256": f"sha-{path}",
                "outcome": outcomes.get(path, "article"),
                "rejection": None,
                "part": "r/1",
            }
            for path in ("edited.md", "new.md", "rejected.md", "touched.md")
        ],
        schema=pa.schema(list(STATE_SCHEMA)[:-1]),
    )
    before = rows_before(previous, files["source_path"])
    moved = moved_files(plan, before, files)
    state = next_state(plan, before, files, parser_version=1)
    old, new = ({r["source_path"]: r["part"] for r in t.to_pylist()} for t in (previous, state))
    differ = {
        path: (old.get(path), new.get(path))
        for path in old.keys() | new.keys()
        if old.get(path) != new.get(path)
    }
    assert {r["source_path"]: (r["old_part"], r["new_part"]) for r in moved.to_pylist()} == differ
    assert differ == {
        "edited.md": ("r/0", "r/1"),
        "rejected.md": ("r/0", "r/1"),
        "new.md": (None, "r/1"),
        "gone.md": ("r/0", None),
    }
    assert moved.schema == MOVED_SCHEMA


def test_edits_are_read_and_only_changed_bytes_parsed(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    for i in range(6):
        write(source, f"{i}.md", doc(f"https://e.com/{i}", "2021-01-01"))
    first = run_ingest(source, wh)
    assert (first["files_parsed"], first["files_unchanged"]) == (6, 0)

    write(source, "0.md", doc("https://e.com/0", "2021-01-01", title="edited"), OLD + 1)
    (source / "1.md").unlink()
    os.utime(source / "2.md", (OLD + 2, OLD + 2))  # touched, bytes unchanged
    write(source, "new.md", doc("https://e.com/new"))
    second = run_ingest(source, wh)
    assert (
        second["files_seen"],
        second["files_parsed"],
        second["files_unchanged"],
        second["files_deleted"],
    ) == (6, 2, 4, 0 + 1)
    assert tables(wh) == full_refresh_of(source, tmp_path)
    titles = dict((path, title) for title, path in [(r[2], r[19]) for r in tables(wh)["articles"]])
    assert titles["0.md"] == "edited" and "1.md" not in titles

    third = run_ingest(source, wh)  # nothing changed: nothing read
    assert (third["files_parsed"], third["files_unchanged"]) == (0, 6)


def test_deleted_winner_falls_back_to_next_source(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    write(source, "a.md", doc("https://e.com/x", "2021-01-01", title="older"))
    write(source, "b.md", doc("https://e.com/x", "2022-01-01", title="newer"))
    run_ingest(source, wh)
    assert [r[2] for r in tables(wh)["articles"]] == ["newer"]
    (source / "b.md").unlink()
    run_ingest(source, wh)
    assert [r[2] for r in tables(wh)["articles"]] == ["older"]
    assert tables(wh)["article_sources"][0][4] is True


def test_rejected_file_is_retried_when_its_bytes_change(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    write(source, "a.md", "---\ntitle: [broken\n---\n")
    assert run_ingest(source, wh)["files_rejected"] == 1
    assert run_ingest(source, wh)["files_rejected"] == 0  # unchanged: not read again
    assert len(tables(wh)["rejected_files"]) == 1
    write(source, "a.md", doc("https://e.com/fixed"), OLD + 5)
    run_ingest(source, wh)
    assert tables(wh)["rejected_files"] == [] and len(tables(wh)["articles"]) == 1


def test_new_parser_version_parses_everything_again(tmp_path, monkeypatch):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    write(source, "a.md", doc("https://e.com/a"))
    run_ingest(source, wh)
    monkeypatch.setattr(pipeline, "PARSER_VERSION", pipeline.PARSER_VERSION + 1)
    assert run_ingest(source, wh)["files_parsed"] == 1
    assert run_ingest(source, wh)["files_parsed"] == 0


def test_racy_mtime_is_checked_by_hash_next_time(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    (source).mkdir()
    (source / "a.md").write_text(doc("https://e.com/a"))  # mtime: now
    run_ingest(source, wh)
    state = pq.read_table(next(wh.snapshots.glob("*/state.parquet")))
    assert state.column("mtime_ns").to_pylist() == [None]
    second = run_ingest(source, wh)
    assert (second["files_parsed"], second["files_unchanged"]) == (0, 1)


def test_full_refresh_ignores_the_state(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    write(source, "a.md", doc("https://e.com/a"))
    run_ingest(source, wh)
    assert run_ingest(source, wh, full_refresh=True)["files_parsed"] == 1


def test_many_small_runs_are_compacted_and_stay_correct(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "MAX_PARTS", 3)
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    for i in range(8):
        write(source, f"{i}.md", doc(f"https://e.com/{i % 5}", f"2021-01-0{i + 1}"))
        run_ingest(source, wh, chunk_size=1)
        parts = [p for run in wh.parts.iterdir() for p in run.iterdir()]
        assert len(parts) <= 4
    assert tables(wh) == full_refresh_of(source, tmp_path)


@pytest.mark.parametrize(("keep", "kept"), [(2, 2), (0, 1)])  # below one: the published one
def test_old_snapshots_beyond_retention_are_removed(tmp_path, keep, kept):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    for i in range(5):
        write(source, f"{i}.md", doc(f"https://e.com/{i}"))
        run_ingest(source, wh, keep_snapshots=keep)
    assert len(list(wh.snapshots.iterdir())) == kept
    assert len(tables(wh)["articles"]) == 5


# -- the property: any sequence of edits, incremental equals full refresh -------------------

DOCS = [
    doc("https://e.com/a", "2021-01-01", extra="topics: [x, y]\n"),
    doc(
        "https://E.com/a?utm_source=t",
        "2021-06-01",
        title="a later",
        extra="related:\n  - webUrl: https://e.com/b\n",
    ),
    doc("https://e.com/a#x", None, title="undated"),
    doc("https://e.com/b", "2020-01-01", extra="images:\n  - url: i\n  - {}\n"),
    doc("https://e.com/c", "bad", extra="quality: 3.5\nprovider: {name: C, domain: www.c.org}\n"),
    "---\ntitle: [broken\n---\n",
    "no front matter at all\n",
    doc("https://e.com/b", "2020-01-01", title="b twin"),
]
NAMES = ["a.md", "b.md", "c/d.md", "c/e.txt", "z.markdown", "é.md"]

operation = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), st.integers(0, len(DOCS) - 1)),
    st.tuples(st.just("delete"), st.sampled_from(NAMES), st.just(0)),
    st.tuples(st.just("touch"), st.sampled_from(NAMES), st.just(0)),
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.integers(0, len(NAMES) - 1)),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@pytest.mark.parametrize("patch_limit", [0.0, 1.0])  # tables always rebuilt; always patched
@given(steps=st.lists(st.lists(operation, min_size=1, max_size=4), min_size=1, max_size=4))
def test_incremental_runs_equal_a_full_refresh(tmp_path_factory, patch_limit, steps):
    tmp = tmp_path_factory.mktemp("prop")
    source, wh = tmp / "src", Warehouse(tmp / "wh")
    source.mkdir()
    clock = OLD
    for batch in steps:
        for op, name, arg in batch:
            clock += 10
            path = source / name
            if op == "write":
                write(source, name, DOCS[arg], clock)
            elif op == "delete":
                path.unlink(missing_ok=True)
            elif op == "touch" and path.exists():
                os.utime(path, (clock, clock))
            elif op == "rename" and path.exists():
                target = source / NAMES[arg]
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(path, target)
        summary = run_ingest(source, wh, patch_limit=patch_limit)
        assert summary["files_seen"] == sum(1 for p in source.rglob("*") if p.is_file())
        published = tables(wh)
        assert published == full_refresh_of(source, tmp)
        # row counts, from the Parquet footers of patched tables too
        assert summary["tables"] == {table: len(rows) for table, rows in published.items()}


@pytest.mark.parametrize("chunk_size", [1, 1000])
def test_sample_corpus_incremental_after_edits(tmp_path, chunk_size):
    from tests.conftest import SAMPLE_CORPUS

    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    shutil.copytree(SAMPLE_CORPUS, source, symlinks=True)
    run_ingest(source, wh, chunk_size=chunk_size)
    files = sorted(p for p in source.rglob("*.txt"))
    files[3].write_text(files[3].read_text().replace("quality:", "quality: 9\nold_quality:", 1))
    files[4].unlink()
    files[5].rename(source / "moved.md")
    summary = run_ingest(source, wh, chunk_size=chunk_size)
    assert summary["files_deleted"] == 2 and summary["files_parsed"] == 2
    assert tables(wh) == full_refresh_of(source, tmp_path)


def test_a_file_name_that_is_not_utf8_is_kept_with_escapes(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    source.mkdir()
    name = os.fsdecode(b"bad\xffname.md")
    write(source, name, doc("https://e.com/bad-name"))
    write(source, "ok.md", doc("https://e.com/ok"))
    run_ingest(source, wh)
    assert [r[0] for r in tables(wh)["article_sources"]] == ["bad\\xffname.md", "ok.md"]
    again = run_ingest(source, wh)  # the state knows it under the same name
    assert (again["files_parsed"], again["files_unchanged"], again["files_deleted"]) == (0, 2, 0)


def test_a_name_that_is_not_utf8_and_its_escape_spelled_out_stay_two_files(tmp_path):
    # `x<0xff>.md` shows as `x\\xff.md`; a file literally named so must not share its rows
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    raw, literal = os.fsdecode(b"x\xff.md"), "x\\xff.md"
    write(source, raw, doc("https://e.com/raw"), OLD)
    write(source, literal, doc("https://e.com/literal"), OLD + 5)
    run_ingest(source, wh)
    assert [r[0] for r in tables(wh)["article_sources"]] == ["x\\\\xff.md", "x\\xff.md"]
    again = run_ingest(source, wh)
    assert (again["files_parsed"], again["files_unchanged"]) == (0, 2)
    write(source, raw, doc("https://e.com/raw-edited"), OLD + 50)
    edited = run_ingest(source, wh)
    assert (edited["files_parsed"], edited["files_unchanged"]) == (1, 1)
    assert tables(wh) == full_refresh_of(source, tmp_path)
    assert len(tables(wh)["articles"]) == 2


def test_a_failed_run_is_recorded_with_its_error_and_changes_nothing(tmp_path, monkeypatch):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    write(source, "a.md", doc("https://e.com/a"))
    run_ingest(source, wh)
    before = tables(wh)
    write(source, "b.md", doc("https://e.com/b"))

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store_module, "build_snapshot", broken)
    with pytest.raises(OSError, match="disk full"):
        run_ingest(source, wh)
    monkeypatch.undo()
    assert tables(wh) == before
    from warehouse import connect

    with connect(wh.root) as con:
        runs = con.execute("SELECT status, error FROM load_runs").fetchall()
    assert runs == [("succeeded", None), ("failed", "OSError: disk full")]
    run_ingest(source, wh)
    assert len(tables(wh)["articles"]) == 2
    with connect(wh.root) as con:
        timings = con.execute(
            "SELECT status, listing_seconds, staging_seconds, publishing_seconds, "
            "epoch(finished_at - started_at) FROM load_runs"
        ).fetchall()
    # where each finished run's time went, within its duration; none for the failed one
    assert [row[0] for row in timings] == ["succeeded", "failed", "succeeded"]
    assert timings[1][1:4] == (None, None, None)
    for _, *stages, total in (timings[0], timings[2]):
        assert all(stage >= 0 for stage in stages) and sum(stages) <= total + 0.01
        assert stages[2] > 0  # a snapshot was built and published


def test_a_file_that_vanishes_after_listing_is_unreadable(tmp_path, monkeypatch):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    write(source, "a.md", doc("https://e.com/a"))
    write(source, "gone.md", doc("https://e.com/gone"))
    listed = pipeline.list_candidates(source)
    (source / "gone.md").unlink()
    monkeypatch.setattr(pipeline, "list_candidates", lambda root, options=None, stat=True: listed)
    summary = run_ingest(source, wh)
    assert summary["rejected_by_reason"] == {"unreadable": 1}
    assert [(r[0], r[3]) for r in tables(wh)["rejected_files"]] == [("gone.md", "unreadable")]


def test_an_unreadable_file_is_tried_again_on_every_run(tmp_path):
    source, outside, wh = tmp_path / "src", tmp_path / "outside", Warehouse(tmp_path / "wh")
    write(source, "b.md", doc("https://e.com/b"))
    write(outside, "f.md", doc("https://e.com/f"))
    os.symlink(outside / "f.md", source / "a.md")  # outside the source: unreadable
    run_ingest(source, wh)
    assert [r[3] for r in tables(wh)["rejected_files"]] == ["unreadable"]
    again = run_ingest(source, wh)  # rejected again the same way: nothing to publish
    assert again["files_unchanged"] == 2
    shutil.move(outside / "f.md", source / "f.txt.bak")  # now a link inside the source
    (source / "a.md").unlink()
    os.symlink("f.txt.bak", source / "a.md")
    run_ingest(source, wh)
    assert tables(wh) == full_refresh_of(source, tmp_path)
    assert len(tables(wh)["articles"]) == 2


def test_a_run_after_the_warehouse_folder_moved_points_the_views_at_it(tmp_path):
    source = tmp_path / "src"
    write(source, "a.md", doc("https://e.com/a"))
    run_ingest(source, Warehouse(tmp_path / "wh"))
    shutil.move(tmp_path / "wh", tmp_path / "moved")
    run_ingest(source, Warehouse(tmp_path / "moved"))  # nothing changed in the source
    assert len(tables(tmp_path / "moved")["articles"]) == 1


def test_a_first_load_takes_sizes_and_mtimes_from_its_reads_not_a_stat(tmp_path, monkeypatch):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    write(source, "a.md", doc("https://e.com/a"))
    write(source, "b.md", doc("https://e.com/b"), OLD + 5)
    stats = []
    listing = pipeline.list_candidates
    monkeypatch.setattr(
        pipeline,
        "list_candidates",
        lambda root, options=None, stat=True: stats.append(stat) or listing(root, options, stat),
    )
    run_ingest(source, wh)
    state = pq.read_table(wh.snapshots / published_snapshot(wh) / "state.parquet")
    on_disk = [os.stat(source / name) for name in ("a.md", "b.md")]
    assert state["size_bytes"].to_pylist() == [info.st_size for info in on_disk]
    assert state["mtime_ns"].to_pylist() == [info.st_mtime_ns for info in on_disk]
    parts = sorted(wh.parts.iterdir())
    again = run_ingest(source, wh)  # compared by size and mtime: nothing read, nothing staged
    assert stats == [False, True]
    assert again["files_unchanged"] == 2 and sorted(wh.parts.iterdir()) == parts


def test_nothing_changed_publishes_nothing_new(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    source.mkdir()
    run_ingest(source, wh)  # an empty source, too
    write(source, "a.md", doc("https://e.com/a"))
    run_ingest(source, wh)
    before = sorted(p.name for p in wh.snapshots.iterdir())
    run_ingest(source, wh)
    assert sorted(p.name for p in wh.snapshots.iterdir()) == before
    (source / "a.md").unlink()
    run_ingest(source, wh)
    before = sorted(p.name for p in wh.snapshots.iterdir())
    run_ingest(source, wh)  # empty again, and still nothing new
    assert sorted(p.name for p in wh.snapshots.iterdir()) == before


@pytest.mark.parametrize("touch", [False, True])
def test_a_snapshot_of_an_older_version_gets_its_missing_tables(tmp_path, touch):
    """A warehouse published before a table existed (story_clusters, here) gets it on the
    next run, though nothing changed (or only mtimes did), from the staged parts."""
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    write(source, "a.md", doc("https://e.com/a"))
    run_ingest(source, wh)
    expected = tables(wh)
    old = wh.snapshots / published_snapshot(wh)
    (old / "story_clusters.parquet").unlink()
    if touch:
        os.utime(source / "a.md", (OLD + 5, OLD + 5))
    summary = run_ingest(source, wh)
    assert summary["files_parsed"] == 0
    assert published_snapshot(wh) != old.name
    assert tables(wh) == expected


def test_a_file_from_the_future_is_trusted_by_its_mtime(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    future = int(time.time()) + 3600
    write(source, "a.md", doc("https://e.com/a"), mtime=future)
    run_ingest(source, wh)
    again = run_ingest(source, wh)
    assert (again["files_parsed"], again["files_unchanged"]) == (0, 1)
    state = pq.read_table(next(wh.snapshots.glob("*/state.parquet")))
    assert state.column("mtime_ns").to_pylist() == [future * 10**9]


def test_a_clock_that_stepped_back_keeps_the_snapshot_readers_may_hold(tmp_path, monkeypatch):
    """Run ids are times. After the clock stepped back, the new snapshot sorts before the
    one published just before it, which must not be taken for a dead run's and removed."""
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    write(source, "a.md", doc("https://e.com/a"))
    first = run_ingest(source, wh)["run_id"]
    write(source, "a.md", doc("https://e.com/a") + "\nA new body.\n")
    monkeypatch.setattr(pipeline, "new_run_id", lambda started: "19700101T000000000000Z-000000")
    second = run_ingest(source, wh)["run_id"]
    assert published_snapshot(wh) == second
    assert (wh.snapshots / first).is_dir()  # kept for a reader that opened it
    monkeypatch.undo()
    run_ingest(source, wh, full_refresh=True, keep_snapshots=1)
    assert not (wh.snapshots / first).exists()  # one run later it goes


def test_parts_read_whole_only_while_every_file_in_them_is_current(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    for i in range(6):
        write(source, f"{i}.md", doc(f"https://e.com/{i}"))
    run_ingest(source, wh, chunk_size=3)  # parts 0 (0-2.md) and 1 (3-5.md)
    state = store_module.published_state(wh)
    assert current_parts(wh.parts, state["part"]) == (sorted(set(state["part"].to_pylist())), [])

    write(source, "4.md", doc("https://e.com/4", title="edited"), OLD + 1)
    run_ingest(source, wh, chunk_size=3)
    state = store_module.published_state(wh)
    first_run = sorted(set(state["part"].to_pylist()))
    whole, partial = current_parts(wh.parts, state["part"])
    # the part holding 4.md's old rows is filtered; the other old part and the new one are not
    assert partial == [first_run[1]] and whole == [first_run[0], first_run[2]]
    assert tables(wh) == full_refresh_of(source, tmp_path)


def test_a_warehouse_below_a_folder_named_like_a_hive_partition(tmp_path):
    # DuckDB would read `part=x` as a Hive partition and replace the staged `part` column
    source, wh = tmp_path / "src", Warehouse(tmp_path / "part=x" / "env=prod" / "wh")
    for i in range(4):
        write(source, f"{i}.md", doc(f"https://e.com/{i}"))
    run_ingest(source, wh, chunk_size=2)
    write(source, "1.md", doc("https://e.com/1", title="edited"), OLD + 1)
    run_ingest(source, wh, chunk_size=2)
    assert tables(wh) == full_refresh_of(source, tmp_path)
    with connect(wh.root) as con:
        assert "env" not in [row[0] for row in con.execute("DESCRIBE articles").fetchall()]


def test_a_state_of_an_older_layout_names_no_parts(tmp_path):
    from warehouse.state import live_parts, read_state, state_parts

    current = tmp_path / "state.parquet"
    rows = [{name: None for name in STATE_SCHEMA.names} | {"source_path": "a.md", "part": "r/0"}]
    pq.write_table(pa.Table.from_pylist(rows * 2, schema=STATE_SCHEMA), current)
    assert state_parts(current).to_pylist() == ["r/0", "r/0"]
    assert live_parts(current) == ["r/0"]
    older = tmp_path / "older.parquet"
    pq.write_table(pa.table({"source_path": ["a.md"], "part": ["r/0"]}), older)
    assert read_state(older).num_rows == 0  # read again from the source, as read_state says
    assert state_parts(older).to_pylist() == [] and live_parts(older) == []


def count_listings(monkeypatch) -> list[int]:
    listings: list[int] = []
    real = pipeline.list_candidates

    def counted(*args, **kwargs):
        listings.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "list_candidates", counted)
    return listings


def published_a(tmp_path: Path) -> tuple[Path, Warehouse]:
    """A source of one file, a.md, and a warehouse that published it."""
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    write(source, "a.md", doc("https://x.com/a"))
    run_ingest(source, wh)
    return source, wh


def test_a_plan_made_ahead_is_taken_by_the_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths, as `newsfront run examples/corpus` gives
    source, wh = Path("src"), Warehouse(Path("wh"))
    write(source, "a.md", doc("https://x.com/a"))
    run_ingest(source, wh)
    write(source, "b.md", doc("https://x.com/b"))
    listings = count_listings(monkeypatch)
    ahead = pipeline.plan_ahead(source, wh)
    said: list[str] = []
    summary = run_ingest(source.absolute(), Warehouse(wh.root.absolute()), log=said.append)
    assert len(listings) == 1  # planned once, ahead, and not again
    assert ahead.planned is None  # the run took it, and let go of it when done
    assert any(line.startswith("listed the source ahead") for line in said)
    assert (summary["files_seen"], summary["files_parsed"]) == (2, 1)
    assert tables(wh) == full_refresh_of(source, tmp_path)
    assert pipeline._ahead_key(source, wh) not in pipeline._AHEAD


def test_no_one_holds_the_plan_made_ahead_once_the_run_publishes(tmp_path, monkeypatch):
    """Its kept rows, or the state itself, are not held through the build: at 500,000
    files the peaks of runs with a plan made ahead rose by about 35 MB while a frame held
    it."""
    source, wh = published_a(tmp_path)
    write(source, "b.md", doc("https://x.com/b"))
    ahead = pipeline.plan_ahead(source, wh)
    ahead.thread.join()
    planned = weakref.ref(ahead.planned)
    held: list[bool] = []
    real = pipeline.publish

    def publish(*args, **kwargs):
        gc.collect()
        held.append(planned() is not None)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "publish", publish)
    run_ingest(source, wh)
    assert held == [False]


def test_a_plan_made_before_another_run_published_is_made_again(tmp_path, monkeypatch):
    """Planned before b.md came and another run published it, the plan would read c.md and
    publish a state without b.md: the run plans again against the state it holds the lock
    on."""
    source, wh = published_a(tmp_path)
    write(source, "c.md", doc("https://x.com/c"))
    ahead = pipeline.plan_ahead(source, wh)
    ahead.thread.join()
    key = pipeline._ahead_key(source, wh)
    del pipeline._AHEAD[key]  # not for the other run, as if it ran in another process
    write(source, "b.md", doc("https://x.com/b"))
    run_ingest(source, wh)  # another run, in between
    pipeline._AHEAD[key] = ahead
    listings = count_listings(monkeypatch)
    said: list[str] = []
    summary = run_ingest(source, wh, log=said.append)
    assert len(listings) == 1  # planned again
    assert any("(another run published since)" in line for line in said)
    assert (summary["files_seen"], summary["files_parsed"]) == (3, 0)
    assert tables(wh)["articles"] == full_refresh_of(source, tmp_path)["articles"]


@pytest.mark.parametrize(
    "why",
    [
        "it is older than 0 s",
        "it was made for a full refresh",
        "this is a full refresh",
        "it failed: ZeroDivisionError",
    ],
)
def test_a_plan_made_ahead_that_does_not_hold_is_made_again(tmp_path, monkeypatch, why):
    source, wh = published_a(tmp_path)
    write(source, "b.md", doc("https://x.com/b"))
    with monkeypatch.context() as patched:
        if why.startswith("it failed"):
            patched.setattr(pipeline, "published_snapshot", lambda warehouse: 1 / 0)
        ahead = pipeline.plan_ahead(source, wh, full_refresh=why.endswith("for a full refresh"))
        ahead.thread.join()
    if why.startswith("it is older"):
        monkeypatch.setattr(pipeline, "PLAN_AHEAD_MAX_AGE", 0.0)
    listings = count_listings(monkeypatch)
    said: list[str] = []
    full_refresh = why == "this is a full refresh"
    summary = run_ingest(source, wh, full_refresh=full_refresh, log=said.append)
    assert len(listings) == 1  # the run's own
    assert any(f"does not hold ({why}" in line for line in said), said
    assert summary["files_seen"] == 2
    assert summary["files_parsed"] == (2 if full_refresh else 1)
    assert tables(wh) == full_refresh_of(source, tmp_path)


def test_a_plan_made_ahead_goes_with_a_run_that_stops_before_it(tmp_path):
    source, wh = published_a(tmp_path)
    pipeline.plan_ahead(source, wh)
    with RunLock(wh.lock_file), pytest.raises(WarehouseLocked):
        run_ingest(source, wh)
    assert pipeline._ahead_key(source, wh) not in pipeline._AHEAD  # not held on to


def test_a_plan_keeps_the_state_itself_until_the_kept_rows_are_needed():
    """No copy of the state while the run plans and stages, when nearly all of it is kept
    (the most common runs on a schedule); fewer kept rows are taken at once, so the state
    is not held for them. A name that is not UTF-8 lists (by its bytes) after `ba.md` and
    sorts (as shown, `b\\xff.md`) before it: the kept rows still come in the state's
    order."""
    names = [b"a.md", b"b\xff.md", b"ba.md", *(f"{c}.md".encode() for c in "cdefghi")]
    previous = state_of(sorted((display_path(path_text(name)) for name in names), key=str.encode))
    assert previous["source_path"][1].as_py() == "b\\xff.md"

    def listed(touched: tuple[bytes, ...] = (), added: bool = False) -> pa.Table:
        listing = Listing()
        for name in names:
            listing.add(name, 10, 9 if name in touched else 5)
        if added:
            listing.add(b"k.md", 3, 7)
        return listing.table()

    plan = plan_run(listed(), previous, 1)  # nothing changed
    assert plan.unchanged == 10 and plan.take_kept() is previous
    plan = plan_run(listed(added=True), previous, 1)  # every row of the state kept
    assert plan.take_kept() is previous and plan.to_read["path"].to_pylist() == [b"k.md"]
    plan = plan_run(listed(touched=(b"c.md",)), previous, 1)  # nearly all kept: taken later
    assert plan.kept_from is previous and plan.unchanged == 9
    assert plan.take_kept().equals(previous.take([0, 1, 2, *range(4, 10)]))
    assert plan.kept_from is not previous  # let go of
    assert plan.take_kept().num_rows == 9  # taken once
    plan = plan_run(listed(touched=(b"a.md", b"c.md", b"d.md")), previous, 1)  # taken at once
    assert plan.kept_from is not previous and plan.unchanged == 7
    assert plan.take_kept().equals(previous.take([1, 2, *range(5, 10)]))


class StagerAhead(ProcessStager):
    """With a `stage_chunks` for the run that keeps the futures it was given."""

    def staging(self):
        self.given: list = []

        def stage_chunks(jobs) -> list[dict]:
            self.given += [self.submit(job) for job in jobs]
            return [future.result() for future in self.given[-len(jobs) :]]

        stage_chunks.stager = self
        return stage_chunks


@pytest.fixture
def stager():
    with StagerAhead(2) as workers:
        yield workers


def test_chunks_staged_ahead_are_moved_into_the_run_that_takes_the_plan(tmp_path, stager):
    source, wh = published_a(tmp_path)
    for name in "bcd":
        write(source, f"{name}.md", doc(f"https://x.com/{name}"))
    ahead = pipeline.plan_ahead(source, wh, stager=stager, chunk_size=2)
    ahead.thread.join()
    submitted = list(stager.ahead.values())
    for future in submitted:
        future.result()
    folder = wh.ahead / ahead.run_id
    assert sorted(path.name for path in folder.iterdir()) == ["000000", "000001"]
    said: list[str] = []
    summary = run_ingest(source, wh, stage_chunks=stager.staging(), chunk_size=2, log=said.append)
    assert any(line.endswith("its 2 chunks began staging then") for line in said), said
    assert stager.given == submitted  # staged once, ahead
    assert summary["run_id"] == ahead.run_id  # the id the staged rows name
    assert (summary["files_seen"], summary["files_parsed"]) == (4, 3)
    assert sorted(path.name for path in (wh.parts / ahead.run_id).iterdir()) == [
        "000000",
        "000001",
    ]
    assert not wh.ahead.exists()
    assert tables(wh) == full_refresh_of(source, tmp_path)


@pytest.mark.parametrize("differs", ["chunk_size", "max_bytes", "stager"])
def test_chunks_staged_ahead_for_other_chunks_or_workers_are_not_taken(tmp_path, stager, differs):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    for name in "ab":
        write(source, f"{name}.md", doc(f"https://x.com/{name}"))
    ahead = pipeline.plan_ahead(source, wh, stager=stager, chunk_size=1)
    ahead.thread.join()
    options = {"chunk_size": 1, "stage_chunks": stager.staging()}
    if differs == "stager":
        options["stage_chunks"] = pipeline.stage_serially
    else:
        options[differs] = {"chunk_size": 2, "max_bytes": 10_000}[differs]
    said: list[str] = []
    summary = run_ingest(source, wh, log=said.append, **options)
    assert any("(its chunks were staged ahead in other workers" in line for line in said)
    assert summary["run_id"] != ahead.run_id and not wh.ahead.exists()
    assert tables(wh) == full_refresh_of(source, tmp_path)


def test_chunks_staged_ahead_of_a_plan_that_does_not_hold_are_thrown_away(tmp_path, stager):
    source, wh = published_a(tmp_path)
    write(source, "c.md", doc("https://x.com/c"))
    ahead = pipeline.plan_ahead(source, wh, stager=stager, chunk_size=1)
    ahead.thread.join()
    [chunk] = stager.ahead.values()
    chunk.result()
    key = pipeline._ahead_key(source, wh)
    del pipeline._AHEAD[key]  # not for the other run, as if it ran in another process
    write(source, "b.md", doc("https://x.com/b"))
    run_ingest(source, wh)  # another run, in between, whose id is newer than the plan's
    assert not (wh.ahead / ahead.run_id).exists()  # so it knew the plan cannot hold
    pipeline._AHEAD[key] = ahead
    said: list[str] = []
    summary = run_ingest(source, wh, stage_chunks=stager.staging(), log=said.append)
    assert any("(another run published since)" in line for line in said)
    assert summary["run_id"] != ahead.run_id
    assert not stager.ahead and not (wh.ahead / ahead.run_id).exists()
    assert not (wh.parts / ahead.run_id).exists()
    assert tables(wh)["articles"] == full_refresh_of(source, tmp_path)["articles"]


def test_a_plan_whose_chunks_could_not_be_submitted_ahead_is_staged_by_the_run(tmp_path):
    """The plan stands; the run stages its files itself, under an id and start of its own."""

    class Refusing(StagerAhead):
        def submit_ahead(self, jobs):
            raise RuntimeError("the pool is broken")

    source, wh = published_a(tmp_path)
    write(source, "b.md", doc("https://x.com/b"))
    with Refusing(1) as stager:
        ahead = pipeline.plan_ahead(source, wh, stager=stager)
        ahead.thread.join()
        assert ahead.run_id is not None and ahead.planned.jobs is None
        summary = run_ingest(source, wh, stage_chunks=stager.staging())
    assert summary["run_id"] != ahead.run_id and summary["started_at"] is not None
    assert (summary["files_seen"], summary["files_parsed"]) == (2, 1)
    assert not wh.ahead.exists()
    assert tables(wh) == full_refresh_of(source, tmp_path)


def test_chunks_staged_ahead_go_with_a_run_that_stops_before_it(tmp_path, stager):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    write(source, "a.md", doc("https://x.com/a"))
    ahead = pipeline.plan_ahead(source, wh, stager=stager)
    ahead.thread.join()
    assert ahead.run_id is not None and stager.ahead
    with RunLock(wh.lock_file), pytest.raises(WarehouseLocked):
        run_ingest(source, wh, stage_chunks=stager.staging())
    assert not stager.ahead and not wh.ahead.exists()
    # and one that no run took at all (the flow failed before its run)
    ahead = pipeline.plan_ahead(source, wh, stager=stager)
    ahead.thread.join()
    assert stager.ahead
    pipeline.drop_plan_ahead(source, wh)
    assert not stager.ahead and not wh.ahead.exists() and not wh.parts.exists()


@pytest.mark.parametrize("why", ["another source's warehouse", "a locked warehouse"])
def test_nothing_is_staged_ahead_for_a_run_that_will_stop_or_wait(tmp_path, stager, why):
    """A warehouse that belongs to another source: the run stops at its check. One that
    another run holds: this one waits or stops, and workers staging ahead would slow the
    other run. Nothing is written into the warehouse ahead of either."""
    wh = Warehouse(tmp_path / "wh")
    write(tmp_path / "first", "a.md", doc("https://x.com/a"))
    run_ingest(tmp_path / "first", wh)
    source = tmp_path / ("second" if why == "another source's warehouse" else "first")
    write(source, "b.md", doc("https://x.com/b"))
    with RunLock(wh.lock_file) if why == "a locked warehouse" else contextlib.nullcontext():
        ahead = pipeline.plan_ahead(source, wh, stager=stager)
        ahead.thread.join()
    assert ahead.planned is not None and ahead.planned.plan.to_read.num_rows == 1
    assert ahead.run_id is None and not stager.ahead and not wh.ahead.exists()
    pipeline.drop_plan_ahead(source, wh)


def test_publishing_removes_parts_staged_ahead_by_runs_that_cannot_use_them(tmp_path):
    """A run killed while it staged ahead leaves its folder; the next run to publish removes
    it if it is older than what it published (its plan cannot hold any more)."""
    source, wh = published_a(tmp_path)
    old, new = "20000101T000000000000Z-aaaaaa", "99990101T000000000000Z-aaaaaa"
    for run_id in (old, new):
        (wh.ahead / run_id / "000000.tmp").mkdir(parents=True)
    write(source, "b.md", doc("https://x.com/b"))
    run_ingest(source, wh)
    assert sorted(path.name for path in wh.ahead.iterdir()) == [new]
