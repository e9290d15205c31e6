"""Shared helpers for warehouse tests: write a source, read back every data table."""

from __future__ import annotations

import os
from pathlib import Path

from warehouse import Warehouse, connect
from warehouse.build import TABLES

OLD = 1_600_000_000  # an mtime far from "now", so files are not racy (see warehouse.staging)


def write(source: Path, rel: str, text: str | bytes, mtime: int = OLD) -> None:
    path = source / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    os.utime(path, (mtime, mtime))


def tables(root: Path | Warehouse) -> dict[str, list[tuple]]:
    """Every data table of the published warehouse, row for row (load_runs aside), in the
    order of all their columns: a patched snapshot's tables are not in any one order."""
    root = root.root if isinstance(root, Warehouse) else root
    with connect(root) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
