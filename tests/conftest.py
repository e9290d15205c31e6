from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SEED = SHARED / "seeds" / "000_5adb0f331346457b.txt"
SAMPLE_CORPUS = ROOT / "examples" / "corpus"


@pytest.fixture
def seed_bytes() -> bytes:
    return SEED.read_bytes()


def build_warehouse(root: Path, files: dict[str, bytes]) -> Path:
    """A published warehouse built from the library directly, without Prefect."""
    from warehouse import Warehouse
    from warehouse.runs import record_run
    from warehouse.staging import stage_chunk
    from warehouse.store import claim, part_dir, publish

    source = root / "src"
    for rel, raw in files.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(raw)
    store = Warehouse(root / "wh")
    claim(store, source, full_refresh=False)
    part = part_dir(store, "r1", 0)
    stage_chunk(source, sorted(files), part)
    record_run(store, {"run_id": "r1", "status": "succeeded"})
    publish(store, "r1", [part])
    return store.root


@pytest.fixture
def published_warehouse(tmp_path) -> Path:
    return build_warehouse(tmp_path, {"seed.txt": SEED.read_bytes()})
