"""docs/schema.md, from the data dictionary and the column types of a real catalog."""

from __future__ import annotations

import tempfile
from pathlib import Path

from warehouse.catalog import connect
from warehouse.dictionary import DICTIONARY, schema_markdown
from warehouse.layout import Warehouse
from warehouse.pipeline import run_ingest


def schema_document() -> str:
    """The Markdown of docs/schema.md; the types come from a warehouse built from an empty
    source, so they are what DuckDB shows for a real one."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "source"
        source.mkdir()
        store = Warehouse(Path(folder) / "warehouse")
        run_ingest(source, store)
        with connect(store.root) as con:
            rows = con.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE NOT internal"
            ).fetchall()
    types: dict[str, dict[str, str]] = {name: {} for name in DICTIONARY}
    for table, column, data_type in rows:
        types.setdefault(table, {})[column] = data_type
    return schema_markdown(types)
