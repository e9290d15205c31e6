from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SEED = SHARED / "seeds" / "000_5adb0f331346457b.txt"
SAMPLE_CORPUS = ROOT / "examples" / "corpus"


@pytest.fixture
def seed_bytes() -> bytes:
    return SEED.read_bytes()


def build_warehouse(root: Path, files: dict[str, bytes | str], chunk_size: int = 1000) -> Path:
    """A published warehouse built by the pipeline without Prefect."""
    from warehouse import Warehouse
    from warehouse.pipeline import run_ingest

    source = root / "src"
    source.mkdir(parents=True)
    for rel, content in files.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(content.encode() if isinstance(content, str) else content)
    store = Warehouse(root / "wh")
    run_ingest(source, store, chunk_size=chunk_size)
    return store.root


@pytest.fixture
def published_warehouse(tmp_path) -> Path:
    return build_warehouse(tmp_path, {"seed.txt": SEED.read_bytes()})
