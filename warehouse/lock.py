"""One run at a time per warehouse: an advisory lock on `<warehouse>/.lock`.

`flock` is released by the kernel when its holder dies, so a lock left by a killed run is
never stale: the next run simply takes it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import time
from pathlib import Path


class WarehouseLocked(Exception):
    """Another run holds the warehouse."""


class RunLock:
    def __init__(self, path: Path, wait_seconds: float = 0.0):
        self.path = Path(path)
        self.wait_seconds = wait_seconds
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise WarehouseLocked(
                        f"another run holds the warehouse lock {self.path} ({holder}); "
                        "wait for it or pass --wait SECONDS"
                    ) from None
                time.sleep(0.2)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc_info) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def ensure_free(path: Path) -> None:
    """Raise WarehouseLocked now if a run holds the lock (a quick check before a run starts;
    the run itself takes the lock)."""
    if not Path(path).exists():
        return
    with RunLock(path):
        pass


def looks_held(path: Path) -> bool:
    """Whether the lock file names a holder: a run holds the lock, or one was killed holding
    it. Only a hint, and it takes no lock (a probe that did could make a run starting at
    that moment find the warehouse locked)."""
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return "holder unknown"
    if not info:
        return "holder unknown"
    return f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started_at')}"
