"""Object storage locations: `s3://bucket/prefix` (or any fsspec URL) for a source or a
warehouse. Credentials and the endpoint come from the usual variables (AWS_ACCESS_KEY_ID,
AWS_ENDPOINT_URL, ...) or from `storage_options`, passed to fsspec as they are."""

from __future__ import annotations

from pathlib import Path

from fsspec import AbstractFileSystem


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and "://" in location


def object_store(url: str, storage_options: dict | None = None) -> tuple[AbstractFileSystem, str]:
    """The file system of `url` and the path within it (for s3, `bucket/prefix`).

    Listings are never cached: a run must see what other processes wrote since."""
    from fsspec.core import url_to_fs

    options = {"skip_instance_cache": True, **(storage_options or {})}
    if url.startswith(("s3://", "s3a://")):
        options.setdefault("use_listings_cache", False)
    fs, path = url_to_fs(url, **options)
    return fs, path.rstrip("/")


def mtime_ns(info: dict) -> int | None:
    """An object's modification time from its listing entry, when the store gives one."""
    for key in ("LastModified", "mtime", "last_modified", "updated"):
        value = info.get(key)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return int(value.timestamp() * 1_000_000) * 1000
        if isinstance(value, int | float):
            return int(value * 1_000_000_000)
    return None
