"""The data dictionary: what every table, view and column of the warehouse means, said once.

It is written into each catalog as `COMMENT ON VIEW` / `COMMENT ON COLUMN` (so DuckDB's
`duckdb_views()`, `duckdb_columns()`, `information_schema` and database tools show it) and
rendered into `docs/schema.md` by `newsfront docs`; tests check that both match the code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    grain: str  # one row per ...
    description: str
    columns: dict[str, str]


_SOURCE_PATH = (
    "Path of the source file below the source folder (or prefix), `/` separated. A byte of "
    "a name that is not UTF-8 is written `\\xNN`, and a backslash `\\\\`."
)
_ARTICLE_ID = (
    "The article's key: the first 16 hex digits of the SHA-256 of its `url_key`, "
    "the same on every machine and run."
)
_PROVIDER_DOMAIN = (
    "Provider's domain: trimmed, lower-cased, one leading `www.` removed; from the URL's "
    "host when the file names none."
)

DICTIONARY: dict[str, Table] = {
    "articles": Table(
        "article (distinct `url_key`)",
        "When several files share a `url_key`, the winning file's whole record (latest "
        "`publishedDateTime`, then greatest `source_path`).",
        {
            "article_id": _ARTICLE_ID,
            "url_key": "`originalUrl` (else `webUrl`) normalised: lower-case scheme and host, "
            "no default port, no fragment, no `utm_*`/`fbclid`/`gclid` parameters.",
            "title": "`title`, exactly as written.",
            "excerpt": "`excerpt`.",
            "category": "`category`.",
            "type": "`type`.",
            "published_at": "`publishedDateTime` as a UTC timestamp; NULL when missing or "
            "unreadable (see field_issues).",
            "original_url": "`originalUrl`, as written.",
            "web_url": "`webUrl`, as written.",
            "amp_url": "`ampWebUrl`.",
            "cdn_amp_url": "`cdnAmpWebUrl`.",
            "provider_domain": _PROVIDER_DOMAIN,
            "provider_name": "`provider.name` (or `provider` when it is a plain string).",
            "quality": "`quality` as an integer; NULL when it is not one (see field_issues).",
            "heat": "`heat` as an integer; NULL when it is not one (see field_issues).",
            "is_published": "`published` as a boolean; NULL when it is not one.",
            "secured": "`secured`, opaque, exactly as given.",
            "body": "The markdown after the front matter, stripped; NULL when empty.",
            "extra": "Keys the contract does not know, as a JSON object of their paths "
            "(`removed`, `related[2].sourceUrl`) to their values; NULL when none.",
            "source_path": "The winning source file. " + _SOURCE_PATH,
            "source_sha256": "SHA-256 of the winning file's bytes.",
        },
    ),
    "article_topics": Table(
        "topic kept",
        "An article's topics: trimmed, empty items and repeats dropped.",
        {
            "article_id": _ARTICLE_ID,
            "position": "Index of the topic in the file's `topics` list.",
            "topic": "The topic, trimmed.",
        },
    ),
    "related_items": Table(
        "item of an article's `related` list that was kept",
        "Related coverage listed by an article, resolved to an article of the warehouse "
        "where its URL matches one.",
        {
            "article_id": "The article that lists the item. " + _ARTICLE_ID,
            "position": "Index of the item in the file's `related` list.",
            "title": "The item's `title`.",
            "excerpt": "The item's `excerpt`.",
            "published_at": "The item's `publishedDateTime` as a UTC timestamp.",
            "web_url": "The item's `webUrl`.",
            "amp_url": "The item's `ampWebUrl`.",
            "cdn_amp_url": "The item's `cdnAmpWebUrl`.",
            "type": "The item's `type`.",
            "provider_domain": _PROVIDER_DOMAIN,
            "provider_name": "The item's provider name.",
            "quality": "The item's `quality` as an integer.",
            "related_article_id": "The article whose `url_key` equals this item's normalised "
            "`webUrl` (a self-link included); NULL when the warehouse has none.",
        },
    ),
    "images": Table(
        "image kept, of an article or of one of its related items",
        "Images of articles and of their related items.",
        {
            "article_id": _ARTICLE_ID,
            "related_position": "Position of the related item the image belongs to; NULL for "
            "the article's own images.",
            "position": "Index of the image in its `images` list.",
            "url": "The image's `url`.",
            "width": "`width` in pixels, as an integer.",
            "height": "`height` in pixels, as an integer.",
            "is_cached": "`isCached` as a boolean.",
            "title": "The image's `title`.",
        },
    ),
    "providers": Table(
        "domain named in `articles` or `related_items`",
        "News providers, by domain.",
        {
            "domain": "The provider's domain (the key).",
            "name": "The most frequent non-NULL name written for the domain (ties: the "
            "smallest); NULL when none was written.",
            "n_articles": "Articles that name the domain.",
            "n_related": "Related items that name the domain.",
        },
    ),
    "story_clusters": Table(
        "article",
        "Stories: the connected components of the graph whose undirected edges are the "
        "`related_article_id` links; an article nothing links is a cluster of one.",
        {
            "article_id": _ARTICLE_ID,
            "cluster_id": "The smallest `article_id` in the cluster: the same links give the "
            "same id on every run.",
            "cluster_size": "Articles in the cluster.",
        },
    ),
    "article_sources": Table(
        "source file that parsed",
        "Every file that became (or lost its `url_key` to) an article.",
        {
            "source_path": _SOURCE_PATH,
            "source_sha256": "SHA-256 of the file's bytes.",
            "size_bytes": "Size of the file in bytes.",
            "article_id": "The article of the file's `url_key`. " + _ARTICLE_ID,
            "is_current": "Whether this file is the article's winning source.",
        },
    ),
    "rejected_files": Table(
        "source file that could not become an article",
        "Files rejected, with the first check they failed.",
        {
            "source_path": _SOURCE_PATH,
            "source_sha256": "SHA-256 of the file's bytes; NULL when it could not be read.",
            "size_bytes": "Size of the file in bytes, when known.",
            "reason": "unreadable, too_large, encoding, no_front_matter, too_complex, "
            "syntax_error, not_a_mapping or missing_required.",
            "detail": "What is wrong, in a sentence a person can act on (with line and column "
            "for syntax errors).",
        },
    ),
    "field_issues": Table(
        "value that was dropped or nulled",
        "Values of parsed files that did not fit the schema: the article keeps NULL (or "
        "drops the item) and the problem is recorded here.",
        {
            "source_path": _SOURCE_PATH,
            "article_id": _ARTICLE_ID,
            "field": "Path into the front matter: `quality`, `images[1].width`, "
            "`related[2].publishedDateTime`.",
            "problem": "not_an_integer, not_a_boolean, bad_timestamp, wrong_shape, "
            "not_a_mapping or missing_url.",
            "raw_value": "The value as written, as text.",
        },
    ),
    "load_runs": Table(
        "run of the pipeline",
        "Every run, failed and killed ones included.",
        {
            "run_id": "The run's id: its UTC start time and a random suffix.",
            "flow_run_id": "The Prefect flow run's id, to find the run in Prefect's UI.",
            "source": "The source the run read.",
            "started_at": "When the run started (UTC); for a run that staged ahead of its "
            "lock, when that staging began.",
            "finished_at": "When it ended; NULL while it runs or if it was killed.",
            "status": "running, succeeded, failed or killed.",
            "full_refresh": "Whether the run ignored the previous state.",
            "files_seen": "Candidate files listed: parsed + rejected + unchanged.",
            "files_parsed": "Files read and parsed into an article in this run.",
            "files_unchanged": "Files not parsed again (unchanged size and mtime, or bytes).",
            "files_deleted": "Files gone since the last run.",
            "files_rejected": "Files read and rejected in this run.",
            "articles": "Articles in the warehouse after the run.",
            "error": "What stopped a failed run.",
            "listing_seconds": "Seconds spent listing the source, reading the state and "
            "planning what to read (after listing ahead of the run, only the wait for it); "
            "NULL for a run that did not finish.",
            "staging_seconds": "Seconds spent reading and parsing files into staged parts "
            "(after staging ahead of the run's lock, only the wait for what was left).",
            "publishing_seconds": "Seconds spent building and publishing the snapshot.",
        },
    ),
    "article_facts": Table(
        "article",
        "One row per article with its provider, how much it carries and its story.",
        {
            "article_id": _ARTICLE_ID,
            "title": "The article's title.",
            "published_at": "The article's publication time (UTC).",
            "provider_domain": "The article's provider domain.",
            "provider_name": "The provider's name, from `providers`.",
            "n_topics": "Topics of the article.",
            "n_images": "The article's own images (not those of its related items).",
            "n_related": "Related items the article lists.",
            "n_related_resolved": "Of those, the ones that are articles of the warehouse.",
            "cluster_id": "The article's story cluster (see story_clusters).",
            "cluster_size": "Articles in that story.",
        },
    ),
    "topic_daily": Table(
        "topic and UTC day",
        "Articles per topic per UTC day of publication (articles without a date left out).",
        {
            "topic": "The topic.",
            "day": "The UTC date of publication.",
            "articles": "Articles with that topic published that day.",
        },
    ),
    "provider_coverage": Table(
        "provider",
        "Per provider: how much it published and how often others link to it.",
        {
            "domain": "The provider's domain.",
            "name": "The provider's name.",
            "articles": "Articles of the provider.",
            "related_mentions": "Related items, in any article, that name the provider.",
            "first_published_at": "Its earliest article's publication time (UTC).",
            "last_published_at": "Its latest article's publication time (UTC).",
        },
    ),
}


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def comment_statements() -> list[str]:
    """COMMENT statements for every view of the catalog."""
    statements = []
    for name, table in DICTIONARY.items():
        summary = f"One row per {table.grain}. {table.description}"
        statements.append(f"COMMENT ON VIEW {name} IS {_sql_str(summary)}")
        for column, text in table.columns.items():
            statements.append(f"COMMENT ON COLUMN {name}.{column} IS {_sql_str(text)}")
    return statements


def schema_markdown(types: dict[str, dict[str, str]]) -> str:
    """docs/schema.md: every table and view, its grain, and each column with its DuckDB
    type (`types[table][column]`, from a catalog) and meaning."""
    lines = [
        "# Warehouse schema",
        "",
        "Generated from `warehouse/dictionary.py` by `newsfront docs`; do not edit by hand.",
        "The same text is in `news.duckdb` as comments: `SELECT * FROM duckdb_columns()`.",
        "",
    ]
    for name, table in DICTIONARY.items():
        lines += [
            f"## `{name}`",
            "",
            f"One row per {table.grain}. {table.description}",
            "",
            "| column | type | meaning |",
            "| --- | --- | --- |",
        ]
        for column, text in table.columns.items():
            kind = types.get(name, {}).get(column, "")
            meaning = text.replace("|", "\\|")
            lines.append(f"| `{column}` | {kind} | {meaning} |")
        lines.append("")
    return "\n".join(lines)
