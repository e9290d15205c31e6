"""What `newsfront stats` shows: a warehouse summed up in a few small result sets."""

from __future__ import annotations

import duckdb

from warehouse.build import TABLES

QUERIES = {
    "last_runs": """
        SELECT run_id, status, started_at, files_seen AS seen, files_parsed AS parsed,
               files_rejected AS rejected, articles
        FROM load_runs ORDER BY started_at DESC LIMIT {limit}""",
    "rejected_by_reason": """
        SELECT reason, count(*) AS files FROM rejected_files GROUP BY 1 ORDER BY 2 DESC, 1""",
    "top_providers": """
        SELECT domain, name, articles, related_mentions AS mentions FROM provider_coverage
        ORDER BY articles DESC, domain LIMIT {limit}""",
    "top_topics": """
        SELECT topic, count(*) AS articles FROM article_topics
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {limit}""",
    "largest_stories": """
        SELECT f.cluster_id, any_value(f.cluster_size) AS articles,
               count(DISTINCT f.provider_domain) AS providers,
               min(f.published_at) AS first_seen,
               arg_min(f.title, coalesce(f.published_at, 'infinity'::TIMESTAMPTZ)) AS first_title
        FROM article_facts f WHERE f.cluster_size > 1
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {limit}""",
}


def warehouse_stats(con: duckdb.DuckDBPyConnection, limit: int = 5) -> dict[str, list[dict]]:
    """Row counts of every table, then each of QUERIES, as lists of records."""
    counts = [
        {"table": table, "rows": con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]}
        for table in [*TABLES, "load_runs"]
    ]
    result = {"tables": counts}
    for name, query in QUERIES.items():
        cursor = con.execute(query.format(limit=int(limit)))
        columns = [d[0] for d in cursor.description]
        result[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return result
