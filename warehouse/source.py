"""The source folder: which files are candidates (contract section 1), and reading one safely.

A source is a local folder or an object-store prefix (`s3://bucket/articles`); for the
latter the same candidate rules apply to the keys below the prefix, and a chunk's objects
are fetched concurrently.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from stat import S_ISREG

import pyarrow as pa
import pyarrow.compute as pc
from fsspec import AbstractFileSystem

from transforms.errors import Rejection
from warehouse.objects import is_url, mtime_ns, object_store

SUFFIXES = (".md", ".markdown", ".txt")  # case-sensitive, as the contract says
_SUFFIX_BYTES = tuple(suffix.encode() for suffix in SUFFIXES)
DEFAULT_MAX_BYTES = 5 * 1024 * 1024


class SourceError(Exception):
    """The source as a whole cannot be listed (missing, not a folder)."""


# One row per candidate file. `path` is relative to the source root, with `/` separators,
# as the name's own bytes: a name that is not UTF-8 stays exact.
LISTING_SCHEMA = pa.schema(
    [
        ("path", pa.binary()),
        # null when the file was not stat'ed: it cannot be (it is rejected when read), or
        # the listing was asked for names only
        ("size_bytes", pa.int64()),
        ("mtime_ns", pa.int64()),
    ]
)


class Listing:
    """Collects candidates into Arrow batches of `BATCH` rows, so listing a large source
    never holds one Python object per file (measured at 500,000 files: those objects, and
    the heap they fragmented, kept about 190 MB in the run's process until its end)."""

    BATCH = 65_536

    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []
        self.columns: tuple[list, list, list] = ([], [], [])

    def add(self, path: bytes, size: int | None, mtime_ns: int | None) -> None:
        """One candidate: its path as bytes (path_bytes), its size and mtime if known."""
        self.extend([path], [size], [mtime_ns])

    def extend(self, paths: list[bytes], sizes: list, mtimes: list) -> None:
        """Candidates by column: a folder's at once (a call per file cost listing 15%)."""
        columns = self.columns
        columns[0].extend(paths)
        columns[1].extend(sizes)
        columns[2].extend(mtimes)
        if len(columns[0]) >= self.BATCH:
            self._flush()

    def table(self) -> pa.Table:
        """Every candidate added, sorted by path in byte order."""
        self._flush()
        return pa.Table.from_batches(self.batches, LISTING_SCHEMA).sort_by("path")

    def _flush(self) -> None:
        if self.columns[0]:
            self.batches.append(pa.record_batch(list(self.columns), schema=LISTING_SCHEMA))
            self.columns = ([], [], [])


def list_candidates(
    root: Path | str, storage_options: dict | None = None, stat: bool = True
) -> pa.Table:
    """Candidate files below `root`, as a LISTING_SCHEMA table sorted by path.

    Names starting with `.` are skipped at every level. Links to folders are not followed,
    so no loop or second path to the same folder can arise. Links to files are listed like
    files; one that points outside the source is rejected as `unreadable` when read.

    `stat=False` leaves a local file's size and mtime null: a run with no state to compare
    them with reads every file anyway, and its reads give both (stat'ing 100,000 files cost
    0.2 s of a full load's listing of 0.3 s). An object store's listing always has them.
    """
    if is_url(root):
        return _list_objects(root, storage_options)
    root = Path(root)
    if not root.is_dir():
        raise SourceError(f"source folder {str(root)!r} does not exist or is not a folder")
    found = Listing()
    # Listed as bytes: names come as the listing holds them, with no encoding per file.
    pending = [(os.fsencode(root), b"")]
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as scan:
                entries = list(scan)
        except OSError:
            continue  # a folder that vanished or cannot be listed holds no candidates we can see
        paths, sizes, mtimes = [], [], []
        for entry in entries:
            name = entry.name
            if name.startswith(b"."):
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                pending.append((entry.path, prefix + name + b"/"))
            elif name.endswith(_SUFFIX_BYTES) and not _is_dir_link(entry):
                if len(paths) == found.BATCH:  # a folder of many files: a batch at a time
                    found.extend(paths, sizes, mtimes)
                    paths, sizes, mtimes = [], [], []
                size = mtime = None
                if stat:
                    try:
                        info = entry.stat()  # follows a link to its file
                    except OSError:
                        pass  # rejected as unreadable when read
                    else:
                        size, mtime = info.st_size, info.st_mtime_ns
                paths.append(prefix + name)
                sizes.append(size)
                mtimes.append(mtime)
        found.extend(paths, sizes, mtimes)
    return found.table()


def _list_objects(url: str, storage_options: dict | None) -> pa.Table:
    fs, base = object_store(url, storage_options)
    try:
        listing = fs.find(base, detail=True) if fs.isdir(base) else None
    except Exception as exc:  # the store's own errors (endpoint, credentials) are many
        raise SourceError(f"source {url!r} cannot be listed: {exc}") from None
    if listing is None:
        raise SourceError(f"source {url!r} does not exist or is not a folder")
    found = Listing()
    for key, info in listing.items():
        rel = key[len(base) :].lstrip("/")
        if (
            info.get("type") == "file"
            and rel.endswith(SUFFIXES)
            and not any(name.startswith(".") for name in rel.split("/"))
        ):
            found.add(path_bytes(rel), info.get("size"), mtime_ns(info))
    return found.table()


def _is_dir_link(entry: os.DirEntry) -> bool:
    try:
        return entry.is_symlink() and entry.is_dir()
    except OSError:
        return False


_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC


def read_candidate(
    root: Path | str, rel_path: str, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[bytes, int]:
    """The bytes and mtime (ns) of one candidate, or Rejection (`unreadable`, `too_large`).

    A file over the limit is rejected from its size, before it is read. Anything but a
    regular file (a FIFO, a device) is `unreadable`, without blocking on it.
    """
    path = os.path.join(root, rel_path)
    try:
        try:
            fd = os.open(path, _OPEN_FLAGS | os.O_NOFOLLOW)
        except OSError as exc:
            if exc.errno != errno.ELOOP:  # ELOOP: the file is a link (checked only then)
                raise
            if not Path(path).resolve().is_relative_to(Path(root).resolve()):
                raise Rejection(
                    "unreadable",
                    "the file is a symbolic link to a place outside the source; "
                    "copy the file into the source instead",
                ) from None
            fd = os.open(path, _OPEN_FLAGS)
        try:
            stat = os.fstat(fd)
            if not S_ISREG(stat.st_mode):
                raise Rejection("unreadable", "this is not a regular file (a pipe or device?)")
            if stat.st_size > max_bytes:
                raise Rejection("too_large", _too_large(stat.st_size, max_bytes))
            raw = _read_up_to(fd, max_bytes + 1, stat.st_size + 1)
        finally:
            os.close(fd)
    except (OSError, RuntimeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise Rejection("unreadable", f"the file could not be read: {reason}") from None
    if len(raw) > max_bytes:  # it grew while we read it
        raise Rejection("too_large", _too_large(len(raw), max_bytes))
    return raw, stat.st_mtime_ns


def fetch_objects(
    fs: AbstractFileSystem,
    base: str,
    paths: list[str],
    listed: list[tuple[int | None, int | None]],
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict[str, tuple[bytes, int | None] | Rejection]:
    """Each object's bytes and listed mtime, or its Rejection, fetched concurrently.

    `listed` is each path's (size, mtime_ns) from the listing: an object over the limit is
    rejected from its size, unread, as a local file is, and no read goes past the limit.
    An object that vanished is `unreadable`; any other failure of the store (throttling,
    credentials) raises, so the run fails rather than publish articles as rejected."""
    results: dict[str, tuple[bytes, int | None] | Rejection] = {}
    keys, wanted = [], []
    for path, (size, mtime) in zip(paths, listed, strict=True):
        if size is not None and size > max_bytes:
            results[path] = Rejection("too_large", _too_large(size, max_bytes))
        elif size == 0:
            results[path] = (b"", mtime)  # S3 refuses a range of an empty object
        else:
            keys.append(f"{base}/{path}")
            wanted.append((path, mtime))
    # cat_ranges takes keys literally (cat would expand `[`, `*`, `?` as a glob)
    fetched = fs.cat_ranges(keys, 0, max_bytes + 1, on_error="return") if keys else []
    for key, (path, mtime), raw in zip(keys, wanted, fetched, strict=True):
        if isinstance(raw, FileNotFoundError):
            results[path] = Rejection("unreadable", "the object vanished before it was read")
        elif isinstance(raw, BaseException):
            raise OSError(f"cannot read {key}: {raw}") from raw
        elif len(raw) > max_bytes:  # it grew after the listing
            results[path] = Rejection("too_large", _too_large(len(raw), max_bytes))
        else:
            results[path] = (raw, mtime)
    return results


def _read_up_to(fd: int, limit: int, expected: int) -> bytes:
    """At most `limit` bytes, asking first for the `expected` (the size, plus one to see
    growth): a read allocates what it asks for, and asking for the limit (5 MB) took more
    time than reading a small file."""
    pieces = []
    want = min(limit, expected)
    while limit > 0:
        piece = os.read(fd, want)
        if not piece:
            break
        pieces.append(piece)
        limit -= len(piece)
        want = min(limit, 1 << 16)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def path_bytes(path: str) -> bytes:
    """A path as the name's own bytes (os.fsencode on Linux), as listings hold it."""
    return path.encode("utf-8", "surrogateescape")


def path_text(raw: bytes) -> str:
    """path_bytes undone: the path as the os functions take it."""
    return raw.decode("utf-8", "surrogateescape")


def display_path(path: str) -> str:
    """The path as stored in the tables (`source_path`). Parquet and DuckDB hold only UTF-8
    text, so a byte of a name that is not UTF-8 is shown as a `\\xNN` escape, and a
    backslash in a name is shown doubled: no two names can then show alike (`x\\xff.md`,
    the text, is `x\\\\xff.md`), so each file keeps its own rows and state."""
    if path.isascii() and "\\" not in path:  # nearly every name: shown as it is
        return path
    return _shown(path_bytes(path))


def display_paths(paths: pa.ChunkedArray) -> pa.ChunkedArray:
    """display_path of each path of a listing (bytes), as Arrow text."""
    try:
        text = paths.cast(pa.string())  # every name is UTF-8: only backslashes to double
    except pa.ArrowInvalid:
        return pa.chunked_array([pa.array(map(_shown, paths.to_pylist()), pa.string())])
    return pc.replace_substring(text, "\\", "\\\\")


def _shown(raw: bytes) -> str:
    return raw.replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")


def _too_large(size: int, max_bytes: int) -> str:
    return (
        f"the file has {size:,} bytes, over the limit of {max_bytes:,}; "
        "split it or raise NEWSFRONT_MAX_FILE_BYTES"
    )
