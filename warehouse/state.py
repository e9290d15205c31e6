"""Incremental state: per source file, what was staged for it and where.

The state is published with each snapshot (`snapshots/<run_id>/state.parquet`), so the
state and the tables it describes always switch together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from warehouse.source import Candidate, display_path

STATE_SCHEMA = pa.schema(
    [
        ("source_path", pa.string()),
        ("size_bytes", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("sha256", pa.string()),
        ("outcome", pa.string()),  # article or rejected
        ("rejection", pa.string()),  # "reason: detail" of a rejected file
        ("part", pa.string()),  # the part whose staged rows belong to this file
        ("parser_version", pa.int64()),
    ]
)


@dataclass
class Plan:
    """What a run must read, given the listing and the published state."""

    kept: pa.Table  # state rows of files whose size and mtime did not change
    # (candidate, (sha256, rejection) staged for it if the same parser staged it, else None)
    to_read: list[tuple[Candidate, tuple[str | None, str | None] | None]]
    deleted: int  # files in the state that are gone from the source

    @property
    def unchanged(self) -> int:
        return self.kept.num_rows


def read_state(path: Path) -> pa.Table:
    """A published state; one written by an older layout counts as empty (all files are
    read and parsed again), which is always correct."""
    table = pq.read_table(path)
    if table.schema != STATE_SCHEMA:
        return empty_state()
    return table


def empty_state() -> pa.Table:
    return STATE_SCHEMA.empty_table()


def plan_run(candidates: list[Candidate], previous: pa.Table, parser_version: int) -> Plan:
    """Files whose size and mtime match the state are kept without reading; the others are
    read, and parsed only when their bytes (or the parser) changed.

    Done as an Arrow join, so a large state is never turned into Python objects."""
    listed = pa.table(
        {
            "source_path": pa.array([display_path(c.path) for c in candidates], pa.string()),
            "listed_index": pa.array(range(len(candidates)), pa.int64()),
            "listed_size": pa.array([c.size for c in candidates], pa.int64()),
            "listed_mtime": pa.array([c.mtime_ns for c in candidates], pa.int64()),
        }
    )
    joined = listed.join(previous, keys="source_path", join_type="left outer")
    same_parser = pc.fill_null(pc.equal(joined["parser_version"], parser_version), False)
    unchanged = pc.and_(
        pc.and_(same_parser, pc.is_valid(joined["sha256"])),  # never-read files: try again
        pc.and_(
            pc.fill_null(pc.equal(joined["listed_mtime"], joined["mtime_ns"]), False),
            pc.fill_null(pc.equal(joined["listed_size"], joined["size_bytes"]), False),
        ),
    )
    kept = joined.filter(unchanged).select(STATE_SCHEMA.names)
    # what was staged is only worth comparing with when the same parser staged it
    joined = joined.append_column("same_parser", same_parser)
    reading = joined.filter(pc.invert(unchanged)).sort_by("listed_index")
    to_read = [
        (candidates[index], (sha, rejection) if same else None)
        for index, same, sha, rejection in zip(
            reading["listed_index"].to_pylist(),
            reading["same_parser"].to_pylist(),
            reading["sha256"].to_pylist(),
            reading["rejection"].to_pylist(),
            strict=True,
        )
    ]
    still_listed = pc.is_in(previous["source_path"], value_set=listed["source_path"])
    deleted = previous.num_rows - pc.sum(still_listed).as_py() if previous.num_rows else 0
    return Plan(kept, to_read, deleted)


def next_state(plan: Plan, previous: pa.Table, read: pa.Table, parser_version: int) -> pa.Table:
    """The state after a run: kept rows, plus a row per file read.

    `read` holds the parts' `files.parquet` rows with a `part` column. A file read but found
    unchanged keeps its old part (and outcome) under its new size and mtime.
    """
    is_unchanged = pc.equal(read["outcome"], "unchanged")
    changed = read.filter(pc.invert(is_unchanged))
    unchanged = (
        read.filter(is_unchanged)
        .drop_columns(["part", "outcome", "rejection"])
        .join(previous.select(["source_path", "part", "outcome", "rejection"]), keys="source_path")
    )
    fresh = pa.concat_tables(
        [table.select(STATE_SCHEMA.names[:-1]) for table in (changed, unchanged)]
    )
    fresh = fresh.append_column(
        "parser_version", pa.array([parser_version] * fresh.num_rows, pa.int64())
    ).cast(STATE_SCHEMA)
    return pa.concat_tables([plan.kept.cast(STATE_SCHEMA), fresh]).sort_by("source_path")
