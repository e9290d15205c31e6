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
    from prefect.settings import temporary_settings

    from flows import run_settings

    with temporary_settings(updates=run_settings()):  # as `newsfront run` runs its flow
        print(bare())
