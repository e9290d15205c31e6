"""CLI errors that stop before Prefect starts: one line, non-zero exit, no traceback."""

import os
import re

from tests.flows.conftest import newsfront


def test_missing_source_is_one_line_and_exit_1(tmp_path):
    done = newsfront("run", str(tmp_path / "nope"), "--warehouse", str(tmp_path / "wh"))
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr


def test_unwritable_warehouse_is_one_line_and_exit_1(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = newsfront("run", str(tmp_path), "--warehouse", str(blocker / "wh"))
    assert done.returncode == 1 and "cannot be created or written" in done.stderr
    assert "Traceback" not in done.stderr


def test_sql_without_a_warehouse_says_how_to_make_one(tmp_path):
    done = newsfront("sql", "SELECT 1", "--warehouse", str(tmp_path))
    assert done.returncode == 1 and "newsfront run" in done.stderr


def test_sql_error_is_one_line(tmp_path, published_warehouse):
    done = newsfront("sql", "SELECT nope FROM articles", "--warehouse", str(published_warehouse))
    assert done.returncode == 1 and "nope" in done.stderr
    assert done.stderr.strip().count("\n") == 0


def test_locked_warehouse_is_one_line_naming_the_holder(published_warehouse):
    from warehouse.lock import RunLock

    with RunLock(published_warehouse / ".lock"):
        done = newsfront(
            "run", str(published_warehouse.parent / "src"), "--warehouse", str(published_warehouse)
        )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"pid {os.getpid()}" in done.stderr and "--wait" in done.stderr


def test_another_source_is_one_line_suggesting_full_refresh(published_warehouse, tmp_path):
    done = newsfront("run", str(tmp_path), "--warehouse", str(published_warehouse))
    assert done.returncode == 1 and "--full-refresh" in done.stderr
    assert done.stderr.strip().count("\n") == 0


def test_stats_on_the_sample_warehouse(tmp_path, corpus):
    from warehouse import Warehouse
    from warehouse.pipeline import run_ingest

    summary = run_ingest(corpus, Warehouse(tmp_path / "wh"))
    done = newsfront("stats", "--warehouse", str(tmp_path / "wh"), "--top", "3")
    assert done.returncode == 0, done.stderr
    assert re.search(rf"│ articles\s+│ {summary['articles']:,}\s+│", done.stdout), done.stdout
    for title in ("Last runs", "Rejected files by reason", "Top topics", "Largest stories"):
        assert title in done.stdout


def test_docs_check_knows_an_out_of_date_file(tmp_path):
    stale = tmp_path / "schema.md"
    stale.write_text("# old\n")
    done = newsfront("docs", "--check", "--output", str(stale))
    assert done.returncode == 1 and "out of date" in done.stderr
    assert newsfront("docs", "--output", str(stale)).returncode == 0
    assert newsfront("docs", "--check", "--output", str(stale)).returncode == 0


def test_run_points_its_flow_at_the_server_it_started_or_the_configured_one(tmp_path, monkeypatch):
    """`newsfront run` starts a temporary server unless PREFECT_API_URL is set, and calls the
    flow on it without heartbeats. A server configured where only Prefect looks (here, its
    settings) wins: the temporary one is stopped, and the flow keeps Prefect's heartbeats."""
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings
    from typer.testing import CliRunner

    import flows.cli
    import flows.ingest

    class Called(Exception):
        pass

    seen, started = [], []
    start_temporary_server = flows.cli._start_temporary_server

    def start():
        server = start_temporary_server()
        started.append(server)
        return server

    def ingest(**arguments):  # stands in for the flow: what would it run with?
        current = get_current_settings()
        seen.append((current.api.url, current.flows.heartbeat_frequency))
        raise Called

    monkeypatch.setattr(flows.cli, "_start_temporary_server", start)
    monkeypatch.setattr(flows.ingest, "ingest", ingest)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    (tmp_path / "src").mkdir()
    # a Dask address: no forkserver is started for a flow that never runs
    arguments = ["run", str(tmp_path / "src"), "-w", str(tmp_path / "wh"), "--dask-address", "x"]
    try:
        result = CliRunner().invoke(flows.cli.app, arguments)
        assert isinstance(result.exception, Called)
        assert seen[-1] == (started[-1].api_url, None)
        configured = "http://127.0.0.1:4200/api"
        with temporary_settings(updates={PREFECT_API_URL: configured}):
            result = CliRunner().invoke(flows.cli.app, arguments)
        assert isinstance(result.exception, Called)
        assert started[-1].process is None  # started, then stopped for the configured one
        assert seen[-1][0] == configured and seen[-1][1] is not None
        monkeypatch.setenv("PREFECT_API_URL", configured)
        result = CliRunner().invoke(flows.cli.app, arguments)
        assert isinstance(result.exception, Called)
        assert started[-1] is None and seen[-1][0] == configured  # none started at all
    finally:
        for server in started:
            if server is not None:
                server.stop()
