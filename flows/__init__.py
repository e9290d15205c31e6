"""Prefect flows and the CLI: wiring only.

Prefect reads its settings when it is first imported, so the zero-setup defaults are put in
place here, before any module of this package can import it. A value the user set wins.
`run_settings` gives the settings a flow runs with from the command line.
"""

import os
from pathlib import Path


def _project_home() -> Path:
    here = Path(__file__).resolve().parents[1]
    if (here / "pyproject.toml").exists():  # a checkout: keep Prefect's files beside it
        return here / ".prefect"
    return Path.home() / ".newsfront" / "prefect"


os.environ.setdefault("PREFECT_HOME", str(_project_home()))
# Without internet, Prefect's telemetry only logs errors.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The temporary server takes 7-16 s to start on a busy two-core machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


def run_settings(temporary_api_url: str | None = None) -> dict:
    """Prefect settings for a flow run from the command line (for `temporary_settings`).

    `temporary_api_url` is the temporary server `newsfront run` started itself
    (flows.server.TemporaryPrefectServer): the flow goes to it, and, as on Prefect's own
    temporary server, links to a UI are not logged (it serves none).

    A flow's heartbeats tell a server that its run is alive; a temporary server stops with
    the run, so it needs none. And the heartbeat thread, which sleeps a second at a time,
    holds up the flow's end until its sleep ends (measured: a flow of 0.1 s took 1.07 s, and
    0.2 s without heartbeats)."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_UI_URL,
        get_current_settings,
    )

    if temporary_api_url:
        return {
            PREFECT_API_URL: temporary_api_url,
            PREFECT_UI_URL: "",
            PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
        }
    if get_current_settings().api.url is None:  # Prefect starts its own temporary server
        return {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    return {}
