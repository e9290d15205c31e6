"""Patched snapshots (warehouse.build.patch_snapshot): only the changed articles' and files'
rows are written, and the tables read exactly as a full build's."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.warehouse.helpers import OLD, tables, write
from tests.warehouse.test_incremental import doc, full_refresh_of
from warehouse import Warehouse
from warehouse.build import (
    BUILD_ID,
    BUILD_ID_FILE,
    DELTA_TABLES,
    FINGERPRINTS_FILE,
    SUPERSEDED_FILE,
    TABLES,
    _find_superseded,
    current_parts,
)
from warehouse.catalog import published_snapshot
from warehouse.pipeline import run_ingest
from warehouse.state import state_parts


def snapshot(wh: Warehouse) -> Path:
    return wh.snapshots / published_snapshot(wh)


def rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def is_patched(wh: Warehouse) -> bool:
    return (snapshot(wh) / "articles.delta.parquet").exists()


def corpus(source: Path, count: int) -> None:
    for i in range(count):
        write(source, f"{i:02d}.md", doc(f"https://e.com/{i}", "2021-01-01", extra="topics: [x]\n"))


def test_a_patch_writes_the_changed_rows_beside_the_base(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    corpus(source, 10)
    run_ingest(source, wh)
    base = snapshot(wh)
    edited = doc("https://e.com/3", "2022-02-02", title="edited", extra="topics: [y]\n")
    write(source, "03.md", edited, OLD + 10)
    run_ingest(source, wh, patch_limit=1.0)
    patched = snapshot(wh)
    assert patched != base and is_patched(wh)
    # articles and article_sources: the base is the earlier file itself, not a copy,
    # beside the changed rows
    for table in DELTA_TABLES:
        assert os.path.samefile(patched / f"{table}.parquet", base / f"{table}.parquet")
        assert rows(patched / f"{table}.delta.parquet") == 1
        assert rows(patched / f"{table}.deleted.parquet") == 1
    # the other tables are one file each: rewritten where their rows changed (a topic),
    # the earlier file linked where they did not
    assert linked_tables(patched, base) == set(TABLES) - {"article_topics"}
    assert [r[2] for r in tables(wh)["articles"]].count("edited") == 1
    assert tables(wh) == full_refresh_of(source, tmp_path)
    # a new provider: `providers` is written again, and the topics, as they were, linked
    provider = "provider: {name: P, domain: p.org}\n"
    write(source, "03.md", edited.replace("topics", provider + "topics"), OLD + 20)
    run_ingest(source, wh, patch_limit=1.0)
    assert is_patched(wh)
    assert linked_tables(snapshot(wh), patched) == set(TABLES) - {"providers"}
    assert tables(wh) == full_refresh_of(source, tmp_path)


def linked_tables(snapshot_dir: Path, earlier: Path) -> set[str]:
    """The tables of `snapshot_dir` that are the files of `earlier`: for a patched table
    (DELTA_TABLES), its base is, and always."""
    return {
        table
        for table in TABLES
        if os.path.samefile(snapshot_dir / f"{table}.parquet", earlier / f"{table}.parquet")
    }


def test_related_items_resolve_as_their_target_goes_and_comes(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    corpus(source, 8)
    write(source, "target.md", doc("https://e.com/target"))
    write(
        source,
        "linker.md",
        doc("https://e.com/l", extra="related:\n  - webUrl: https://E.com/target\n"),
    )
    run_ingest(source, wh)

    def resolved() -> list:
        return [r[-1] for r in tables(wh)["related_items"]]

    assert resolved() != [None]
    (source / "target.md").unlink()
    run_ingest(source, wh, patch_limit=1.0)
    assert is_patched(wh) and resolved() == [None]
    assert tables(wh) == full_refresh_of(source, tmp_path)
    write(source, "again.md", doc("https://e.com/target", title="back"), OLD + 20)
    run_ingest(source, wh, patch_limit=1.0)
    assert is_patched(wh) and resolved() != [None]
    assert tables(wh) == full_refresh_of(source, tmp_path)


def test_a_new_winner_among_duplicates_replaces_the_published_article(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    corpus(source, 8)
    write(source, "old.md", doc("https://e.com/dup", "2020-01-01", title="old"))
    run_ingest(source, wh)
    write(source, "new.md", doc("https://e.com/dup?utm_source=x", "2023-01-01", title="new"))
    run_ingest(source, wh, patch_limit=1.0)
    assert is_patched(wh)
    titles = [r[2] for r in tables(wh)["articles"]]
    assert "new" in titles and "old" not in titles
    assert tables(wh) == full_refresh_of(source, tmp_path)


def test_changes_past_the_limit_rebuild_the_tables_whole(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    corpus(source, 10)
    run_ingest(source, wh)
    patched = []
    for i in range(3):
        # an edit: 1 changed file of 10, within 0.25; then 1 and the 2 rows patched before
        # (one in the delta, one hidden in the base), past it; then 1 again after the rebuild
        write(source, f"{i:02d}.md", doc(f"https://e.com/{i}", title=f"edit {i}"), OLD + 10 + i)
        run_ingest(source, wh, patch_limit=0.25)
        patched.append(is_patched(wh))
        assert tables(wh) == full_refresh_of(source, tmp_path)
    assert patched == [True, False, True]
    write(source, "05.md", doc("https://e.com/5", title="again"), OLD + 30)
    run_ingest(source, wh, patch_limit=0.0)  # 0: never patched
    assert not is_patched(wh)
    assert sorted(p.name for p in snapshot(wh).glob("*.parquet")) == sorted(
        [f"{t}.parquet" for t in TABLES] + ["state.parquet", SUPERSEDED_FILE, FINGERPRINTS_FILE]
    )


def test_the_limit_counts_the_article_sources_rows_patched_for_duplicates(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    corpus(source, 6)
    for i in range(4):  # four files of one article
        write(source, f"dup{i}.md", doc("https://e.com/dup", f"2021-01-0{i + 1}"))
    run_ingest(source, wh)
    patched = []
    for i in range(2):
        # an edit of one duplicate patches one row of articles but the row of each of the
        # four files in article_sources: 1 changed file of 10, within 0.5; then 1 and the
        # 8 article_sources rows patched before (4 in the delta, 4 hidden), past it
        write(source, "dup0.md", doc("https://e.com/dup", title=f"edit {i}"), OLD + 10 + i)
        run_ingest(source, wh, patch_limit=0.5)
        patched.append(is_patched(wh))
        assert tables(wh) == full_refresh_of(source, tmp_path)
    assert patched == [True, False]


def test_a_patched_snapshot_carries_over_when_only_mtimes_change(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    corpus(source, 10)
    run_ingest(source, wh)
    write(source, "01.md", doc("https://e.com/1", title="edited"), OLD + 10)
    run_ingest(source, wh, patch_limit=1.0)
    before, counts = snapshot(wh), tables(wh)
    os.utime(source / "02.md", (OLD + 20, OLD + 20))
    summary = run_ingest(source, wh, patch_limit=1.0)
    assert snapshot(wh) != before and is_patched(wh)
    assert tables(wh) == counts
    assert summary["tables"]["articles"] == 10 and summary["tables"]["article_topics"] == 9


@pytest.mark.parametrize("patch_limit", [0.0, 1.0])
def test_nothing_changed_after_a_patch_reports_the_same_counts(tmp_path, patch_limit):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    corpus(source, 10)
    run_ingest(source, wh)
    (source / "04.md").unlink()
    first = run_ingest(source, wh, patch_limit=patch_limit)
    again = run_ingest(source, wh, patch_limit=patch_limit)
    assert first["tables"] == again["tables"] and again["tables"]["articles"] == 9
    assert is_patched(wh) == (patch_limit > 0)


def test_added_articles_count_toward_the_limit(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    corpus(source, 10)
    run_ingest(source, wh)
    patched = []
    for i in range(3):  # a new article a run, of 11, 12, 13 files: 1, 1 + 1, then 1 + 2 > 2.6
        write(source, f"new{i}.md", doc(f"https://e.com/new{i}"), OLD + 10 + i)
        run_ingest(source, wh, patch_limit=0.2)
        patched.append(is_patched(wh))
    assert patched == [True, True, False]
    assert tables(wh) == full_refresh_of(source, tmp_path)


def test_an_edited_article_that_many_link_to_is_the_only_one_rewritten(tmp_path):
    # the linking articles' related_article_id cannot change: the url_key still has an article
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    write(source, "hub.md", doc("https://e.com/hub"))
    for i in range(9):
        write(source, f"{i}.md", doc(f"https://e.com/{i}", extra=RELATED_HUB))
    run_ingest(source, wh)
    write(source, "hub.md", doc("https://e.com/hub", title="edited"), OLD + 10)
    run_ingest(source, wh, patch_limit=1.0)
    assert rows(snapshot(wh) / "articles.delta.parquet") == 1
    assert tables(wh) == full_refresh_of(source, tmp_path)
    (source / "hub.md").unlink()  # now they all resolve to nothing: all are rewritten
    run_ingest(source, wh, patch_limit=1.0)
    assert rows(snapshot(wh) / "articles.delta.parquet") == 9
    assert {r[-1] for r in tables(wh)["related_items"]} == {None}
    assert tables(wh) == full_refresh_of(source, tmp_path)


RELATED_HUB = "related:\n  - webUrl: https://e.com/hub\n"


def test_tables_whose_rows_an_edit_leaves_alone_are_linked_not_copied(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    corpus(source, 8)
    linker = "related:\n  - webUrl: https://e.com/1\n    title: {}\n"
    write(source, "linker.md", doc("https://e.com/l", extra=linker.format("first")))
    run_ingest(source, wh)

    def linked_from(before: Path) -> set[str]:
        return {
            table
            for table in set(TABLES) - set(DELTA_TABLES)  # their base is always linked
            if os.path.samefile(snapshot(wh) / f"{table}.parquet", before / f"{table}.parquet")
        }

    steps = [
        # a new title: only articles and the file's hash change
        (doc("https://e.com/l", title="new", extra=linker.format("first")), set()),
        # the related item's own title: the same link, so the same clusters (`providers`,
        # which counts related items, is written again whenever they change)
        (doc("https://e.com/l", extra=linker.format("second")), {"related_items", "providers"}),
        # a link to another article: new clusters
        (
            doc("https://e.com/l", extra=linker.format("second").replace("/1", "/2")),
            {"related_items", "story_clusters", "providers"},
        ),
    ]
    for step, (text, rewritten) in enumerate(steps):
        before = snapshot(wh)
        write(source, "linker.md", text, OLD + 10 + step)
        run_ingest(source, wh, patch_limit=1.0)
        assert is_patched(wh)
        assert linked_from(before) == set(TABLES) - set(DELTA_TABLES) - rewritten
        assert tables(wh) == full_refresh_of(source, tmp_path)


def test_tables_built_by_other_code_are_built_again_not_patched(tmp_path):
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    corpus(source, 10)
    run_ingest(source, wh)
    assert (snapshot(wh) / BUILD_ID_FILE).read_text() == BUILD_ID
    (snapshot(wh) / BUILD_ID_FILE).write_text("an older version")
    write(source, "01.md", doc("https://e.com/1", title="edited"), OLD + 10)
    run_ingest(source, wh, patch_limit=1.0)
    assert not is_patched(wh)
    assert (snapshot(wh) / BUILD_ID_FILE).read_text() == BUILD_ID
    assert tables(wh) == full_refresh_of(source, tmp_path)


def test_the_superseded_rows_a_patch_carries_are_those_found_afresh(tmp_path):
    # small chunks: the edits leave some of many parts partly current
    source, wh = tmp_path / "src", Warehouse(tmp_path / "wh")
    corpus(source, 30)
    run_ingest(source, wh, chunk_size=3)
    steps = [  # (files edited, the file deleted), with parts of 00-02, 03-05, 06-08, ...
        (("01.md", "04.md"), "10.md"),  # two parts partly current, a third
        (("04.md",), "11.md"),  # edited again: its second part is partly current too
        (("06.md", "07.md", "08.md"), "02.md"),  # a whole part replaced: no longer read
    ]
    for step, (names, deleted) in enumerate(steps, start=1):
        for name in names:
            url = f"https://e.com/{int(name[:2])}"
            write(source, name, doc(url, title=f"edit {step}"), OLD + 10 * step)
        (source / deleted).unlink()
        run_ingest(source, wh, patch_limit=1.0, chunk_size=3)
        assert is_patched(wh)
        published = snapshot(wh)
        _, partial = current_parts(wh.parts, state_parts(published / "state.parquet"))
        assert partial
        carried = sorted(pq.read_table(published / SUPERSEDED_FILE).to_pylist(), key=str)
        with duckdb.connect() as con:
            found = _find_superseded(con, wh.parts, partial, published / "state.parquet")
        assert carried == sorted(found.to_pylist(), key=str) and carried
        # the parts that hold superseded rows are those whose files' count (in the footer
        # of their files.parquet) is not the state's, the ones a patch filters
        assert {row["part"] for row in carried} == set(partial)
        assert tables(wh) == full_refresh_of(source, tmp_path)
