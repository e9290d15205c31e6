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
    print(bare())
