"""A warehouse in object storage: `s3://bucket/prefix`, or any fsspec URL.

A run works on a local mirror of the warehouse (a folder under the cache), so staging, the
DuckDB build, ownership and `load_runs` are the same code as for a local warehouse. The
object store holds what readers see:

    CURRENT                  {"snapshot": run_id}: the published snapshot, written last
    LOCK                     the run lock, created only where absent (a conditional PUT)
    warehouse.json           the source the warehouse belongs to
    snapshots/<run_id>/      the tables and state.parquet (no catalog: its paths are local)
    parts/<run_id>/<n>/      staged parts, written once
    runs/<run_id>.parquet    load_runs (and runs/history-<run_id>.parquet: see warehouse.runs)

S3 has no rename, so publishing is: upload the new parts and snapshot under new names,
then replace CURRENT in one PUT, which S3 applies atomically; a reader sees the old or the
new snapshot, never a mix. Old snapshots go only after that, and the last `keep_snapshots`
stay, so a reader that read CURRENT a moment earlier still finds its files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import socket
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow.fs import FSSpecHandler, PyFileSystem

from warehouse.build import FINGERPRINTS_FILE, SUPERSEDED_FILE, TABLES
from warehouse.catalog import (
    CATALOG_FILE,
    ONE_ROW_PER_RUN,
    ROOT_FILE,
    VIEW_COLUMNS,
    VIEWS_ID_FILE,
    derived_view_statements,
    published_snapshot,
    write_catalog,
)
from warehouse.layout import Warehouse
from warehouse.lock import WarehouseLocked
from warehouse.objects import object_store
from warehouse.pipeline import run_ingest
from warehouse.runs import HISTORY_PREFIX, record_run, with_todays_columns
from warehouse.state import live_parts
from warehouse.store import DEFAULT_KEEP_SNAPSHOTS, WarehouseError

POINTER = "CURRENT"
LOCK = "LOCK"
# a snapshot's files that hold local paths, or serve only a local patch (a mirror is built)
LOCAL_ONLY = {CATALOG_FILE, ROOT_FILE, VIEWS_ID_FILE, SUPERSEDED_FILE, FINGERPRINTS_FILE}


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsfront"


class RemoteWarehouse:
    def __init__(
        self, url: str, storage_options: dict | None = None, cache_dir: Path | None = None
    ):
        self.url = url.rstrip("/")
        self.fs, self.base = object_store(self.url, storage_options)
        key = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        self.mirror = Warehouse((cache_dir or default_cache()) / key, url=self.url)

    def _key(self, *parts: str) -> str:
        return "/".join([self.base, *parts])

    def current(self) -> str | None:
        """The run id of the published snapshot, or None for a warehouse never published."""
        try:
            return json.loads(self.fs.cat_file(self._key(POINTER)))["snapshot"]
        except FileNotFoundError:
            return None
        except Exception as exc:  # the store's own errors (endpoint, credentials) are many
            raise WarehouseError(f"cannot read {self.url}/{POINTER}: {exc}") from None

    def run(
        self,
        source: str | Path,
        *,
        lock_wait_seconds: float = 0.0,
        parts_in_store: bool = False,
        **options,
    ) -> dict:
        """`run_ingest` on the mirror, between taking the object-store lock and publishing.

        With `parts_in_store`, chunks write their parts straight into the object store (for
        workers on other machines, which cannot see the mirror) and the run downloads them
        for the build; otherwise they are written into the mirror and uploaded on publish."""
        keep = options.get("keep_snapshots", DEFAULT_KEEP_SNAPSHOTS)
        if parts_in_store:
            options.update(part_location=self._part_url, fetch_parts=self._fetch_parts)
        with ObjectLock(self.fs, self._key(LOCK), self.url, lock_wait_seconds) as lock:
            self.pull()
            before = published_snapshot(self.mirror)
            started = time.time() - 1.0  # file times lag the clock by up to a tick
            try:
                summary = run_ingest(source, self.mirror, **options)
                current = published_snapshot(self.mirror)
                if current != before:  # not when nothing changed
                    try:
                        self.push(current, keep, lock, previous=before)
                    except BaseException as exc:
                        summary.update(
                            status="failed", error=f"publishing failed: {exc}", seconds=None
                        )
                        record_run(self.mirror, summary)
                        raise
            finally:
                self._push_runs(since=started, lock=lock)  # failed runs are recorded too
        return summary

    def _part_url(self, folder: Path) -> str:
        return f"{self.url}/{folder.relative_to(self.mirror.root).as_posix()}"

    def _fetch_parts(self, folders: list[Path]) -> None:
        for folder in folders:
            self._get_folder(folder.relative_to(self.mirror.root).as_posix(), folder)

    def pull(self) -> None:
        """Bring the mirror to the published snapshot: its tables and state, and the parts
        that state names (each downloaded once: parts never change)."""
        current = self.current()
        if current is None:  # nothing published yet: the mirror starts empty too
            shutil.rmtree(self.mirror.root, ignore_errors=True)
            self.mirror.root.mkdir(parents=True)
            return
        self.mirror.root.mkdir(parents=True, exist_ok=True)
        self._get(self._key("warehouse.json"), self.mirror.meta)
        for key in _find(self.fs, self._key("runs")):
            if not (self.mirror.runs / _name(key)).exists():
                self._get(key, self.mirror.runs / _name(key))
        if published_snapshot(self.mirror) == current:
            return
        snapshot = self.mirror.snapshots / current
        self._get_folder(f"snapshots/{current}", snapshot)
        for part in live_parts(snapshot / "state.parquet"):
            self._get_folder(f"parts/{part}", self.mirror.parts / part)
        write_catalog(self.mirror, snapshot)

    def push(self, run_id: str, keep: int, lock: ObjectLock, previous: str | None) -> None:
        """Upload the new parts and snapshot, switch CURRENT, then remove what is stale."""
        self._upload_new(self.mirror.parts / run_id, f"parts/{run_id}")
        self._upload_new(self.mirror.snapshots / run_id, f"snapshots/{run_id}")
        lock.verify()  # still ours: nobody cleared it and started another run meanwhile
        self.fs.pipe_file(self._key(POINTER), json.dumps({"snapshot": run_id}).encode())
        # after CURRENT: a run that dies in between leaves the old owner, whose next run
        # asks for --full-refresh again, rather than a new owner beside the old tables
        self._put(self.mirror.meta, self._key("warehouse.json"))
        self._remove_stale(run_id, keep, previous)

    def _remove_stale(self, current: str, keep: int, previous: str | None) -> None:
        snapshots = sorted(_names(self.fs, self._key("snapshots")))
        older = [name for name in snapshots if name < current]
        stale = older[: max(len(older) - (max(keep, 1) - 1), 0)]
        stale += [name for name in snapshots if name > current]  # from runs that died
        for name in stale:
            if name == previous:
                continue  # current until a moment ago, whatever the clocks say: readers

            self.fs.rm(self._key("snapshots", name), recursive=True)
        live = set(live_parts(self.mirror.snapshots / current / "state.parquet"))
        for run in _names(self.fs, self._key("parts")):
            for part in _names(self.fs, self._key("parts", run)):
                if f"{run}/{part}" not in live:
                    self.fs.rm(self._key("parts", run, part), recursive=True)

    def _push_runs(self, since: float, lock: ObjectLock) -> None:
        """Upload the `load_runs` records this run wrote: its own, those of earlier runs it
        found killed, and a history file if it merged the run files (warehouse.runs); then
        remove from the store the files that history replaced, as the run did here."""
        local = list(self.mirror.runs.glob("*.parquet"))
        written = [p for p in local if p.stat().st_mtime >= since]
        if written:
            self.fs.put([str(p) for p in written], [self._key("runs", p.name) for p in written])
        history = max((p for p in written if p.name.startswith(HISTORY_PREFIX)), default=None)
        if history is None:
            return
        merged = {f"{run_id}.parquet" for run_id in pq.read_table(history)["run_id"].to_pylist()}
        here = {p.name for p in local}
        replaced = [  # the files of the runs it holds, and the histories it was made from
            key
            for key in _find(self.fs, self._key("runs"))
            if _name(key) not in here
            and (_name(key) in merged or _name(key).startswith(HISTORY_PREFIX))
        ]
        if replaced:
            try:
                lock.verify()  # only the lock's holder removes anything
            except WarehouseLocked:
                return  # the run fails for it already, if it published
            self.fs.rm(replaced)

    def _upload_new(self, folder: Path, prefix: str) -> None:
        """Upload the files below `folder` that `prefix` does not have yet."""
        if not folder.is_dir():
            return
        have = {key[len(self._key(prefix)) + 1 :] for key in _find(self.fs, self._key(prefix))}
        local = [
            path
            for path in sorted(folder.rglob("*"))
            if path.is_file()
            and path.name not in LOCAL_ONLY
            and path.relative_to(folder).as_posix() not in have
        ]
        if local:
            self.fs.put(
                [str(path) for path in local],
                [self._key(prefix, path.relative_to(folder).as_posix()) for path in local],
            )

    def _put(self, path: Path, key: str) -> None:
        self.fs.put_file(str(path), key)

    def _get(self, key: str, path: Path) -> None:
        """Download one object; the file appears whole or not at all."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.download")
        self.fs.get_file(key, str(partial))
        os.replace(partial, path)

    def _get_folder(self, prefix: str, folder: Path) -> None:
        """Download every object below `prefix` into `folder`, which appears whole or not
        at all (a folder already there is complete)."""
        if folder.is_dir():
            return
        partial = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(partial, ignore_errors=True)
        keys = [k for k in _find(self.fs, self._key(prefix)) if _name(k) not in LOCAL_ONLY]
        for key in keys:
            (partial / key[len(self._key(prefix)) + 1 :]).parent.mkdir(parents=True, exist_ok=True)
        if keys:
            self.fs.get(keys, [str(partial / key[len(self._key(prefix)) + 1 :]) for key in keys])
        partial.mkdir(parents=True, exist_ok=True)
        partial.rename(folder)


class ObjectLock:
    """One run at a time on an object-store warehouse: the LOCK object, created only where it
    does not exist (S3's conditional PUT) and deleted at the end. A run that dies leaves it
    behind; the message that names its holder says how to remove it."""

    def __init__(self, fs, key: str, url: str, wait_seconds: float = 0.0):
        self.fs, self.key, self.url, self.wait_seconds = fs, key, url, wait_seconds

    def __enter__(self) -> ObjectLock:
        self.holder = json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "token": secrets.token_hex(8),
            }
        ).encode()
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                self.fs.pipe_file(self.key, self.holder, mode="create")
                return self
            except Exception as exc:
                # S3 says "held" as 412 (FileExistsError here) or, racing another writer,
                # 409; a store may word it otherwise: the LOCK being there is what counts
                if not isinstance(exc, FileExistsError) and not self.fs.exists(self.key):
                    raise
                if time.monotonic() >= deadline:
                    raise WarehouseLocked(
                        f"another run holds the warehouse lock {self.url}/{LOCK} "
                        f"({self._holder()}); wait for it or pass --wait SECONDS; if that run "
                        f"died, delete {self.url}/{LOCK}"
                    ) from None
                time.sleep(1.0)

    def _holder(self) -> str:
        try:
            info = json.loads(self.fs.cat_file(self.key))
        except (FileNotFoundError, ValueError):
            return "holder unknown"
        return f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started_at')}"

    def _held(self) -> bool:
        try:
            return self.fs.cat_file(self.key) == self.holder
        except FileNotFoundError:
            return False

    def verify(self) -> None:
        """Raise WarehouseLocked unless the LOCK is still this run's."""
        if not self._held():
            raise WarehouseLocked(
                f"the warehouse lock {self.url}/{LOCK} was removed or taken over during "
                "this run; nothing was published"
            )

    def __exit__(self, *exc_info) -> None:
        if self._held():  # never another run's lock, if ours was cleared by hand
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(self.key)


def connect_remote(url: str, storage_options: dict | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with every table of the published snapshot as a view
    over a pyarrow dataset read through fsspec: no DuckDB extension (httpfs) is needed."""
    warehouse = RemoteWarehouse(url, storage_options)
    current = warehouse.current()
    if current is None:
        raise FileNotFoundError(
            f"no warehouse at {url!r} ({POINTER} is missing); run `newsfront run` first"
        )
    filesystem = PyFileSystem(FSSpecHandler(warehouse.fs))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table in TABLES:
        # one file per table: an object-store warehouse is never patched (store.publish)
        path = warehouse._key("snapshots", current, f"{table}.parquet")
        try:
            data = ds.dataset(path, filesystem=filesystem, format="parquet")
        except FileNotFoundError:
            continue  # a snapshot of an older version: its next run adds the table
        con.register(f"_{table}_data", data)
        columns = VIEW_COLUMNS.get(table, "*")
        con.execute(f"CREATE TEMP VIEW {table} AS SELECT {columns} FROM _{table}_data")
    con.register("_load_runs_data", with_todays_columns(_read_runs(warehouse, filesystem)))
    con.execute(
        "CREATE TEMP VIEW load_runs AS SELECT * FROM _load_runs_data "
        f"{ONE_ROW_PER_RUN} ORDER BY started_at"
    )
    for statement in derived_view_statements(temporary=True):
        con.execute(statement)
    return con


def _read_runs(warehouse: RemoteWarehouse, filesystem, tries: int = 3) -> list[pa.Table]:
    """Every run file's table. A file listed may be gone when read, if a run merged the run
    files meanwhile (warehouse.runs): then all are listed and read again."""
    for attempt in range(tries):
        try:
            return [
                pq.read_table(key, filesystem=filesystem)
                for key in _find(warehouse.fs, warehouse._key("runs"))
            ]
        except FileNotFoundError:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


def _find(fs, prefix: str) -> list[str]:
    try:
        return sorted(fs.find(prefix))
    except FileNotFoundError:
        return []


def _names(fs, prefix: str) -> list[str]:
    """The names directly below `prefix`."""
    try:
        return [_name(key) for key in fs.ls(prefix, detail=False)]
    except FileNotFoundError:
        return []


def _name(key: str) -> str:
    return key.rstrip("/").rsplit("/", 1)[-1]
