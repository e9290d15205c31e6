"""Prefect servers that newsfront starts and stops itself.

- `LocalPrefectServer`, for `newsfront serve`: schedules need a real server (against the
  temporary one a flow started by `flow.serve` is never run). It runs as `prefect server
  start` in its own process group, with its database under PREFECT_HOME.
- `TemporaryPrefectServer`, for `newsfront run` when no server is configured: the same API
  server that Prefect would start on the run's first flow call (its "temporary server"),
  started instead as the command starts, so that its start-up (about 3 s of one core,
  mostly imports) runs beside the command's own imports rather than after them.

Either is stopped as a whole process group, so nothing is left behind. This module imports
nothing from Prefect, so the caller can start a server and point Prefect at it
(PREFECT_API_URL) before Prefect is imported.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path

PREFECT_SERVER = (sys.executable, "-m", "prefect", "server", "start")
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
PR_SET_PDEATHSIG = 1
STARTUP_TIMEOUT = 180.0  # seconds; it takes 10-20 s on a busy two-core machine


class ServerError(Exception):
    """The local Prefect server did not start."""


class LocalPrefectServer:
    """`with LocalPrefectServer() as server:` runs a Prefect server on 127.0.0.1 until the
    block ends; `server.api_url` is its API and `server.ui_url` its UI."""

    poll_seconds = 0.5  # between health checks while it starts
    capture_output = True  # shown when it fails to start; else its output is the terminal's

    def __init__(self, port: int | None = None, timeout: float = STARTUP_TIMEOUT):
        self.port = port or _free_port()
        self.timeout = timeout
        self.ui_url = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.ui_url}/api"
        self.process: subprocess.Popen | None = None
        self.log = None

    def command(self) -> list[str]:
        return [*PREFECT_SERVER, "--host", "127.0.0.1", "--port", str(self.port)]

    def environment(self) -> dict[str, str]:
        env = {**os.environ}
        env.pop("PREFECT_API_URL", None)
        # Scheduled runs of a new deployment are created within seconds, not a minute.
        env.setdefault("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", "5")
        return env

    def start(self) -> None:
        """Start the server's process and return at once; `wait_until_healthy` waits."""
        self.log = tempfile.TemporaryFile() if self.capture_output else None  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                self.command(),
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=self.log,
                stderr=subprocess.STDOUT if self.log else None,
                start_new_session=True,  # its own process group, stopped as a whole
                preexec_fn=partial(_stop_with_parent, os.getpid()),
            )
        except BaseException:
            self._close_log()
            raise

    def __enter__(self) -> LocalPrefectServer:
        self.start()
        try:
            self.wait_until_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"the Prefect server exited with code {self.process.returncode}: "
                    + self._output_tail()
                )
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(self.poll_seconds)
        raise ServerError(
            f"the Prefect server did not answer within {self.timeout:.0f} s: " + self._output_tail()
        )

    def _output_tail(self) -> str:
        if self.log is None:
            return "its output is above"
        self.log.seek(0)
        lines = self.log.read().decode(errors="replace").strip().splitlines()
        return " / ".join(lines[-3:]) or "no output"

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to the server's process group, SIGKILL to what is left after `grace` s.
        A second Ctrl-C or SIGTERM meanwhile does not cut this short."""
        if self.process is None:
            return
        held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            if not _end_group(self.process, signal.SIGTERM, grace):
                _end_group(self.process, signal.SIGKILL, 10.0)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        self.process = None
        self._close_log()

    def _close_log(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None

    def __exit__(self, *exc_info) -> None:
        self.stop()


class TemporaryPrefectServer(LocalPrefectServer):
    """Prefect's temporary server for one `newsfront run`, started early (see the module's
    docstring): `start()`, then `wait_until_healthy()` just before the flow is called with
    PREFECT_API_URL set to `api_url`. It stops when the process exits, as Prefect's own does:
    after Prefect has sent the run's last logs and events, which it does at exit."""

    poll_seconds = 0.05  # a run waits for it: every tenth of a second counts
    capture_output = False  # as Prefect's own: its errors go to the run's terminal

    def command(self) -> list[str]:
        # as prefect.server.api.server.SubprocessASGIServer starts it (a test compares them)
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(_prefect_folder().parent),
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ]

    def environment(self) -> dict[str, str]:
        # Prefect's own flags for its temporary server: no UI, no scheduling services
        return {
            **os.environ,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
        }

    def start(self) -> None:
        super().start()
        atexit.register(self.stop, grace=5.0)


def _prefect_folder() -> Path:
    """The installed prefect package's folder, found without importing it."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:
        raise ServerError("Prefect is not installed")
    return Path(spec.origin).parent


def _stop_with_parent(parent: int) -> None:
    """In the server's process: get SIGTERM when the newsfront command that started it
    dies, even by SIGKILL (Linux's parent-death signal; elsewhere nothing is set)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the signal was asked for
        os.kill(os.getpid(), signal.SIGTERM)


def _end_group(leader: subprocess.Popen, sig: signal.Signals, wait: float) -> bool:
    """Send `sig` to the leader's process group; whether the whole group ended in `wait` s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader.pid, sig)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        leader.poll()  # reaps the leader; its children are reaped by init
        try:
            os.killpg(leader.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
