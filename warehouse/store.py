"""The life of a run on disk: claim the warehouse, stage parts, publish a snapshot, clean up."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from warehouse.build import STAGED_NAMES, build_snapshot
from warehouse.catalog import write_catalog
from warehouse.layout import Warehouse

DEFAULT_KEEP_SNAPSHOTS = 3


class WarehouseError(Exception):
    """The warehouse cannot be used as asked (wrong source, not writable)."""


def claim(warehouse: Warehouse, source: Path, full_refresh: bool) -> None:
    """Create the warehouse if needed and check that it belongs to `source` (contract 6)."""
    try:
        warehouse.root.mkdir(parents=True, exist_ok=True)
        probe = warehouse.root / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise WarehouseError(
            f"warehouse folder {str(warehouse.root)!r} is not writable: {exc.strerror}"
        ) from None
    source = Path(source).resolve()
    if warehouse.meta.exists() and not full_refresh:
        owner = json.loads(warehouse.meta.read_text())["source"]
        if owner != str(source):
            raise WarehouseError(
                f"warehouse {str(warehouse.root)!r} belongs to source {owner!r}, not "
                f"{str(source)!r}; pass --full-refresh to rebuild it from the new source"
            )
    tmp = warehouse.meta.with_suffix(".tmp")
    tmp.write_text(json.dumps({"source": str(source)}, indent=2) + "\n")
    os.replace(tmp, warehouse.meta)


def part_dir(warehouse: Warehouse, run_id: str, index: int) -> Path:
    return warehouse.parts / run_id / f"{index:06d}"


def publish(warehouse: Warehouse, run_id: str, part_dirs: list[Path]) -> dict[str, int]:
    """Build the snapshot of `run_id` from its parts and make it the published state."""
    files = {name: [part / f"{name}.parquet" for part in part_dirs] for name in STAGED_NAMES}
    snapshot = warehouse.snapshots / run_id
    building = snapshot.with_name(run_id + ".tmp")
    shutil.rmtree(building, ignore_errors=True)
    counts = build_snapshot(files, building)
    building.rename(snapshot)
    write_catalog(warehouse, snapshot)
    return counts


def remove_stale(warehouse: Warehouse, run_id: str, keep: int = DEFAULT_KEEP_SNAPSHOTS) -> None:
    """Drop snapshots beyond the last `keep`, other runs' parts, and leftovers of killed runs."""
    snapshots = sorted(p for p in _children(warehouse.snapshots) if not p.name.endswith(".tmp"))
    for old in snapshots[: max(len(snapshots) - keep, 0)]:
        shutil.rmtree(old, ignore_errors=True)
    for path in _children(warehouse.snapshots) + _children(warehouse.parts):
        if path.name.endswith(".tmp") or (path.parent == warehouse.parts and path.name != run_id):
            shutil.rmtree(path, ignore_errors=True)
    for leftover in warehouse.root.glob(".news.duckdb.*.tmp"):
        leftover.unlink(missing_ok=True)


def _children(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.is_dir() else []
