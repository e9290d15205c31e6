"""The one settings object: defaults, overridden by NEWSFRONT_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from warehouse.build import DEFAULT_PATCH_LIMIT
from warehouse.source import DEFAULT_MAX_BYTES
from warehouse.store import DEFAULT_KEEP_SNAPSHOTS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSFRONT_")

    # a folder, or an object-store URL such as s3://bucket/articles
    source: str = "examples/corpus"
    warehouse: str = "data/warehouse"
    # fsspec options for object-store URLs (JSON in NEWSFRONT_STORAGE_OPTIONS), e.g.
    # {"key": ..., "secret": ..., "endpoint_url": ...}; kept out of Prefect's flow parameters
    storage_options: dict | None = None
    cache_dir: Path | None = None  # local mirrors of object-store warehouses
    max_file_bytes: int = DEFAULT_MAX_BYTES
    # files a worker parses and writes as one part, in memory all at once; a Prefect task
    # stages flows.ingest.CHUNKS_PER_TASK chunks
    chunk_size: int = 2500
    workers: int | None = None  # parsing processes; None: one per available core
    dask_address: str | None = None  # stage on this Dask scheduler ("local": start one here)
    keep_snapshots: int = Field(DEFAULT_KEEP_SNAPSHOTS, ge=1)
    lock_wait_seconds: float = 0.0
    # a run patches the published tables rather than rebuilding them while its changed files
    # and the rows patched since the last rebuild are at most this share of all files (0:
    # always rebuild; see warehouse.build.DEFAULT_PATCH_LIMIT)
    patch_limit: float = Field(DEFAULT_PATCH_LIMIT, ge=0, le=1)
