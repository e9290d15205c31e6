"""A program run by module name that stages one chunk in a worker (for test_parallel):

    python -m tests.warehouse.worker_main SOURCE PART_DIR

Its forkserver preloads it, and each worker imports it again as it starts.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.warehouse.test_parallel import job
from warehouse.parallel import ProcessStager, start_forkserver

if __name__ == "__main__":
    source, part_dir = sys.argv[1:3]
    start_forkserver()
    with ProcessStager(workers=1) as stager:
        print(stager.submit(job(source, Path(part_dir), ["a.md"])).result()["parsed"])
