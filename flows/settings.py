"""The one settings object: defaults, overridden by NEWSFRONT_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from warehouse.source import DEFAULT_MAX_BYTES
from warehouse.store import DEFAULT_KEEP_SNAPSHOTS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSFRONT_")

    source: Path = Path("examples/corpus")
    warehouse: Path = Path("data/warehouse")
    max_file_bytes: int = DEFAULT_MAX_BYTES
    chunk_size: int = 1000  # files per Prefect task: a task run costs ~5 ms, a file ~0.2 ms
    workers: int | None = None  # parsing processes; None: one per available core
    keep_snapshots: int = Field(DEFAULT_KEEP_SNAPSHOTS, ge=1)
    lock_wait_seconds: float = 0.0
