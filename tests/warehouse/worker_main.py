"""A program run by module name that stages one chunk in a worker (for test_parallel):

    python -m tests.warehouse.worker_main SOURCE PART_DIR

Its forkserver preloads it, and each worker imports it again as it starts.
"""

from __future__ import annotations

import sys

from transforms.version import PARSER_VERSION
from warehouse.parallel import ProcessStager, start_forkserver
from warehouse.source import Listing, path_bytes
from warehouse.staging import ChunkJob
from warehouse.state import empty_state, plan_run

if __name__ == "__main__":
    source, part_dir = sys.argv[1:3]
    listing = Listing()
    listing.add(path_bytes("a.md"), None, None)
    files = plan_run(listing.table(), empty_state(), PARSER_VERSION).to_read
    start_forkserver()
    with ProcessStager(workers=1) as stager:
        job = ChunkJob(source=source, part_dir=part_dir, part="p", files=files)
        print(stager.submit(job).result()["parsed"])
