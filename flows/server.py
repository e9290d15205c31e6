"""A local Prefect server for `newsfront serve`, started and stopped with it.

Schedules need a real server: against the temporary one a flow started by `flow.serve` is
never run. The server runs as `prefect server start` in its own process group, with its
database under PREFECT_HOME; stopping it stops that whole group, so nothing is left behind.
This module imports nothing from Prefect, so the caller can point Prefect at the server
(PREFECT_API_URL) before Prefect reads its settings.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

PREFECT_SERVER = (sys.executable, "-m", "prefect", "server", "start")
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
PR_SET_PDEATHSIG = 1
STARTUP_TIMEOUT = 180.0  # seconds; it takes 10-20 s on a busy two-core machine


class ServerError(Exception):
    """The local Prefect server did not start."""


class LocalPrefectServer:
    """`with LocalPrefectServer() as server:` runs a Prefect server on 127.0.0.1 until the
    block ends; `server.api_url` is its API and `server.ui_url` its UI."""

    def __init__(self, port: int | None = None, timeout: float = STARTUP_TIMEOUT):
        self.port = port or _free_port()
        self.timeout = timeout
        self.ui_url = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.ui_url}/api"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> LocalPrefectServer:
        self.log = tempfile.TemporaryFile()
        env = {**os.environ}
        env.pop("PREFECT_API_URL", None)
        # Scheduled runs of a new deployment are created within seconds, not a minute.
        env.setdefault("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", "5")
        self.process = subprocess.Popen(
            [*PREFECT_SERVER, "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole
            preexec_fn=_stop_with_parent,
        )
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_healthy(self) -> None:
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
            time.sleep(0.5)
        raise ServerError(
            f"the Prefect server did not answer within {self.timeout:.0f} s: " + self._output_tail()
        )

    def _output_tail(self) -> str:
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
        self.log.close()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _stop_with_parent() -> None:
    """In the server's process: get SIGTERM when `newsfront serve` dies, even by SIGKILL
    (Linux's parent-death signal; elsewhere nothing is set)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


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
        time.sleep(0.2)
    return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
