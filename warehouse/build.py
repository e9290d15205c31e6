"""The rules that need every file at once, as SQL over the staged parts (contract sections 3-4):
the duplicate winner, `related_article_id`, `providers`, and the final column order.

The staged rows that count are those of each file's current part, as the state says: the
views `stg_<name>`, while `all_<name>` hold every staged row. Each published table is then
one SELECT over them.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from transforms.stories import story_clusters
from transforms.tables import STAGED_SCHEMAS
from warehouse.state import state_parts

# Winner per url_key: latest published_at (missing counts as earliest), then the greatest
# source_path in byte order (DuckDB compares strings byte by byte, as UTF-8). With a hash of
# its part, so the winners' rows are found among all staged rows (`all_<name>`) without
# filtering the parts first: that filter doubled the articles build after a change (0.56 s
# to 1.1 s at 100,000 files), and the part's 36-character name in this, the build's largest
# hash table, made it run out of 256 MB at 500,000 files. The parts' hashes are checked to
# be distinct (_check_part_hashes), so the match stays exact.
WINNERS = """
SELECT source_path, hash(part) AS part_hash FROM stg_articles
QUALIFY row_number() OVER (
    PARTITION BY url_key ORDER BY published_at DESC NULLS LAST, source_path DESC) = 1
"""

TABLES: dict[str, str] = {
    "articles": """
        SELECT article_id, url_key, title, excerpt, category, type, published_at,
               original_url, web_url, amp_url, cdn_amp_url, provider_domain, provider_name,
               quality, heat, is_published, secured, body, extra, source_path, source_sha256
        FROM all_articles t SEMI JOIN winners w
            ON t.source_path = w.source_path AND hash(t.part) = w.part_hash
        ORDER BY article_id""",
    "article_topics": """
        SELECT article_id, position, topic
        FROM all_topics t SEMI JOIN winners w
            ON t.source_path = w.source_path AND hash(t.part) = w.part_hash
        ORDER BY article_id, position""",
    "related_items": """
        SELECT r.article_id, r.position, r.title, r.excerpt, r.published_at, r.web_url,
               r.amp_url, r.cdn_amp_url, r.type, r.provider_domain, r.provider_name, r.quality,
               a.article_id AS related_article_id
        FROM all_related r SEMI JOIN winners w
            ON r.source_path = w.source_path AND hash(r.part) = w.part_hash
        LEFT JOIN articles a ON a.url_key = r.web_url_key
        ORDER BY r.article_id, r.position""",
    "images": """
        SELECT article_id, related_position, position, url, width, height, is_cached, title
        FROM all_images t SEMI JOIN winners w
            ON t.source_path = w.source_path AND hash(t.part) = w.part_hash
        ORDER BY article_id, related_position NULLS FIRST, position""",
    "providers": """
        WITH mentions AS (
            SELECT provider_domain AS domain, provider_name AS name, 1 AS in_articles
            FROM articles WHERE provider_domain IS NOT NULL
            UNION ALL
            SELECT provider_domain, provider_name, 0
            FROM related_items WHERE provider_domain IS NOT NULL
        ), names AS (
            SELECT domain, name FROM mentions WHERE name IS NOT NULL
            GROUP BY domain, name
            QUALIFY row_number() OVER (PARTITION BY domain ORDER BY count(*) DESC, name) = 1
        )
        SELECT m.domain, any_value(n.name) AS name,
               count(*) FILTER (WHERE in_articles = 1) AS n_articles,
               count(*) FILTER (WHERE in_articles = 0) AS n_related
        FROM mentions m LEFT JOIN names n USING (domain)
        GROUP BY m.domain
        ORDER BY m.domain""",
    # Computed in Python (transforms.stories) from the links in related_items; see
    # _register_clusters, which provides the `clusters` rows.
    "story_clusters": """
        SELECT article_id, cluster_id, cluster_size
        FROM clusters
        ORDER BY cluster_id, article_id""",
    "article_sources": """
        SELECT source_path, source_sha256, size_bytes, article_id,
               source_path IN (SELECT source_path FROM winners) AS is_current
        FROM stg_articles
        ORDER BY source_path""",
    "rejected_files": """
        SELECT source_path, source_sha256, size_bytes, reason, detail
        FROM stg_rejected
        ORDER BY source_path""",
    "field_issues": """
        SELECT source_path, article_id, field, problem, raw_value
        FROM stg_issues
        ORDER BY source_path, seq""",
}

# DuckDB fills its memory limit before it spills sorts and joins to the warehouse tmp
# folder, so the limit is what bounds the build's memory whatever the corpus size (measured
# at 500,000 files: 256 MB gave a peak 260 MB lower than 512 MB, for 2 s more of sorting).
# Not everything can spill: a build that runs out anyway is tried again with twice the
# limit, so an unusual corpus is slower, not failed.
MEMORY_LIMITS = ("256MB", "512MB", "1GB", "2GB", "4GB", "8GB")
# Row groups of 32K rows let DuckDB scan a table on every core (measured: the benchmark
# queries on views went from up to 1.7x to about 1.3x of native tables).
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 32768"


def build_snapshot(
    parts: Path,
    state_file: Path,
    snapshot_dir: Path,
    compact_into: Path | None = None,
    spill_dir: Path | None = None,
) -> dict[str, int]:
    """Write every published table as `<snapshot_dir>/<table>.parquet`; return row counts.

    `parts` is the folder of parts; the state in `state_file` names each file's current
    part. With `compact_into`, the current staged rows are also rewritten there as a single
    part.
    """
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    whole, partial = current_parts(parts, state_parts(state_file))
    for limit in MEMORY_LIMITS:
        for table in TABLES:  # what a build that ran out of memory wrote
            (snapshot_dir / f"{table}.parquet").unlink(missing_ok=True)
        try:
            return _build(
                parts, state_file, whole, partial, snapshot_dir, compact_into, spill_dir, limit
            )
        except duckdb.OutOfMemoryException:
            if limit == MEMORY_LIMITS[-1]:
                raise
    raise AssertionError("unreachable")


def _build(
    parts, state_file, whole, partial, snapshot_dir, compact_into, spill_dir, memory_limit
) -> dict[str, int]:
    counts: dict[str, int] = {}
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        if spill_dir is not None:
            spill_dir.mkdir(parents=True, exist_ok=True)
            con.execute(f"SET temp_directory = {_sql_str(str(spill_dir))}")
        if partial:
            _find_superseded(con, parts, partial, state_file)
        for name, schema in STAGED_SCHEMAS.items():
            con.register(
                f"empty_{name}",
                schema.empty_table().append_column("part", pa.array([], pa.string())),
            )
            selects = [f"SELECT * FROM empty_{name}"]
            if whole or partial:
                selects.append(f"SELECT * FROM {_read_parquet(parts, whole + partial, name)}")
            # by name, not by position: the parts and the empty table need only the same columns
            con.execute(f"CREATE TEMP VIEW all_{name} AS {' UNION ALL BY NAME '.join(selects)}")
            # the current rows: one filter over all parts (a union of filtered and unfiltered
            # scans made the sorts that follow run out of 256 MB at 500,000 files)
            current = " ANTI JOIN superseded USING (source_path, part)" if partial else ""
            con.execute(f"CREATE TEMP VIEW stg_{name} AS SELECT * FROM all_{name}{current}")
        _check_part_hashes(con, whole + partial)
        con.execute(f"CREATE TEMP TABLE winners AS {WINNERS}")
        for table, query in TABLES.items():
            if table == "story_clusters":
                _register_clusters(con)
            target = _sql_str(str(snapshot_dir / f"{table}.parquet"))
            # Streamed to Parquet, not held in memory; later queries (related_items,
            # providers) read the written file by the table's name.
            con.execute(f"COPY ({query}) TO {target} ({PARQUET_OPTIONS})")
            con.execute(
                f"CREATE TEMP VIEW {table} AS "
                f"SELECT * FROM read_parquet({target}, hive_partitioning = false)"
            )
            counts[table] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        if compact_into is not None:
            _compact(con, compact_into)
    return counts


def current_parts(parts: Path, state_parts: pa.ChunkedArray) -> tuple[list[str], list[str]]:
    """The parts the state names (`state_parts`, a part per file), split in two: those whose
    every file is current (all of a full load's), read whole, and those where later runs
    replaced some files, whose rows are filtered (see _find_superseded)."""
    whole, partial = [], []
    counts = pc.value_counts(state_parts)
    for part, current in zip(
        counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
    ):
        files = parts / part / "files.parquet"  # a compacted part has none: filtered
        read = pq.ParquetFile(files).metadata.num_rows if files.exists() else None
        (whole if read == current else partial).append(part)
    return sorted(whole), sorted(partial)


def _check_part_hashes(con: duckdb.DuckDBPyConnection, parts: list[str]) -> None:
    distinct = con.execute(
        "SELECT count(DISTINCT hash(part)) FROM unnest(?::VARCHAR[]) AS t(part)", [parts]
    ).fetchall()[0][0]
    if distinct != len(parts):  # about one chance in 10^14 for a thousand parts
        raise RuntimeError(
            "two staged parts' names hash alike, so the build cannot tell their rows apart; "
            "run with --full-refresh, which stages every file again under new names"
        )


def _find_superseded(
    con: duckdb.DuckDBPyConnection, parts: Path, partial: list[str], state_file: Path
) -> None:
    """Table `superseded`: (source_path, part) of each file that has rows in one of the
    `partial` parts but whose current rows are elsewhere, or gone (changed or deleted since
    the part was written). They are few: filtering the parts by them takes a small hash
    table, where joining the parts to every file's state in each query did not fit in
    512 MB at 500,000 files. The one join to the state here is narrow, and runs alone."""
    held = " UNION ALL ".join(  # every staged file is an article or rejected
        f"SELECT source_path, part FROM {_read_parquet(parts, partial, name)}"
        for name in ("articles", "rejected")
    )
    con.execute(
        f"CREATE TEMP TABLE superseded AS SELECT * FROM ({held}) ANTI JOIN "
        f"read_parquet({_sql_str(str(state_file))}, hive_partitioning = false) "
        "USING (source_path, part)"
    )


def _read_parquet(parts: Path, names: list[str], table: str) -> str:
    """read_parquet of the named parts' files of `table`. Not as Hive partitions: a folder
    such as `part=x` above the warehouse would otherwise replace the `part` column."""
    files = _sql_list([str(parts / part / f"{table}.parquet") for part in names])
    return f"read_parquet({files}, hive_partitioning = false)"


def _register_clusters(con: duckdb.DuckDBPyConnection) -> None:
    """`clusters`: each article's story cluster, from the articles and related_items
    already written."""
    articles = con.sql("SELECT article_id FROM articles ORDER BY article_id").to_arrow_table()
    links = con.sql(
        "SELECT article_id, related_article_id FROM related_items "
        "WHERE related_article_id IS NOT NULL AND related_article_id <> article_id"
    ).to_arrow_table()
    clusters = story_clusters(
        articles.column(0).combine_chunks(),
        links.column(0).combine_chunks(),
        links.column(1).combine_chunks(),
    )
    con.register("clusters", clusters)


def _compact(con: duckdb.DuckDBPyConnection, part_dir: Path) -> None:
    """Rewrite the current staged rows as one part named after its folder."""
    part = f"{part_dir.parent.name}/{part_dir.name}"
    tmp = part_dir.with_name(part_dir.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for name in STAGED_SCHEMAS:
        target = _sql_str(str(tmp / f"{name}.parquet"))
        con.execute(
            f"COPY (SELECT * REPLACE ({_sql_str(part)} AS part) FROM stg_{name} "
            f"ORDER BY source_path) TO {target} (FORMAT parquet, COMPRESSION zstd)"
        )
    tmp.rename(part_dir)


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_list(items: list[str]) -> str:
    return "[" + ", ".join(_sql_str(item) for item in items) + "]"
