"""Parsing a chunk of source files into staged Parquet parts.

`stage_chunk` is a plain function over a chunk of paths, so that it can run in a worker
process or on a cluster node: only paths go in and only counts come out.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from transforms.article import parse_article
from transforms.errors import Rejection
from transforms.tables import StagedRows
from warehouse.source import DEFAULT_MAX_BYTES, read_candidate


def stage_chunk(
    source: Path, rel_paths: list[str], part_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES
) -> dict:
    """Read, parse and stage `rel_paths`; write one Parquet file per staged table."""
    staged = StagedRows()
    rejected: Counter[str] = Counter()
    for rel_path in rel_paths:
        raw = sha256 = None
        try:
            raw = read_candidate(source, rel_path, max_bytes)
            sha256 = hashlib.sha256(raw).hexdigest()
            staged.add_parsed(rel_path, sha256, len(raw), parse_article(raw))
        except Rejection as rejection:
            size = len(raw) if raw is not None else _size_on_disk(source / rel_path)
            staged.add_rejected(rel_path, sha256, size, rejection)
            rejected[rejection.reason] += 1
    write_part(staged, part_dir)
    return {
        "files": len(rel_paths),
        "parsed": len(rel_paths) - rejected.total(),
        "rejected": dict(rejected),
    }


def _size_on_disk(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def write_part(staged: StagedRows, part_dir: Path) -> None:
    """Write-once: a part folder is written under a temporary name and renamed into place."""
    part_dir = Path(part_dir)
    tmp = part_dir.with_name(part_dir.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for name, table in staged.to_arrow().items():
        pq.write_table(table, tmp / f"{name}.parquet", compression="zstd")
    tmp.rename(part_dir)
