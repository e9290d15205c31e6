"""Where everything lives inside a warehouse folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Warehouse:
    """A warehouse folder:

    news.duckdb              link to the published snapshot's catalog, replaced atomically
    snapshots/<run_id>/      one run's Parquet tables, state and catalog.duckdb (views)
    parts/<run_id>/<n>/      staged rows of one chunk of source files, never modified
    ahead/<run_id>/<n>/      parts staged before their run held the lock (moved into parts/)
    runs/<run_id>.parquet    one row of `load_runs` per run, failed runs included
    runs/history-<run_id>.parquet   earlier runs' rows, merged (warehouse.runs)
    warehouse.json           the source this warehouse belongs to
    .lock                    held by the run in progress
    """

    root: Path
    url: str | None = None  # the object-store warehouse this folder mirrors, if any

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).absolute())

    @property
    def name(self) -> str:
        """How messages name the warehouse."""
        return self.url or str(self.root)

    @property
    def catalog(self) -> Path:
        return self.root / "news.duckdb"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    @property
    def parts(self) -> Path:
        return self.root / "parts"

    @property
    def ahead(self) -> Path:
        return self.root / "ahead"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def meta(self) -> Path:
        return self.root / "warehouse.json"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"
