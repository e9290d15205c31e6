"""The rules that need every file at once, as SQL over the staged parts (contract sections 3-4):
the duplicate winner, `related_article_id`, `providers`, and the final column order.

The staged rows that count are those of each file's current part, as the state says: the
views `stg_<name>`, while `all_<name>` hold every staged row. Each published table is then
one SELECT over them.

A snapshot is built whole (`build_snapshot`), or patched from the one before it when few
files changed (`patch_snapshot`): only the rows of the changed articles and files are made
again. A table of DELTA_TABLES (`articles`, say) then keeps the earlier snapshot's file,
hard-linked, as its base, with two small files beside it: the changed rows
(`articles.delta.parquet`) and the numbers of the base's rows they replace or remove
(`articles.deleted.parquet`). `table_sql` reads it either way. The other tables keyed by
article or file are rewritten from the earlier snapshot's, narrow enough to copy, or
hard-linked from it when the change left their rows as they were.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from transforms.stories import story_clusters
from transforms.tables import STAGED_SCHEMAS
from warehouse.engine import forget_database, new_connection
from warehouse.memory import release_memory
from warehouse.state import has_current_layout, state_parts

# Winner per url_key: latest published_at (missing counts as earliest), then the greatest
# source_path in byte order (DuckDB compares strings byte by byte, as UTF-8): rank 1. By
# article_id, the url_key's hash, which stands for it and is shorter (measured at 100,000
# files: 48 ms against 64 ms by url_key).
WINNER_RANK = """row_number() OVER (
    PARTITION BY article_id ORDER BY published_at DESC NULLS LAST, source_path DESC)"""
# A build keeps the current staged rows (`stg_<name>`) but the losers': they are few, so
# the filter is a small hash table that the rows stream past, as is that of `stg_<name>`.
# (Before, every staged row was joined with a table of winners as large as itself, by a
# hash of its part, and the tables were sorted: 0.5 s more of a 1.6 s build at 100,000
# files. Filtering the parts before those sorts had doubled a rebuild after a change.)
BUILD_WINNER_VIEW = "SELECT * FROM stg_{name} ANTI JOIN losers USING (source_path)"
# A patch's winners are few: their rows are found among all staged rows (`all_<name>`) by
# source_path and a hash of their part. The parts' hashes are checked to be distinct
# (_check_part_hashes), so the match stays exact.
PATCH_WINNER_VIEW = """SELECT t.* FROM all_{name} t SEMI JOIN winners w
    ON t.source_path = w.source_path AND hash(t.part) = w.part_hash"""

# Each published table's query, over the winners' staged rows (`win_<name>`: see
# _winner_views). The tables of every file have a `{changed}` slot, for the filter of a
# patch (see _patch); a build leaves it empty. (Slots are filled by replace, not format: SQL
# may hold braces.) Only an ORDER BY gives a table an order: see _with_memory_limits.
TABLES: dict[str, str] = {
    "articles": """
        SELECT article_id, url_key, title, excerpt, category, type, published_at,
               original_url, web_url, amp_url, cdn_amp_url, provider_domain, provider_name,
               quality, heat, is_published, secured, body, extra, source_path, source_sha256
        FROM win_articles""",
    "article_topics": """
        SELECT article_id, position, topic
        FROM win_topics""",
    "related_items": """
        SELECT r.article_id, r.position, r.title, r.excerpt, r.published_at, r.web_url,
               r.amp_url, r.cdn_amp_url, r.type, r.provider_domain, r.provider_name, r.quality,
               a.article_id AS related_article_id
        FROM win_related r LEFT JOIN articles a ON a.url_key = r.web_url_key""",
    "images": """
        SELECT article_id, related_position, position, url, width, height, is_cached, title
        FROM win_images""",
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
               source_path NOT IN (SELECT source_path FROM losers) AS is_current
        FROM stg_articles {changed}
        ORDER BY source_path""",
    "rejected_files": """
        SELECT source_path, source_sha256, size_bytes, reason, detail
        FROM stg_rejected {changed}
        ORDER BY source_path""",
    "field_issues": """
        SELECT source_path, article_id, field, problem, raw_value
        FROM stg_issues {changed}
        ORDER BY source_path, seq""",
}

# DuckDB fills its memory limit before it spills sorts and joins to the warehouse tmp
# folder, so the limit is what bounds the build's memory whatever the corpus size (measured
# at 500,000 files: 256 MB gave a peak 260 MB lower than 512 MB, for 2 s more of sorting).
# Not everything can spill: a build that runs out anyway is tried again with twice the
# limit, so an unusual corpus is slower, not failed.
MEMORY_LIMITS = ("256MB", "512MB", "1GB", "2GB", "4GB", "8GB")
# Row groups of 32K rows let DuckDB scan a table on every core (measured: the benchmark
# queries on views went from up to 1.7x to about 1.3x of native tables). zstd's level 1
# rather than its default 3: 0.1 s less of a 1 s build at 100,000 files, for files 1% larger.
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 32768"


# A patch makes again the rows of the changed articles, in the tables keyed by article_id
# (articles, article_topics, related_items, images), and those of the changed files, in
# the tables keyed by source_path (article_sources, rejected_files, field_issues).
# `providers` and `story_clusters` depend on every row, and are small: a patch builds them
# whole, unless the rows they depend on are as they were (then it links them).
#
# Tables a patch leaves in their base file, with a delta beside it (see the module's
# docstring), and the column that keys their rows: `articles`, whose bodies make it the
# widest table by far, and `article_sources`, whose row of a file changes with the file's
# content (its hash), so that every patch would copy it whole (measured at 100,000 files, a
# 1% change: 70 ms of a patch of 0.54 s, against 10 ms as a delta).
DELTA_TABLES = {"articles": "article_id", "article_sources": "source_path"}
# A snapshot is patched while the rows patched since the bases were built (in a delta, and
# hidden in a base) of whichever table of DELTA_TABLES has more, and this run's changed files,
# are at most this share of all files; beyond, every table is built whole again
# (NEWSFRONT_PATCH_LIMIT).
DEFAULT_PATCH_LIMIT = 0.1
# Which code made a snapshot's tables: a patch reuses them only if it was this code, whose
# rules they follow (a new version's first run with changes builds every table whole).
BUILD_ID = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
BUILD_ID_FILE = "build_id"
# The staged rows a snapshot's tables left out, of files staged again since their part was
# written (see _staged_views).
SUPERSEDED_FILE = "superseded.parquet"
# Per article, a fingerprint of its rows in each table that depends on them alone (see
# FINGERPRINTED), for a patch to tell whether the rows it made again are the ones it
# replaces without reading the earlier tables (measured at 100,000 files, after a 1% change:
# comparing the rows took 80 ms of a 0.45 s patch).
FINGERPRINTS_FILE = "fingerprints.parquet"
# The fingerprints' columns: of an article's row, its provider (for `providers`); of the
# other tables, the sum of the hashes of the article's rows, modulo 2**64 (a multiset's
# fingerprint, whatever the rows' order). Two different sets of rows fingerprint alike about
# once in 2**64.
FINGERPRINTED = {"topics": "article_topics", "related": "related_items", "images": "images"}
SUPERSEDED_SCHEMA = pa.schema([("source_path", pa.string()), ("part", pa.string())])
# What a patch reads of the snapshot before it, besides its tables and state.
PATCH_FILES = (BUILD_ID_FILE, SUPERSEDED_FILE, FINGERPRINTS_FILE)


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
    return _with_memory_limits(
        snapshot_dir,
        lambda con: _build(con, parts, state_file, snapshot_dir, compact_into),
        spill_dir,
    )


def patch_snapshot(
    parts: Path,
    state_file: Path,
    previous: Path,
    snapshot_dir: Path,
    moved: pa.Table,
    spill_dir: Path | None = None,
    patch_limit: float = DEFAULT_PATCH_LIMIT,
) -> dict[str, int] | None:
    """The tables of `previous` (a published snapshot) brought to the state in `state_file`
    by rewriting only the rows of the articles and files that changed, those of the files
    `moved` (warehouse.state.MOVED_SCHEMA: where the two states differ); return row counts,
    or None (nothing written) to ask for a build: when the changes exceed `patch_limit`
    (see DEFAULT_PATCH_LIMIT), when `previous` was built by other code (BUILD_ID) or from a
    state of an older layout, or when a part it names is gone.

    Correct because every row depends on the files of its own article or file, except
    `related_article_id` (which articles exist: only those whose url_key was touched can
    appear or go) and the two small tables built whole (or linked, when what they depend
    on is unchanged).
    """
    return _with_memory_limits(
        snapshot_dir,
        lambda con: _patch(con, parts, state_file, previous, snapshot_dir, moved, patch_limit),
        spill_dir,
    )


def _with_memory_limits(snapshot_dir: Path, write, spill_dir: Path | None):
    """`write(con)` on a fresh connection, tried again with twice the memory limit when it
    runs out; what a failed try wrote (all but the state) is removed first."""
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    for limit in MEMORY_LIMITS:
        for path in snapshot_dir.iterdir():
            if path.name != "state.parquet":
                path.unlink()
        if spill_dir is not None:
            spill_dir.mkdir(parents=True, exist_ok=True)
        try:
            with new_connection(spill_dir) as con:
                con.execute(f"SET memory_limit = '{limit}'")
                con.execute("SET TimeZone = 'UTC'")
                # Rows are written in whatever order they come from the threads, but for
                # an ORDER BY: keeping the parts' order made writing `articles` 0.6 s
                # instead of 0.36 s at 100,000 files.
                con.execute("SET preserve_insertion_order = false")
                return write(con)
        except duckdb.OutOfMemoryException:
            forget_database()
            if limit == MEMORY_LIMITS[-1]:
                raise
    raise AssertionError("unreachable")


def _build(con, parts, state_file, snapshot_dir, compact_into) -> dict[str, int]:
    _staged_views(con, parts, state_file, snapshot_dir)
    con.execute(
        f"CREATE TEMP TABLE losers AS SELECT source_path FROM stg_articles "
        f"QUALIFY {WINNER_RANK} > 1"
    )
    _winner_views(con, BUILD_WINNER_VIEW)
    counts: dict[str, int] = {}
    for table, query in TABLES.items():
        counts[table] = _write_table(con, snapshot_dir, table, query.replace("{changed}", ""))
    _write_fingerprints(con, snapshot_dir, _fingerprints("articles", FINGERPRINTED))
    _write_build_id(snapshot_dir)
    if compact_into is not None:
        _compact(con, compact_into)
    return counts


def _patch(
    con, parts, state_file, previous, snapshot_dir, moved, patch_limit
) -> dict[str, int] | None:
    build_id = previous / BUILD_ID_FILE
    if not build_id.exists() or build_id.read_text() != BUILD_ID:
        return None  # tables made by other code: this code's rules may differ
    if not all((previous / f"{table}.parquet").exists() for table in TABLES) or not all(
        (previous / name).exists() for name in PATCH_FILES
    ):
        return None  # a file lost: only a build makes it again
    if not (has_current_layout(previous / "state.parquet") and has_current_layout(state_file)):
        return None
    # the files whose part changed, as the run found them (finding them by joining the two
    # states took 45-50 ms at 100,000 files): whose rows left (changed or deleted) are
    # `gone`, whose rows came are `came`
    sides = {
        name: moved.filter(pc.is_valid(moved[side]))
        .select(["source_path", side])
        .rename_columns(["source_path", "part"])
        for name, side in (("gone", "old_part"), ("came", "new_part"))
    }
    for name, rows in sides.items():
        con.register(name, rows)
    side_parts = {name: pc.unique(rows["part"]).to_pylist() for name, rows in sides.items()}
    files, changed_files = pq.ParquetFile(state_file).metadata.num_rows, moved.num_rows
    if changed_files + _patched_rows(previous) > patch_limit * files or not all(
        (parts / part / "articles.parquet").exists() for part in side_parts["gone"]
    ):
        return None
    # the current articles of every part, for the touched ones; the other staged tables
    # are read only in the parts that hold rows to make again (`needed` below)
    staged, filtered = _staged_views(
        con, parts, state_file, snapshot_dir, previous, sides["gone"], tables=("articles",)
    )
    # articles whose files changed: only their winners can change (by article_id, the
    # url_key's hash, which stands for it and is shorter to read). Each side reads only the
    # parts its files are in (`came`: this run's, where all parts took 15 ms more)
    ids = [
        f"SELECT article_id FROM {_read_parquet(parts, names, 'articles')} "
        f"SEMI JOIN {side} USING (source_path, part)"
        for side, names in side_parts.items()
        if names
    ]
    con.execute(
        "CREATE TEMP TABLE touched AS "
        + (" UNION ".join(ids) or "SELECT article_id FROM all_articles WHERE false")
    )
    # the current articles of those: one scan of the staged rows for all that follows
    con.execute(
        "CREATE TEMP TABLE touched_articles AS SELECT source_path, part, article_id, url_key, "
        "published_at FROM stg_articles WHERE article_id IN (SELECT article_id FROM touched)"
    )
    earlier_articles = table_sql(previous, "articles")
    con.execute(
        "CREATE TEMP TABLE earlier_touched AS SELECT article_id, url_key "
        f"FROM ({earlier_articles}) WHERE article_id IN (SELECT article_id FROM touched)"
    )
    # of those, the url_keys with an article before and none now, or the reverse: a related
    # item naming one of them resolves differently now
    con.execute(
        "CREATE TEMP TABLE flipped AS SELECT url_key FROM earlier_touched "
        "WHERE article_id NOT IN (SELECT article_id FROM touched_articles) UNION "
        "SELECT url_key FROM touched_articles "
        "WHERE article_id NOT IN (SELECT article_id FROM earlier_touched)"
    )
    no_flips = not con.execute("SELECT count(*) FROM flipped").fetchall()[0][0]
    # articles rewritten: the touched ones, and those with such a related item; the latter
    # keep their winner, found in the earlier snapshot
    redo = "SELECT article_id FROM touched"
    if not no_flips:  # (no scan of the related items otherwise)
        _define_staged_views(con, parts, staged, filtered, ("related",))
        redo += (
            " UNION SELECT article_id FROM stg_related "
            "WHERE web_url_key IN (SELECT url_key FROM flipped)"
        )
    con.execute(f"CREATE TEMP TABLE redo AS SELECT DISTINCT article_id FROM ({redo})")
    con.execute(
        "CREATE TEMP TABLE winners AS SELECT source_path, part, hash(part) AS part_hash "
        f"FROM touched_articles QUALIFY {WINNER_RANK} = 1"
    )
    if not no_flips:  # the other redo articles' winners, in their files' current parts
        con.execute(
            "INSERT INTO winners SELECT a.source_path, s.part, hash(s.part) "
            f"FROM ({earlier_articles}) a JOIN {_read_file(state_file)} s USING (source_path) "
            "WHERE a.article_id IN (SELECT article_id FROM redo) "
            "AND a.article_id NOT IN (SELECT article_id FROM touched)"
        )
    con.execute(
        "CREATE TEMP TABLE redo_files AS SELECT source_path FROM gone UNION "
        "SELECT source_path FROM came UNION SELECT source_path FROM touched_articles"
    )
    # the redo files that lose (for article_sources.is_current)
    con.execute(
        "CREATE TEMP TABLE losers AS SELECT source_path FROM redo_files "
        "EXCEPT SELECT source_path FROM winners"
    )
    # Every row still to make is in the current part of a winner's or a redo file's file
    # (a redo file still staged is in `came` or `touched_articles`): the views are narrowed
    # to those parts (measured at 100,000 files, after a 1% change: one part of 47, and the
    # patch took 0.54 s instead of 0.66 s)
    needed = con.execute(
        "SELECT DISTINCT part FROM (SELECT part FROM winners UNION ALL SELECT part FROM came "
        "UNION ALL SELECT part FROM touched_articles)"
    ).fetchall()
    _define_staged_views(con, parts, sorted(row[0] for row in needed), filtered)
    _winner_views(con, PATCH_WINNER_VIEW)
    # the rows of the tables keyed by article, made again for the redo articles, and their
    # fingerprints against those of the rows they replace
    con.execute(f"CREATE TEMP TABLE new_articles AS {TABLES['articles']}")
    counts = {
        "articles": _write_delta(
            con, previous, snapshot_dir, "articles", "SELECT * FROM new_articles", "redo"
        )
    }
    for table in FINGERPRINTED.values():  # related items resolve against the new articles
        con.execute(f"CREATE TEMP TABLE new_{table} AS {TABLES[table]}")
    con.execute(
        "CREATE TEMP TABLE fingerprints AS "
        + _fingerprints("new_articles", {c: f"new_{t}" for c, t in FINGERPRINTED.items()})
    )
    earlier_fingerprints = f"SELECT * FROM {_read_file(previous / FINGERPRINTS_FILE)}"
    same = dict(
        zip(
            ("provider", *FINGERPRINTED),
            con.execute(
                "SELECT "
                + ", ".join(
                    f"coalesce(bool_and(e.{c} IS NOT DISTINCT FROM n.{c}), true)"
                    for c in ("provider", *FINGERPRINTED)
                )
                + f" FROM ({earlier_fingerprints} SEMI JOIN redo USING (article_id)) e "
                "FULL JOIN fingerprints n USING (article_id)"
            ).fetchall()[0],
            strict=True,
        )
    )
    # a table whose redo articles all have the rows they had is the earlier one (an edit
    # often changes no topic, image or related item): linked rather than written. (The
    # related items' fingerprints include related_article_id, so they also tell whether a
    # url_key that gained or lost its article changed a link.) `providers` is the earlier
    # one too when no provider or related item changed and no article came or went
    # (`flipped` is empty), and `story_clusters` when no link changed either
    for column, table in FINGERPRINTED.items():
        if same[column]:
            counts[table] = _link_table(con, previous, snapshot_dir, table)
        else:
            merged = _replaced(previous, table, "redo", "article_id")
            counts[table] = _write_table(con, snapshot_dir, table, merged)
    if no_flips and same["provider"] and same["related"]:
        counts["providers"] = _link_table(con, previous, snapshot_dir, "providers")
    else:
        counts["providers"] = _write_table(con, snapshot_dir, "providers", TABLES["providers"])
    if no_flips and (same["related"] or _same_links(con, previous)):
        counts["story_clusters"] = _link_table(con, previous, snapshot_dir, "story_clusters")
    else:
        counts["story_clusters"] = _write_table(
            con, snapshot_dir, "story_clusters", TABLES["story_clusters"]
        )
    if all(same.values()):
        os.link(previous / FINGERPRINTS_FILE, snapshot_dir / FINGERPRINTS_FILE)
    else:
        _write_fingerprints(
            con,
            snapshot_dir,
            f"{earlier_fingerprints} ANTI JOIN redo USING (article_id) "
            "UNION ALL SELECT * FROM fingerprints",
        )
    # the tables of every file take only the changed files' rows
    only_changed = "WHERE source_path IN (SELECT source_path FROM redo_files)"
    counts["article_sources"] = _write_delta(
        con,
        previous,
        snapshot_dir,
        "article_sources",
        TABLES["article_sources"].replace("{changed}", only_changed),
        "redo_files",
    )
    for table in ("rejected_files", "field_issues"):
        # rewritten from the earlier table unless the changed files' rows are as they were
        con.execute(
            f"CREATE TEMP TABLE new_{table} AS " + TABLES[table].replace("{changed}", only_changed)
        )
        if _same_rows(
            con,
            f"SELECT * FROM ({table_sql(previous, table)}) SEMI JOIN redo_files "
            "USING (source_path)",
            f"SELECT * FROM new_{table}",
        ):
            counts[table] = _link_table(con, previous, snapshot_dir, table)
        else:
            merged = _replaced(previous, table, "redo_files", "source_path")
            counts[table] = _write_table(con, snapshot_dir, table, merged)
    _write_build_id(snapshot_dir)
    return {table: counts[table] for table in TABLES}


def _replaced(previous: Path, table: str, changed_keys: str, key: str) -> str:
    """A SELECT of `table` of `previous` with the rows of `changed_keys` (a table of `key`
    values) replaced by those of `new_<table>`."""
    return (
        f"SELECT * FROM ({table_sql(previous, table)}) ANTI JOIN {changed_keys} "
        f"USING ({key}) UNION ALL SELECT * FROM new_{table}"
    )


def _fingerprints(articles: str, rows: dict[str, str]) -> str:
    """A SELECT of the fingerprints (see FINGERPRINTS_FILE) of the articles in table
    `articles`, from the tables named in `rows` (a fingerprint column's table)."""
    joins = "".join(
        f" LEFT JOIN (SELECT article_id, (sum(hash(t)) % 18446744073709551616)::UBIGINT "
        f"AS {column} FROM {table} t GROUP BY article_id) USING (article_id)"
        for column, table in rows.items()
    )
    return (
        "SELECT article_id, hash(provider_domain, provider_name) AS provider, "
        f"{', '.join(rows)} FROM {articles}{joins}"
    )


def _write_fingerprints(con, snapshot_dir: Path, query: str) -> None:
    con.execute(
        f"COPY ({query}) TO {_sql_str(str(snapshot_dir / FINGERPRINTS_FILE))} "
        "(FORMAT parquet, COMPRESSION lz4)"
    )


def _same_rows(con, first: str, second: str) -> bool:
    """Whether two SELECTs give the same rows, as many times each, in any order. Each is
    read once (they are a patch's few rows, but found by scanning whole tables)."""
    for name, rows in (("first_rows", first), ("second_rows", second)):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {rows}")
    return con.execute(
        "SELECT (SELECT count(*) FROM first_rows) = (SELECT count(*) FROM second_rows) "
        "AND NOT EXISTS (SELECT * FROM first_rows EXCEPT ALL SELECT * FROM second_rows)"
    ).fetchall()[0][0]


def _same_links(con, previous: Path) -> bool:
    """Whether the related items patched give the links of `previous` (for its story
    clusters, when no article came or went). Only the redo articles' related items were
    made again, so only theirs are compared; as sets, since a link twice joins nothing
    more."""
    links = (
        "SELECT DISTINCT article_id, related_article_id FROM ({rows}) SEMI JOIN redo "
        "USING (article_id) WHERE related_article_id <> article_id"  # NULL: no link
    )
    return _same_rows(
        con,
        links.replace("{rows}", table_sql(previous, "related_items")),
        links.replace("{rows}", "SELECT * FROM related_items"),
    )


def _link_table(con, previous: Path, snapshot_dir: Path, table: str) -> int:
    """The table of `previous`, a single file, hard-linked into this snapshot unchanged."""
    os.link(previous / f"{table}.parquet", snapshot_dir / f"{table}.parquet")
    return _view_of(con, snapshot_dir, table)


def _write_delta(con, previous, snapshot_dir, table, rows, changed_keys) -> int:
    """Link the base of `table` from `previous`; write its delta (the earlier delta's rows
    of unchanged keys, and `rows`) and its deleted rows (the base's row numbers, earlier
    ones and those of `changed_keys`); return its row count. Used for DELTA_TABLES."""
    key = DELTA_TABLES[table]
    base = snapshot_dir / f"{table}.parquet"
    os.link(previous / f"{table}.parquet", base)
    delta, deleted = (previous / f"{table}.{kind}.parquet" for kind in ("delta", "deleted"))
    kept = (
        f"SELECT * FROM {_read_file(delta)} ANTI JOIN {changed_keys} USING ({key}) UNION ALL "
        if delta.exists()
        else ""
    )
    before = f"SELECT row FROM {_read_file(deleted)} UNION " if deleted.exists() else ""
    con.execute(
        f"COPY ({kept}SELECT * FROM ({rows})) TO "
        f"{_sql_str(str(snapshot_dir / f'{table}.delta.parquet'))} ({PARQUET_OPTIONS})"
    )
    con.execute(
        f"COPY ({before}SELECT file_row_number AS row FROM {_read_file(base, row_numbers=True)} "
        f"AS base SEMI JOIN {changed_keys} USING ({key}) ORDER BY row) TO "
        f"{_sql_str(str(snapshot_dir / f'{table}.deleted.parquet'))} ({PARQUET_OPTIONS})"
    )
    return _view_of(con, snapshot_dir, table)


def table_sql(snapshot_dir: Path, table: str) -> str:
    """A SELECT of a snapshot's table: its file, or for a patched snapshot its base without
    the deleted rows, and the delta. Deleted rows are the base's row numbers, not keys: a
    filter on integers costs a query on the view less than one on text."""
    base = snapshot_dir / f"{table}.parquet"
    delta = snapshot_dir / f"{table}.delta.parquet"
    if not delta.exists():
        return f"SELECT * FROM {_read_file(base)}"
    deleted = snapshot_dir / f"{table}.deleted.parquet"
    kept = f"SELECT * FROM {_read_file(base)}"
    if pq.ParquetFile(deleted).metadata.num_rows:  # none when files were only added
        kept = (
            f"SELECT * EXCLUDE (file_row_number) FROM {_read_file(base, row_numbers=True)} "
            f"AS base ANTI JOIN {_read_file(deleted)} AS deleted "
            "ON base.file_row_number = deleted.row"
        )
    return f"{kept} UNION ALL SELECT * FROM {_read_file(delta)}"


def table_files(snapshot_dir: Path, table: str) -> list[Path]:
    """The files that hold a snapshot's table."""
    names = [f"{table}.parquet", f"{table}.delta.parquet", f"{table}.deleted.parquet"]
    return [snapshot_dir / name for name in names if (snapshot_dir / name).exists()]


def table_counts(snapshot_dir: Path) -> dict[str, int]:
    """Row counts of a snapshot's tables (see table_rows)."""
    return {table: table_rows(snapshot_dir, table) for table in TABLES}


def table_rows(snapshot_dir: Path, table: str) -> int:
    """A snapshot's table's row count, from the Parquet footers: of a patched table, the
    base's rows less those deleted (distinct row numbers of the base), plus the delta's."""
    files = table_files(snapshot_dir, table)  # the base; for a patched table, delta, deleted
    signs = (1, 1, -1)[: len(files)]
    return sum(
        sign * pq.ParquetFile(file).metadata.num_rows
        for sign, file in zip(signs, files, strict=True)
    )


def _patched_rows(snapshot_dir: Path) -> int:
    """Rows patched since the bases were built, those a delta adds and those of the base it
    hides, in the table of DELTA_TABLES that has more: `article_sources` does when url_keys
    have many files (an edit to one of them patches the row of each), `articles` when
    files were only added."""
    return max(
        sum(
            pq.ParquetFile(file).metadata.num_rows
            for file in table_files(snapshot_dir, table)[1:]  # all but the base
        )
        for table in DELTA_TABLES
    )


def _write_build_id(snapshot_dir: Path) -> None:
    (snapshot_dir / BUILD_ID_FILE).write_text(BUILD_ID)


def _staged_views(
    con: duckdb.DuckDBPyConnection,
    parts: Path,
    state_file: Path,
    snapshot_dir: Path,
    previous: Path | None = None,
    gone: pa.Table | None = None,
    tables: tuple[str, ...] = tuple(STAGED_SCHEMAS),
) -> tuple[list[str], bool]:
    """Views `all_<name>` (every row of the parts the state names) and `stg_<name>` (the
    current rows) of the staged `tables`; those parts, and whether the current rows are
    filtered (some parts hold rows of files staged again since). The rows filtered out
    (`superseded`) are kept in the snapshot, for the patch that follows it: a patch from
    `previous` takes them from there, with this run's `gone` (the source_path and part of
    each file that left its part)."""
    if previous is not None and gone is not None:
        live = pc.unique(state_parts(state_file)).cast(pa.string())
        superseded = _carry_superseded(previous, gone, live)
        partial = sorted(pc.unique(superseded["part"]).to_pylist())
        whole = sorted(set(live.to_pylist()) - set(partial))
    else:
        whole, partial = current_parts(parts, state_parts(state_file))
        if partial:
            superseded = _find_superseded(con, parts, partial, state_file)
        else:
            superseded = pa.table({"source_path": [], "part": []}, SUPERSEDED_SCHEMA)
    pq.write_table(superseded, snapshot_dir / SUPERSEDED_FILE, compression="lz4")
    con.register("superseded", superseded)
    _define_staged_views(con, parts, whole + partial, bool(partial), tables)
    _check_part_hashes(con, whole + partial)
    return whole + partial, bool(partial)


def _define_staged_views(
    con: duckdb.DuckDBPyConnection,
    parts: Path,
    names: list[str],
    filtered: bool,
    tables: tuple[str, ...] = tuple(STAGED_SCHEMAS),
) -> None:
    """The views of _staged_views of `tables` over the parts `names`, filtered by
    `superseded`."""
    for name in tables:
        schema = STAGED_SCHEMAS[name]
        con.register(
            f"empty_{name}",
            schema.empty_table().append_column("part", pa.array([], pa.string())),
        )
        selects = [f"SELECT * FROM empty_{name}"]
        if names:
            selects.append(f"SELECT * FROM {_read_parquet(parts, names, name)}")
        # by name, not by position: the parts and the empty table need only the same columns
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW all_{name} AS {' UNION ALL BY NAME '.join(selects)}"
        )
        # the current rows: one filter over all parts (a union of filtered and unfiltered
        # scans ran out of 256 MB at 500,000 files, when the tables were sorted)
        current = " ANTI JOIN superseded USING (source_path, part)" if filtered else ""
        con.execute(f"CREATE OR REPLACE TEMP VIEW stg_{name} AS SELECT * FROM all_{name}{current}")


def _winner_views(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Views `win_<name>`: the staged rows of the winning files, by `query`, for the staged
    tables an article's rows come from (issues and rejections are kept for every file)."""
    for name in ("articles", "topics", "related", "images"):
        con.execute(f"CREATE OR REPLACE TEMP VIEW win_{name} AS {query.replace('{name}', name)}")


def _write_table(con, snapshot_dir: Path, table: str, query: str) -> int:
    """Write one table whole; return its row count."""
    if table == "story_clusters":
        _register_clusters(con)
    target = snapshot_dir / f"{table}.parquet"
    # Streamed to Parquet, not held in memory.
    con.execute(f"COPY ({query}) TO {_sql_str(str(target))} ({PARQUET_OPTIONS})")
    if table == "story_clusters":
        # the clusters' Arrow table, and the heap that computing them took, are not DuckDB's
        # to bound: given back before the next table (at 500,000 files, the build's peak
        # then fell from 516 to 440 MB)
        con.unregister("clusters")
        release_memory()
    return _view_of(con, snapshot_dir, table)


def _view_of(con, snapshot_dir: Path, table: str) -> int:
    """A view of the table just written, by its name, for the queries that follow
    (related_items, providers, story_clusters); its row count."""
    con.execute(f"CREATE TEMP VIEW {table} AS {table_sql(snapshot_dir, table)}")
    return table_rows(snapshot_dir, table)


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
) -> pa.Table:
    """(source_path, part) of each file that has rows in one of the `partial` parts but
    whose current rows are elsewhere, or gone (changed or deleted since the part was
    written). They are few: filtering the parts by them takes a small hash table, where
    joining the parts to every file's state in each query did not fit in 512 MB at 500,000
    files. The one join to the state here is narrow, and runs alone."""
    held = " UNION ALL ".join(  # every staged file is an article or rejected
        f"SELECT source_path, part FROM {_read_parquet(parts, partial, name)}"
        for name in ("articles", "rejected")
    )
    return (
        con.sql(
            f"SELECT * FROM ({held}) ANTI JOIN "
            f"read_parquet({_sql_str(str(state_file))}, hive_partitioning = false) "
            "USING (source_path, part)"
        )
        .to_arrow_table()
        .cast(SUPERSEDED_SCHEMA)
    )


def _carry_superseded(previous: Path, gone: pa.Table, live: pa.Array) -> pa.Table:
    """The rows _find_superseded finds, from those of the `previous` snapshot and this
    run's `gone`, without reading the parts. Files leave a part and never come back (parts
    are written once, and a file read again goes to a new one), so a part's superseded rows
    are those superseded before and those that left now; those of parts no longer read
    (not in `live`, the state's parts) are dropped. The parts with any are the ones
    filtered: the others hold only current rows (measured at 100,000 files after a 1%
    change: 60 ms to find them in every part; in DuckDB, with each part's count of files
    read from its footer, 45 ms; in Arrow, a few ms)."""
    rows = pa.concat_tables(
        [pq.read_table(previous / SUPERSEDED_FILE).cast(SUPERSEDED_SCHEMA), gone]
    )
    return rows.filter(pc.is_in(rows["part"], value_set=live))


def _read_file(path: Path, row_numbers: bool = False) -> str:
    numbers = ", file_row_number = true" if row_numbers else ""
    return f"read_parquet({_sql_str(str(path))}, hive_partitioning = false{numbers})"


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
    """Rewrite the current staged rows as one part named after its folder (in lz4, as the
    workers write theirs: see warehouse.staging.write_part)."""
    part = f"{part_dir.parent.name}/{part_dir.name}"
    tmp = part_dir.with_name(part_dir.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for name in STAGED_SCHEMAS:
        target = _sql_str(str(tmp / f"{name}.parquet"))
        con.execute(
            f"COPY (SELECT * REPLACE ({_sql_str(part)} AS part) FROM stg_{name} "
            f"ORDER BY source_path) TO {target} (FORMAT parquet, COMPRESSION lz4)"
        )
    tmp.rename(part_dir)


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_list(items: list[str]) -> str:
    return "[" + ", ".join(_sql_str(item) for item in items) + "]"
