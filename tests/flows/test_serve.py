"""`newsfront serve` with the local Prefect server it starts: runs happen, SIGTERM ends it all."""

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, pending = set(), [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.add(child)
            pending.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def completed_runs(api_url: str) -> list[dict]:
    response = httpx.post(
        f"{api_url}/flow_runs/filter",
        json={"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


@contextmanager
def serving(corpus: Path, tmp_path: Path, interval: int):
    """`newsfront serve` in a process of its own, with a Prefect home of its own; yields
    (process, the UI's address, the log file's path) once the server answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")  # a server database of its own
    log_path = tmp_path / "serve.log"
    command = [sys.executable, "-m", "flows.cli", "serve", str(corpus)]
    with log_path.open("w+") as log:
        serve = subprocess.Popen(
            [*command, "--warehouse", str(tmp_path / "wh"), "--interval", str(interval)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 180  # the server's start-up, on a busy machine
            ui = None
            while ui is None and time.monotonic() < deadline and serve.poll() is None:
                time.sleep(1)
                ui = re.search(r"Prefect UI: (http://127\.0\.0\.1:\d+)", log_path.read_text())
            assert ui, log_path.read_text()
            yield serve, ui.group(1), log_path
        finally:
            if serve.poll() is None:
                serve.kill()


def test_serve_runs_on_its_schedule_and_stops_cleanly_on_sigterm(corpus, tmp_path):
    with serving(corpus, tmp_path, interval=5) as (serve, ui, log):
        api_url = ui + "/api"
        deadline = time.monotonic() + 60  # "at least one completed run within a minute"
        runs: list[dict] = []
        while not runs and time.monotonic() < deadline:
            time.sleep(2)
            runs = completed_runs(api_url)
        assert runs, log.read_text()[-3000:]
        assert runs[0]["parameters"]["source"] == str(corpus)
        assert (tmp_path / "wh" / "news.duckdb").exists()
        below = descendants(serve.pid)
        assert below  # the server, at least
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0
        time.sleep(0.5)
        assert not [pid for pid in below if alive(pid)]
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{api_url}/health", timeout=2)


def test_the_server_stops_when_serve_is_killed_outright(corpus, tmp_path):
    """kill -9 on serve: the kernel's parent-death signal stops the server it started."""
    with serving(corpus, tmp_path, interval=3600) as (serve, _, _):
        below = descendants(serve.pid)
        serve.kill()
        serve.wait(timeout=30)
        deadline = time.monotonic() + 60
        while [pid for pid in below if alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not [pid for pid in below if alive(pid)]
