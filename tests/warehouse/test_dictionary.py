"""The data dictionary is complete, is in every catalog, and docs/schema.md matches it."""

from tests.conftest import ROOT, build_warehouse
from tests.warehouse.helpers import tables
from transforms.urls import article_id
from warehouse import connect
from warehouse.build import TABLES
from warehouse.catalog import DERIVED_VIEWS
from warehouse.dictionary import DICTIONARY
from warehouse.schema_doc import schema_document


def test_every_table_and_view_is_described(published_warehouse):
    assert set(DICTIONARY) == set(TABLES) | {"load_runs"} | set(DERIVED_VIEWS)
    with connect(published_warehouse) as con:
        views = dict(
            con.execute(
                "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        )
        columns = con.execute(
            "SELECT table_name, column_name, comment FROM duckdb_columns() "
            "WHERE NOT internal ORDER BY table_name, column_index"
        ).fetchall()
    assert set(views) == set(DICTIONARY)
    for name, comment in views.items():
        assert comment.startswith(f"One row per {DICTIONARY[name].grain}. ")
    found: dict[str, dict[str, str]] = {}
    for table, column, comment in columns:
        found.setdefault(table, {})[column] = comment
    for name, table in DICTIONARY.items():
        # every column is described, in the catalog's order, with the dictionary's text
        assert list(found[name]) == list(table.columns), name
        assert found[name] == table.columns
        assert all(text.strip() for text in table.columns.values())


def test_docs_schema_md_is_up_to_date():
    assert (ROOT / "docs" / "schema.md").read_text() == schema_document(), (
        "docs/schema.md is out of date: run `make docs`"
    )


def doc(url: str, related: list[str]) -> str:
    lines = ["---", f"title: {url}", f"webUrl: {url}", "related:"]
    lines += [f"  - title: r\n    webUrl: {target}" for target in related]
    return "\n".join([*lines, "---", ""]) if related else f"---\ntitle: {url}\nwebUrl: {url}\n---\n"


def test_story_clusters_follow_the_related_links(tmp_path):
    u = {name: f"https://e.org/{name}" for name in "abcdefg"}
    files = {
        "a.md": doc(u["a"], [u["b"]]),  # a chain a - b - c
        "b.md": doc(u["b"], [u["c"]]),
        "c.md": doc(u["c"], []),
        "d.md": doc(u["d"], [u["e"]]),  # a cycle d - e - d
        "e.md": doc(u["e"], [u["d"]]),
        "f.md": doc(u["f"], [u["f"]]),  # a self-link
        "g.md": doc(u["g"], ["https://elsewhere.org/missing"]),  # a link to no article
    }
    root = build_warehouse(tmp_path, files)
    ids = {name: article_id(url) for name, url in u.items()}
    clusters = {row[0]: row[1:] for row in tables(root)["story_clusters"]}
    chain, cycle = min(ids[n] for n in "abc"), min(ids[n] for n in "de")
    assert clusters == {
        ids["a"]: (chain, 3),
        ids["b"]: (chain, 3),
        ids["c"]: (chain, 3),
        ids["d"]: (cycle, 2),
        ids["e"]: (cycle, 2),
        ids["f"]: (ids["f"], 1),
        ids["g"]: (ids["g"], 1),
    }
    with connect(root) as con:
        facts = con.execute(
            "SELECT n_related, n_related_resolved, cluster_size FROM article_facts "
            f"WHERE article_id = '{ids['g']}'"
        ).fetchall()
    assert facts == [(1, 0, 1)]


def test_topic_daily_counts_utc_days_and_provider_coverage_spans_dates(tmp_path):
    def article(name: str, when: str, provider: str) -> str:
        return (
            f"---\ntitle: {name}\nwebUrl: https://{provider}/{name}\n"
            f"publishedDateTime: {when}\ntopics: [AI, Courts]\n---\n"
        )

    root = build_warehouse(
        tmp_path,
        {
            "late.md": article("late", "2021-01-01T02:00:00Z", "one.org"),
            "same-day.md": article("same", "2021-01-01T23:00:00Z", "one.org"),
            "next.md": article("next", "2021-01-02T10:00:00+05:00", "two.org"),
        },
    )
    with connect(root) as con:
        con.execute("SET TimeZone = 'America/New_York'")  # days must not follow the session
        daily = con.execute(
            "SELECT topic, day::VARCHAR, articles FROM topic_daily ORDER BY 1, 2"
        ).fetchall()
        coverage = con.execute(
            "SELECT domain, articles, first_published_at < last_published_at "
            "FROM provider_coverage ORDER BY 1"
        ).fetchall()
    assert daily == [
        ("AI", "2021-01-01", 2),
        ("AI", "2021-01-02", 1),
        ("Courts", "2021-01-01", 2),
        ("Courts", "2021-01-02", 1),
    ]
    assert coverage == [("one.org", 2, True), ("two.org", 1, False)]


def test_the_readme_queries_run_on_the_sample_warehouse(tmp_path):
    import shlex

    from tests.conftest import SAMPLE_CORPUS
    from warehouse import Warehouse
    from warehouse.pipeline import run_ingest

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Explore the data", 1)[1].split("\n## ", 1)[0]
    queries = [
        shlex.split(line)[2]
        for line in section.splitlines()
        if line.startswith(".venv/bin/newsfront sql ")
    ]
    assert len(queries) == 4
    run_ingest(SAMPLE_CORPUS, Warehouse(tmp_path / "wh"))
    with connect(tmp_path / "wh") as con:
        for query in queries:
            assert con.execute(query).fetchall(), query
