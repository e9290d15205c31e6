import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, SAMPLE_CORPUS


def newsfront(*args: str, env: dict | None = None, timeout: float = 60):
    """`newsfront ARGS` in a process of its own, run from the checkout, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture(scope="session")
def prefect_api_url():
    """One temporary Prefect server for the whole session (it takes seconds to start)."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    import flows  # noqa: F401  (puts the project's Prefect defaults in place first)

    with prefect_test_harness(server_startup_timeout=180):
        yield PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """A copy of the bundled sample corpus (its broken symlink included)."""
    target = tmp_path_factory.mktemp("corpus") / "corpus"
    shutil.copytree(SAMPLE_CORPUS, target, symlinks=True)
    return target
