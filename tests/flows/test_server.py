"""The temporary Prefect server `newsfront run` starts itself, as the command starts."""

import os
import sys
import uuid
from pathlib import Path

import pytest

from flows.server import ServerError, TemporaryPrefectServer
from tests.flows.conftest import newsfront


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


class Exits(TemporaryPrefectServer):
    def command(self):
        return [sys.executable, "-c", "print('no database', flush=True); raise SystemExit(3)"]


class Hangs(TemporaryPrefectServer):
    def command(self):
        return [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_server_that_exits_is_an_error_naming_its_exit_code(capfd):
    class Captured(Exits):
        capture_output = True  # as `newsfront serve`'s server

    for server, shown in ((Exits(), "its output is above"), (Captured(), "no database")):
        server.start()
        try:
            with pytest.raises(ServerError, match=f"exited with code 3: {shown}"):
                server.wait_until_healthy()
        finally:
            server.stop()
        assert server.process is None
    # the temporary server's output goes where Prefect's own goes: the run's terminal
    assert capfd.readouterr().out.count("no database") == 1


def test_run_falls_back_to_prefects_server_if_its_own_exits_but_not_if_it_hangs():
    import typer

    from flows.cli import _wait_for

    exits = Exits()
    exits.start()
    assert _wait_for(exits) is None and exits.process is None  # Prefect starts its own
    hangs = Hangs(timeout=0.5)
    hangs.start()
    with pytest.raises(typer.Exit):  # Prefect's would wait as long again, on the same files
        _wait_for(hangs)
    assert hangs.process is None


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
    done = newsfront("run", str(corpus), "-w", str(tmp_path / "wh"), env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "articles" in done.stdout
    output = done.stdout + done.stderr
    assert "Finished in state Completed" in output
    assert "Starting temporary server" not in output  # Prefect's message for its own
    assert "View at" not in output  # no link to a UI this server does not serve
    assert processes_with(tag) == []
