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


@pytest.fixture(scope="session")
def s3_endpoint():
    """A local S3 (moto in server mode) on 127.0.0.1 for the session, with the AWS_*
    variables pointing at it, as a user's environment would."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("the moto S3 server did not start") from None
            time.sleep(0.2)
    variables = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield endpoint
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def bucket(s3_endpoint, request):
    """A new, empty bucket for one test; its name, from the test's."""
    import re

    import fsspec

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-") + "-b"
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    if fs.exists(name):
        fs.rm(name, recursive=True)
    fs.mkdir(name)
    return name
