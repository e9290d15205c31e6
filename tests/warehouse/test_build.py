"""The rules that need all files at once: winner, related_article_id, providers, sources."""

import math
from pathlib import Path

import duckdb
import pytest

from tests.conftest import build_warehouse
from transforms.urls import article_id
from warehouse import Warehouse, connect
from warehouse.store import published_state


def doc(url, published=None, title="T", extra=""):
    stamp = f"publishedDateTime: {published}\n" if published else ""
    return f"---\ntitle: {title}\nwebUrl: {url}\n{stamp}{extra}---\n"


def build(tmp_path: Path, files: dict[str, str], chunks: int = 1) -> duckdb.DuckDBPyConnection:
    chunk_size = max(1, math.ceil(len(files) / chunks))
    return connect(build_warehouse(tmp_path, files, chunk_size))


def rows(con, sql):
    return con.execute(sql).fetchall()


@pytest.mark.parametrize("chunks", [1, 2])
def test_latest_publication_wins_and_every_file_stays_a_source(tmp_path, chunks):
    con = build(
        tmp_path,
        {
            "a.md": doc("https://e.com/x", "2021-01-02", title="newest"),
            "b.md": doc("https://E.com/x?utm_source=t", "2021-01-01", title="older"),
            "c.md": doc("https://e.com/x#frag", None, title="undated"),
            "d.md": doc("https://e.com/x", "bad date", title="bad"),
        },
        chunks,
    )
    assert rows(con, "SELECT title, source_path FROM articles") == [("newest", "a.md")]
    assert rows(con, "SELECT source_path, is_current FROM article_sources") == [
        ("a.md", True),
        ("b.md", False),
        ("c.md", False),
        ("d.md", False),
    ]
    assert rows(con, "SELECT DISTINCT article_id FROM article_sources") == [
        (article_id("https://e.com/x"),)
    ]


def test_tie_goes_to_greatest_source_path_in_byte_order(tmp_path):
    con = build(
        tmp_path,
        {
            "a/z.md": doc("https://e.com/x", "2021-01-01", title="a/z"),
            "b.md": doc("https://e.com/x", "2021-01-01T00:00:00Z", title="b"),
            "B.md": doc("https://e.com/x", "2021-01-01", title="B"),
            "é.md": doc("https://e.com/y", None, title="é"),
            "z.md": doc("https://e.com/y", None, title="z"),
        },
    )
    assert rows(con, "SELECT title FROM articles ORDER BY title") == [("b",), ("é",)]


def test_the_winners_whole_record_is_the_article(tmp_path):
    con = build(
        tmp_path,
        {
            "old.md": doc(
                "https://e.com/x", "2020-01-01", extra="topics: [old]\nimages:\n  - url: o\n"
            ),
            "new.md": doc("https://e.com/x", "2021-01-01", extra="topics: [new, newer]\n"),
        },
    )
    assert rows(con, "SELECT topic FROM article_topics ORDER BY position") == [
        ("new",),
        ("newer",),
    ]
    assert rows(con, "SELECT count(*) FROM images") == [(0,)]


def test_field_issues_come_from_every_parsed_file(tmp_path):
    con = build(
        tmp_path,
        {
            "old.md": doc("https://e.com/x", "2020-01-01", extra="quality: 3.5\n"),
            "new.md": doc("https://e.com/x", "2021-01-01", extra="heat: hot\n"),
        },
    )
    assert rows(con, "SELECT source_path, field, problem FROM field_issues") == [
        ("new.md", "heat", "not_an_integer"),
        ("old.md", "quality", "not_an_integer"),
    ]


def test_related_article_id_links_by_url_key_including_self_links(tmp_path):
    related = (
        "related:\n  - webUrl: https://E.com/b?utm_medium=x\n"
        "  - webUrl: https://e.com/a\n  - webUrl: https://e.com/missing\n  - title: none\n"
    )
    con = build(
        tmp_path, {"a.md": doc("https://e.com/a", extra=related), "b.md": doc("https://e.com/b")}
    )
    assert rows(con, "SELECT position, related_article_id FROM related_items ORDER BY 1") == [
        (0, article_id("https://e.com/b")),
        (1, article_id("https://e.com/a")),
        (2, None),
        (3, None),
    ]


def test_providers_name_is_most_frequent_then_smallest(tmp_path):
    def prov(url, name):
        return doc(url, extra=f"provider: {{name: '{name}', domain: www.site.org}}\n")

    related = (
        "related:\n  - webUrl: https://site.org/r1\n    provider: Beta\n"
        "  - webUrl: https://other.net/r2\n"
    )
    con = build(
        tmp_path,
        {
            "1.md": prov("https://site.org/1", "Beta"),
            "2.md": prov("https://site.org/2", "Alpha"),
            "3.md": doc("https://site.org/3", extra="provider: Alpha\n" + related),
        },
    )
    assert rows(con, "SELECT domain, name, n_articles, n_related FROM providers") == [
        ("other.net", None, 0, 1),
        ("site.org", "Alpha", 3, 1),
    ]


def test_rejected_files_and_sources_partition_the_candidates(tmp_path):
    con = build(
        tmp_path,
        {
            "ok.md": doc("https://e.com/a"),
            "bad.md": "no front matter",
            "list.md": "---\n- a\n---\n",
        },
    )
    assert rows(con, "SELECT source_path, reason FROM rejected_files") == [
        ("bad.md", "no_front_matter"),
        ("list.md", "not_a_mapping"),
    ]
    assert rows(con, "SELECT source_path FROM article_sources") == [("ok.md",)]
    sizes = rows(con, "SELECT size_bytes, length(source_sha256) FROM rejected_files")
    assert sizes == [(15, 64), (12, 64)]


def test_empty_source_gives_empty_tables(tmp_path):
    con = build(tmp_path, {})
    for table in ["articles", "providers", "related_items", "field_issues"]:
        assert rows(con, f"SELECT count(*) FROM {table}") == [(0,)]


def test_a_build_out_of_memory_is_tried_again_with_more(tmp_path, monkeypatch):
    import warehouse.build as build_module

    files = {f"{i}.md": doc(f"https://e.com/{i}", extra="topics: [a, b]\n") for i in range(50)}
    monkeypatch.setattr(build_module, "MEMORY_LIMITS", ("1KB",))
    with pytest.raises(duckdb.OutOfMemoryException):
        build(tmp_path / "a", files)
    monkeypatch.setattr(build_module, "MEMORY_LIMITS", ("1KB", "512MB"))
    con = build(tmp_path / "b", files)
    assert rows(con, "SELECT count(*) FROM article_topics") == [(100,)]
    # the snapshot's state, written before the build, survived the failed attempt
    assert published_state(Warehouse(tmp_path / "b" / "wh")).num_rows == 50


def test_a_build_is_tried_again_after_its_database_spilled(tmp_path):
    # DuckDB cannot move a database's spill folder once it has spilled: neither the try
    # after running out nor a later build may ask it to
    from warehouse.build import _with_memory_limits

    tries = []

    def write(con):
        tries.append(con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0])
        if len(tries) == 1:  # a sort larger than the memory limit spills, then it runs out
            con.execute("SET memory_limit = '100MB'")
            sort = "SELECT repeat('x', 100) || range AS s FROM range(2000000) ORDER BY s DESC"
            con.execute(f"COPY ({sort}) TO '{tmp_path / 'sorted.parquet'}'")
            with pytest.raises(duckdb.NotImplementedException, match="temporary directory"):
                con.execute(f"SET temp_directory = '{tmp_path / 'elsewhere'}'")  # it spilled
            raise duckdb.OutOfMemoryException("as if the build ran out")
        return len(tries)

    spill = tmp_path / "spill"
    assert _with_memory_limits(tmp_path / "snapshot", write, spill) == 2
    assert _with_memory_limits(tmp_path / "other", write, tmp_path / "other-spill") == 3
    assert tries == [str(spill), str(spill), str(tmp_path / "other-spill")]


def test_parts_whose_names_hash_alike_stop_the_build():
    import warehouse.build as build_module

    with duckdb.connect() as con:
        build_module._check_part_hashes(con, ["r/000000", "r/000001"])
        with pytest.raises(RuntimeError, match="--full-refresh"):
            build_module._check_part_hashes(con, ["r/000000", "r/000000"])
