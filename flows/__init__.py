"""Prefect flows and the CLI: wiring only.

Prefect reads its settings when it is first imported, so the zero-setup defaults are put in
place here, before any module of this package can import it. A value the user set wins.
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
