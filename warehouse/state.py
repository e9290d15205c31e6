"""Incremental state: per source file, what was staged for it and where.

The state is published with each snapshot (`snapshots/<run_id>/state.parquet`), so the
state and the tables it describes always switch together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from warehouse.source import LISTING_SCHEMA, display_paths

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


# The files a run must read, in listing order: the listing's columns, plus what was last
# staged for the file when the same parser staged it (else null). Equal bytes are then not
# parsed again, and a file rejected unread (unreadable, too_large) that is rejected the same
# way again is unchanged.
TO_READ_SCHEMA = pa.schema(
    [
        *LISTING_SCHEMA,
        ("known_sha256", pa.string()),
        ("known_rejection", pa.string()),  # "reason: detail"
    ]
)

# The share of the state's rows a plan must keep to hold the state itself until it needs
# them: holding all of it while the files are staged then costs at most a tenth more than
# a copy of the kept rows would.
KEEP_STATE_AT = 0.9


@dataclass
class Plan:
    """What a run must read, given the listing and the published state."""

    to_read: pa.Table  # TO_READ_SCHEMA
    deleted_files: pa.Table  # the state's source_path and part of files gone from the source
    previous_files: int  # rows of the state planned against
    # The state rows of files whose size and mtime did not change are `kept_from`, or its
    # rows `kept_at` (in order) until take_kept: when nearly all rows are kept (see
    # KEEP_STATE_AT), the state itself is held until the run needs them, after staging,
    # rather than a copy of nearly all of it beside it while the run plans (at 500,000
    # files, 91 MB).
    kept_from: pa.Table
    kept_at: pa.Array | pa.ChunkedArray | None = None

    @property
    def deleted(self) -> int:
        return self.deleted_files.num_rows

    @property
    def unchanged(self) -> int:
        """Files kept without reading."""
        return self.kept_from.num_rows if self.kept_at is None else len(self.kept_at)

    def take_kept(self) -> pa.Table:
        """The kept rows, as the state holds them; the plan lets go of the rest of it."""
        if self.kept_at is not None:
            self.kept_from, self.kept_at = self.kept_from.take(self.kept_at), None
        return self.kept_from


def has_current_layout(path: Path) -> bool:
    """Whether a state file has this version's layout."""
    return pq.read_schema(path) == STATE_SCHEMA


def read_state(path: Path) -> pa.Table:
    """A published state; one written by an older layout counts as empty (all files are
    read and parsed again), which is always correct."""
    if not has_current_layout(path):
        return empty_state()
    return pq.read_table(path)


def empty_state() -> pa.Table:
    return STATE_SCHEMA.empty_table()


def state_parts(path: Path) -> pa.ChunkedArray:
    """The `part` column of a published state (a part per file), read as a dictionary: there
    are few distinct parts, so at 500,000 files it takes 19 MB and not 70. Empty for a
    state of an older layout, as read_state."""
    if not has_current_layout(path):
        return pa.chunked_array([], pa.dictionary(pa.int32(), pa.string()))
    return pq.ParquetFile(path, read_dictionary=["part"]).read(columns=["part"])["part"]


def live_parts(path: Path) -> list[str]:
    """The parts a published state names, sorted: those that must be kept (and fetched)."""
    return sorted(pc.unique(state_parts(path)).to_pylist())


def plan_run(listing: pa.Table, previous: pa.Table, parser_version: int) -> Plan:
    """Files whose size and mtime match the state are kept without reading; the others are
    read, and parsed only when their bytes (or the parser) changed.

    `listing` is list_candidates' table. Done in Arrow, by looking each listed path up in
    the state rather than joining (a join copies every column: measured at 500,000 files,
    270 MB against 70 MB; taking only the columns compared, and the kept rows once, keeps a
    second run at 500,000 files to one copy of the state), so neither side is ever turned
    into Python objects."""
    source_paths = display_paths(listing["path"])
    # each listed file's row in the state; null for a file the state does not hold
    at = pc.index_in(source_paths, value_set=previous["source_path"])
    same_parser = pc.fill_null(pc.equal(previous["parser_version"].take(at), parser_version), False)
    unchanged = pc.and_(
        # never-read files (no sha256) are tried again
        pc.and_(same_parser, pc.fill_null(pc.is_valid(previous["sha256"]).take(at), False)),
        pc.and_(
            pc.fill_null(pc.equal(listing["mtime_ns"], previous["mtime_ns"].take(at)), False),
            pc.fill_null(pc.equal(listing["size_bytes"], previous["size_bytes"].take(at)), False),
        ),
    )
    reading = pc.invert(unchanged)
    read_at, known = at.filter(reading), same_parser.filter(reading)
    # what was staged is only worth comparing with when the same parser staged it
    to_read = pa.table(
        [
            *listing.filter(reading).columns,
            pc.if_else(known, previous["sha256"].take(read_at), None),
            pc.if_else(known, previous["rejection"].take(read_at), None),
        ],
        schema=TO_READ_SCHEMA,
    )
    # paths are unique on both sides, so each state row found was found once: the rest are
    # gone (no second lookup, whose table of every path cost 35 MB at 500,000 files)
    deleted = previous.select(["source_path", "part"]).schema.empty_table()
    if pc.count(at).as_py() < previous.num_rows:
        found = np.zeros(previous.num_rows, dtype=bool)
        found[at.drop_null().to_numpy()] = True
        deleted = previous.select(["source_path", "part"]).filter(pa.array(~found))
    # the kept rows, in the state's order (by source_path): all of it (nothing changed, or
    # files only added), nearly all of it (taken later, see Plan), or fewer (taken now)
    kept_at = at.filter(unchanged)
    plan = Plan(to_read, deleted, previous.num_rows, previous)
    if len(kept_at) < previous.num_rows:
        plan.kept_at = kept_at.take(pc.sort_indices(kept_at))
        if len(kept_at) < KEEP_STATE_AT * previous.num_rows:
            plan.take_kept()
    return plan


def rows_before(previous: pa.Table, source_paths: pa.ChunkedArray) -> pa.Table:
    """The previous state's rows of the files a run reads (`source_paths`): all that
    next_state and is_same_state need of the previous state besides the plan, so the state
    is not held while files are staged and the next state is made, unless the plan keeps
    nearly all of it (see Plan)."""
    return previous.filter(pc.is_in(previous["source_path"], value_set=source_paths))


def next_state(plan: Plan, before: pa.Table, read: pa.Table, parser_version: int) -> pa.Table:
    """The state after a run: kept rows, plus a row per file read.

    `read` holds the parts' `files.parquet` rows with a `part` column; `before` is
    rows_before(previous state, the paths of the files read). A file read but found
    unchanged keeps its old part (and outcome) under its new size and mtime. Takes the
    plan's kept rows (Plan.take_kept), so the plan lets go of the state.
    """
    kept = plan.take_kept()
    if read.num_rows == 0:
        return kept  # already in the state's order
    is_unchanged = pc.equal(read["outcome"], "unchanged")
    changed = read.filter(pc.invert(is_unchanged))
    unchanged = (
        read.filter(is_unchanged)
        .drop_columns(["part", "outcome", "rejection"])
        .join(before.select(["source_path", "part", "outcome", "rejection"]), keys="source_path")
    )
    fresh = pa.concat_tables(
        [table.select(STATE_SCHEMA.names[:-1]) for table in (changed, unchanged)]
    )
    fresh = fresh.append_column(
        "parser_version", pa.array([parser_version] * fresh.num_rows, pa.int64())
    ).cast(STATE_SCHEMA)
    return pa.concat_tables([kept.cast(STATE_SCHEMA), fresh]).sort_by("source_path")


# The files a run moved from one part to another: staged anew (`new_part`; `old_part` null
# for a new file), or deleted (`new_part` null). A patch rewrites their rows.
MOVED_SCHEMA = pa.schema(
    [("source_path", pa.string()), ("old_part", pa.string()), ("new_part", pa.string())]
)


def moved_files(plan: Plan, before: pa.Table, read: pa.Table) -> pa.Table:
    """The rows, in MOVED_SCHEMA, in which the state next_state makes differs from the one
    planned against: `before` and `read` as for next_state. A file read and found unchanged
    keeps its part, as every file kept without reading does."""
    staged = read.filter(pc.not_equal(read["outcome"], "unchanged"))
    old_part = before["part"].take(pc.index_in(staged["source_path"], before["source_path"]))
    deleted = plan.deleted_files
    return pa.concat_tables(
        [
            pa.table([staged["source_path"], old_part, staged["part"]], schema=MOVED_SCHEMA),
            pa.table(
                [deleted["source_path"], deleted["part"], pa.nulls(plan.deleted, pa.string())],
                schema=MOVED_SCHEMA,
            ),
        ]
    )


def is_same_state(plan: Plan, state: pa.Table, before: pa.Table) -> bool:
    """Whether `state`, made by next_state, equals the state planned against: nothing was
    deleted, no file is new, and every file read has the row it had (the kept rows are the
    previous ones by construction)."""
    return (
        plan.deleted == 0
        and state.num_rows == plan.previous_files
        and state.filter(pc.is_in(state["source_path"], value_set=before["source_path"])).equals(
            before
        )
    )
