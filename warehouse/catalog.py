"""`news.duckdb`: views over the Parquet files of one snapshot, replaced in one atomic step."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from warehouse.build import TABLES, _sql_str
from warehouse.layout import Warehouse

# Stored as text in Parquet, exposed as DuckDB's JSON type.
_VIEW_COLUMNS = {"articles": "* REPLACE (extra::JSON AS extra)"}


def write_catalog(warehouse: Warehouse, snapshot_dir: Path) -> None:
    """Build the new catalog beside the old one, then rename it over: readers see either.

    Views use absolute paths, so the file works from any working directory; a warehouse
    folder that was moved is re-pointed by its next run.
    """
    tmp = warehouse.root / f".{warehouse.catalog.name}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    with duckdb.connect(str(tmp)) as con:
        for statement in view_statements(warehouse, snapshot_dir):
            con.execute(statement)
        con.execute("CHECKPOINT")
    _fsync(tmp)
    os.replace(tmp, warehouse.catalog)
    _fsync(warehouse.root)


def view_statements(warehouse: Warehouse, snapshot_dir: Path) -> list[str]:
    statements = []
    for table in TABLES:
        columns = _VIEW_COLUMNS.get(table, "*")
        source = _sql_str(str(snapshot_dir.absolute() / f"{table}.parquet"))
        statements.append(
            f"CREATE OR REPLACE VIEW {table} AS SELECT {columns} FROM read_parquet({source})"
        )
    # Which snapshot this catalog publishes: the next run's starting point.
    statements.append("CREATE SCHEMA IF NOT EXISTS newsfront")
    statements.append(
        f"CREATE OR REPLACE VIEW newsfront.snapshot AS "
        f"SELECT {_sql_str(snapshot_dir.name)} AS run_id"
    )
    runs = _sql_str(str(warehouse.runs.absolute() / "*.parquet"))
    statements.append(
        "CREATE OR REPLACE VIEW load_runs AS SELECT * FROM "
        f"read_parquet({runs}, union_by_name = true) ORDER BY started_at"
    )
    return statements


def published_snapshot(warehouse: Warehouse) -> str | None:
    """The run id of the published snapshot, or None for a warehouse never published."""
    if not warehouse.catalog.exists():
        return None
    with duckdb.connect(str(warehouse.catalog), read_only=True) as con:
        return con.execute("SELECT run_id FROM newsfront.snapshot").fetchone()[0]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def connect(path: str | Path = "data/warehouse") -> duckdb.DuckDBPyConnection:
    """A read-only DuckDB connection to a warehouse (its folder or its `news.duckdb`),
    with every table available and TimeZone set to UTC, so that `date_trunc` and
    casts of `TIMESTAMPTZ` columns work in UTC days and months."""
    path = Path(path)
    catalog = path if path.suffix == ".duckdb" else Warehouse(path).catalog
    if not catalog.exists():
        raise FileNotFoundError(
            f"no warehouse at {str(path)!r} ({catalog.name} is missing); run `newsfront run` first"
        )
    con = duckdb.connect(str(catalog), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    return con
