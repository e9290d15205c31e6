"""Baseline for start-up: a bare one-task Prefect flow in the same environment.

python benchmarks/baselines/bare_flow.py
"""

import flows  # noqa: F401, I001  (first: the same Prefect defaults as newsfront)
from prefect import flow, task


@task
def one() -> int:
    return 1


@flow
def bare() -> int:
    return one()


if __name__ == "__main__":
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        get_current_settings,
        temporary_settings,
    )

    # as `newsfront run` runs its flow (flows.ingest.run_settings, not imported here: its
    # imports are not a bare flow's): without heartbeats on the temporary server
    temporary = get_current_settings().api.url is None
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None} if temporary else {}):
        print(bare())
