"""The temporary Prefect server `newsfront run` starts itself, as the command starts."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from flows.server import ServerError, TemporaryPrefectServer
from tests.conftest import ROOT


def test_it_is_started_as_prefect_starts_its_own(monkeypatch):
    """The same command and server flags as Prefect's SubprocessASGIServer, so that an
    upgrade of Prefect that changes them fails here rather than in a user's run."""
    import prefect.server.api.server as prefect_server

    started = {}

    def popen(args, env, **_):
        started.update(args=args, env=env)

    monkeypatch.setattr(prefect_server.subprocess, "Popen", popen)
    prefect_server.SubprocessASGIServer(port=4321)._run_uvicorn_command()
    prefect_server.SubprocessASGIServer._instances.pop(4321, None)
    ours = TemporaryPrefectServer(port=4321)
    assert ours.command() == started["args"]
    flags = {k: v for k, v in started["env"].items() if k.startswith(("PREFECT__", "PREFECT_UI"))}
    assert flags and flags.items() <= ours.environment().items()


def test_a_server_that_exits_is_an_error_naming_its_exit_code():
    class Exits(TemporaryPrefectServer):
        def command(self):
            return [sys.executable, "-c", "print('no database'); raise SystemExit(3)"]

    server = Exits()
    server.start()
    try:
        with pytest.raises(ServerError, match="exited with code 3: no database"):
            server.wait_until_healthy()
    finally:
        server.stop()
    assert server.process is None


def processes_with(tag: str) -> list[int]:
    """Live processes whose environment holds `tag`."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if tag.encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def test_run_uses_it_and_leaves_nothing_behind(corpus, tmp_path):
    """Without PREFECT_API_URL, `newsfront run` runs its flow on the server it started
    (Prefect starts none, and says so when it does) and stops it as it exits."""
    tag = f"NEWSFRONT_TEST_TAG_{uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update({tag: "1", "PREFECT_LOGGING_LEVEL": "INFO"})
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", str(corpus), "-w", str(tmp_path / "wh")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "articles" in done.stdout
    output = done.stdout + done.stderr
    assert "Finished in state Completed" in output
    assert "Starting temporary server" not in output  # Prefect's message for its own
    assert "View at" not in output  # no link to a UI this server does not serve
    assert processes_with(tag) == []
