"""Incremental state: per source file, what was staged for it and where.

The state is published with each snapshot (`snapshots/<run_id>/state.parquet`), so the
state and the tables it describes always switch together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.source import Candidate, display_path

STATE_SCHEMA = pa.schema(
    [
        ("source_path", pa.string()),
        ("size_bytes", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("sha256", pa.string()),
        ("outcome", pa.string()),  # article or rejected
        ("part", pa.string()),  # the part whose staged rows belong to this file
        ("parser_version", pa.int64()),
    ]
)


@dataclass
class Plan:
    """What a run must read, given the listing and the published state."""

    kept: pa.Table  # state rows of files whose size and mtime did not change
    to_read: list[tuple[str, str | None]]  # (path, sha256 staged for it, if still valid)
    deleted: int  # files in the state that are gone from the source

    @property
    def unchanged(self) -> int:
        return self.kept.num_rows


def read_state(path: Path) -> pa.Table:
    return pq.read_table(path, schema=STATE_SCHEMA)


def empty_state() -> pa.Table:
    return STATE_SCHEMA.empty_table()


def plan_run(candidates: list[Candidate], previous: pa.Table, parser_version: int) -> Plan:
    """Files whose size and mtime match the state are kept without reading; the others are
    read, and parsed only when their bytes (or the parser) changed."""
    old = {row["source_path"]: (i, row) for i, row in enumerate(previous.to_pylist())}
    kept_rows: list[int] = []
    to_read: list[tuple[str, str | None]] = []
    for candidate in candidates:
        i, row = old.get(display_path(candidate.path), (None, None))
        same_parser = row is not None and row["parser_version"] == parser_version
        if (
            same_parser
            and candidate.mtime_ns is not None
            and row["mtime_ns"] == candidate.mtime_ns
            and row["size_bytes"] == candidate.size
        ):
            kept_rows.append(i)
        else:
            to_read.append((candidate.path, row["sha256"] if same_parser else None))
    listed = {display_path(candidate.path) for candidate in candidates}
    deleted = sum(1 for path in old if path not in listed)
    return Plan(previous.take(pa.array(kept_rows, pa.int64())), to_read, deleted)


def next_state(plan: Plan, previous: pa.Table, read: pa.Table, parser_version: int) -> pa.Table:
    """The state after a run: kept rows, plus a row per file read.

    `read` holds the parts' `files.parquet` rows with a `part` column. A file read but found
    unchanged keeps its old part (and sha) under its new size and mtime.
    """
    old_part = dict(
        zip(
            previous.column("source_path").to_pylist(),
            zip(
                previous.column("part").to_pylist(),
                previous.column("outcome").to_pylist(),
                strict=True,
            ),
            strict=True,
        )
    )
    rows = []
    for row in read.to_pylist():
        if row["outcome"] == "unchanged":
            row["part"], row["outcome"] = old_part[row["source_path"]]
        row["parser_version"] = parser_version
        rows.append(row)
    fresh = pa.Table.from_pylist(rows, schema=STATE_SCHEMA)
    return pa.concat_tables([plan.kept.select(STATE_SCHEMA.names), fresh]).sort_by("source_path")
