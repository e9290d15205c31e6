"""Source and warehouse in object storage (a local S3: moto in server mode).

The same corpus gives the same tables as a local run; incremental runs parse only what
changed, also from a fresh machine's empty mirror; CURRENT is the commit point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import fsspec
import pyarrow.parquet as pq
import pytest

import warehouse.remote as remote_module
from tests.conftest import SAMPLE_CORPUS
from tests.warehouse.helpers import tables
from warehouse import Warehouse, connect
from warehouse.lock import WarehouseLocked
from warehouse.pipeline import run_ingest
from warehouse.remote import LOCK, POINTER, RemoteWarehouse
from warehouse.staging import stage_chunk


@pytest.fixture
def fs(bucket):
    return fsspec.filesystem("s3", skip_instance_cache=True, use_listings_cache=False)


def upload_corpus(fs, bucket: str) -> str:
    """The sample corpus's regular files into the bucket (S3 has no symbolic links)."""
    files = [p for p in sorted(SAMPLE_CORPUS.rglob("*")) if p.is_file()]
    keys = [f"{bucket}/corpus/{p.relative_to(SAMPLE_CORPUS).as_posix()}" for p in files]
    fs.put([str(p) for p in files], keys)
    return f"s3://{bucket}/corpus"


def local_copy(fs, url: str, target: Path) -> Path:
    """The source as it is in the bucket, as a local folder."""
    prefix = url.removeprefix("s3://")
    for key in fs.find(prefix):
        path = target / key[len(prefix) + 1 :]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(fs.cat_file(key))
    return target


def local_tables(fs, url: str, tmp: Path) -> dict:
    shutil.rmtree(tmp, ignore_errors=True)
    source = local_copy(fs, url, tmp / "src")
    run_ingest(source, Warehouse(tmp / "wh"))
    return tables(tmp / "wh")


def test_bucket_to_bucket_gives_the_tables_of_a_local_run(fs, bucket, tmp_path):
    source = upload_corpus(fs, bucket)
    remote = RemoteWarehouse(f"s3://{bucket}/wh", cache_dir=tmp_path / "cache")
    summary = remote.run(source, chunk_size=100)
    assert summary["files_parsed"] == 301 and summary["articles"] == 268
    assert tables(f"s3://{bucket}/wh") == local_tables(fs, source, tmp_path / "local")
    assert json.loads(fs.cat_file(f"{bucket}/wh/{POINTER}")) == {"snapshot": summary["run_id"]}
    assert not fs.exists(f"{bucket}/wh/{LOCK}")
    assert not [k for k in fs.find(f"{bucket}/wh") if k.endswith("catalog.duckdb")]


def test_an_incremental_run_on_s3_parses_only_what_changed(fs, bucket, tmp_path):
    source = upload_corpus(fs, bucket)
    url = f"s3://{bucket}/wh"
    RemoteWarehouse(url, cache_dir=tmp_path / "cache").run(source)
    corpus = source.removeprefix("s3://")
    articles = sorted(
        k for k in fs.find(corpus) if "/." not in k and "/bad/" not in k and k.endswith(".txt")
    )
    for key in articles[:2]:
        fs.pipe_file(key, fs.cat_file(key) + b"\n\nAn edited body.\n")
    fs.rm_file(articles[2])
    fs.pipe_file(f"{corpus}/new/added.md", b"---\ntitle: Added\nwebUrl: https://e.org/a\n---\n")

    summary = RemoteWarehouse(url, cache_dir=tmp_path / "cache").run(source)
    assert (summary["files_parsed"], summary["files_deleted"]) == (3, 1)
    assert tables(url) == local_tables(fs, source, tmp_path / "local")
    # built whole, never patched: readers of the store take each table as one file
    assert not [k for k in fs.find(f"{bucket}/wh") if k.endswith(".delta.parquet")]

    # another machine: an empty mirror is filled from the store, and nothing is parsed
    again = RemoteWarehouse(url, cache_dir=tmp_path / "other-cache").run(source)
    assert again["files_parsed"] == 0
    assert tables(url) == local_tables(fs, source, tmp_path / "local")


def test_publishing_switches_current_last(fs, bucket, tmp_path, monkeypatch):
    """A run that dies before CURRENT is replaced leaves readers on the old snapshot, and
    the next run publishes and clears what the dead one uploaded."""
    source = upload_corpus(fs, bucket)
    url = f"s3://{bucket}/wh"
    first = RemoteWarehouse(url, cache_dir=tmp_path / "cache").run(source)
    before = tables(url)
    corpus = source.removeprefix("s3://")
    key = sorted(k for k in fs.find(corpus) if k.endswith(".txt"))[0]
    fs.pipe_file(key, fs.cat_file(key) + b"\n\nA changed body.\n")

    dying = RemoteWarehouse(url, cache_dir=tmp_path / "cache")
    real_pipe = dying.fs.pipe_file

    def fail_on_pointer(path, *args, **kwargs):
        if path.endswith(POINTER):
            raise OSError("killed before the commit point")
        return real_pipe(path, *args, **kwargs)

    monkeypatch.setattr(dying.fs, "pipe_file", fail_on_pointer)
    with pytest.raises(OSError, match="commit point"):
        dying.run(source)
    assert json.loads(fs.cat_file(f"{bucket}/wh/{POINTER}"))["snapshot"] == first["run_id"]
    assert tables(url) == before
    with connect(url) as con:  # the run says it failed, and why
        assert con.execute(
            "SELECT status, error LIKE 'publishing failed: killed%' FROM load_runs "
            "ORDER BY started_at DESC LIMIT 1"
        ).fetchall() == [("failed", True)]
    monkeypatch.undo()

    last = RemoteWarehouse(url, cache_dir=tmp_path / "cache").run(source, keep_snapshots=1)
    assert tables(url) == local_tables(fs, source, tmp_path / "local")
    snapshots = sorted(k.rsplit("/", 1)[-1] for k in fs.ls(f"{bucket}/wh/snapshots"))
    # the dead run's snapshot is gone; the one current until this publish stays a run
    # longer, whatever keep says, for readers that read CURRENT just before
    assert snapshots == [first["run_id"], last["run_id"]]


def test_a_held_lock_stops_a_second_run(fs, bucket, tmp_path):
    source = upload_corpus(fs, bucket)
    holder = b'{"pid": 4242, "host": "elsewhere", "started_at": "2026-11-26T10:00:00+00:00"}'
    fs.pipe_file(f"{bucket}/wh/{LOCK}", holder)
    with pytest.raises(WarehouseLocked, match="pid 4242 on elsewhere") as raised:
        RemoteWarehouse(f"s3://{bucket}/wh", cache_dir=tmp_path / "cache").run(source)
    assert f"delete s3://{bucket}/wh/{LOCK}" in str(raised.value)
    assert not fs.exists(f"{bucket}/wh/{POINTER}")


def test_connect_reads_an_s3_warehouse_without_httpfs(fs, bucket, tmp_path):
    source = upload_corpus(fs, bucket)
    summary = RemoteWarehouse(f"s3://{bucket}/wh", cache_dir=tmp_path / "cache").run(source)
    with connect(f"s3://{bucket}/wh") as con:
        assert not con.execute(
            "SELECT count(*) FROM duckdb_extensions() WHERE extension_name = 'httpfs' AND loaded"
        ).fetchone()[0]
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'articles'"
            ).fetchall()
        )
        assert (types["published_at"], types["extra"]) == ("TIMESTAMP WITH TIME ZONE", "JSON")
        assert con.execute("SELECT run_id, status FROM load_runs").fetchall() == [
            (summary["run_id"], "succeeded")
        ]


def test_a_missing_warehouse_is_named(bucket):
    with pytest.raises(FileNotFoundError, match="CURRENT is missing"):
        connect(f"s3://{bucket}/nothing")


def test_a_run_whose_lock_was_taken_over_publishes_nothing(fs, bucket, tmp_path, monkeypatch):
    """Someone deleted a slow run's LOCK and another run took it: the slow run must not
    publish over it, nor delete the other run's lock."""
    source = upload_corpus(fs, bucket)
    url = f"s3://{bucket}/wh"
    remote = RemoteWarehouse(url, cache_dir=tmp_path / "cache")
    other = b'{"pid": 1, "host": "other", "started_at": "now", "token": "x"}'
    real_run = remote_module.run_ingest

    def run_then_lose_the_lock(*args, **kwargs):
        summary = real_run(*args, **kwargs)
        fs.pipe_file(f"{bucket}/wh/{LOCK}", other)
        return summary

    monkeypatch.setattr(remote_module, "run_ingest", run_then_lose_the_lock)
    with pytest.raises(WarehouseLocked, match="taken over"):
        remote.run(source)
    assert not fs.exists(f"{bucket}/wh/{POINTER}")
    assert fs.cat_file(f"{bucket}/wh/{LOCK}") == other


def test_parts_written_straight_into_the_store(fs, bucket, tmp_path, monkeypatch):
    """For workers on other machines: chunks write their parts into the bucket, and the run
    downloads them for the build. The tables are the same."""
    source = upload_corpus(fs, bucket)
    url = f"s3://{bucket}/wh"
    destinations: list[str] = []

    def stage_and_note(jobs):
        destinations.extend(job.part_dir for job in jobs)
        return [stage_chunk(job) for job in jobs]

    summary = RemoteWarehouse(url, cache_dir=tmp_path / "cache").run(
        source, parts_in_store=True, chunk_size=100, stage_chunks=stage_and_note
    )
    assert len(destinations) == 4
    assert all(d.startswith(f"{url}/parts/{summary['run_id']}/") for d in destinations)
    assert tables(url) == local_tables(fs, source, tmp_path / "local")
    for destination in destinations:
        assert fs.exists(destination.removeprefix("s3://") + "/files.parquet")


def test_runs_recorded_by_an_older_version_read_with_todays_columns(fs, bucket, tmp_path):
    # the previous version's run records lack the *_seconds columns
    source = upload_corpus(fs, bucket)
    RemoteWarehouse(f"s3://{bucket}/wh", cache_dir=tmp_path / "cache").run(source)
    for key in fs.find(f"{bucket}/wh/runs"):
        with fs.open(key, "rb") as handle:
            table = pq.read_table(handle)
        table = table.drop_columns([c for c in table.column_names if "seconds" in c])
        with fs.open(key, "wb") as handle:
            pq.write_table(table, handle)
    with connect(f"s3://{bucket}/wh") as con:
        assert con.execute("SELECT status, staging_seconds FROM load_runs").fetchall() == [
            ("succeeded", None)
        ]
    # a new machine's mirror pulls those records and runs on
    summary = RemoteWarehouse(f"s3://{bucket}/wh", cache_dir=tmp_path / "new-cache").run(source)
    assert summary["files_unchanged"] == summary["files_seen"]
    with connect(f"s3://{bucket}/wh") as con:
        assert con.execute(
            "SELECT staging_seconds IS NULL FROM load_runs ORDER BY started_at"
        ).fetchall() == [(True,), (False,)]


def test_merged_run_files_leave_the_store_too(fs, bucket, tmp_path, monkeypatch):
    from warehouse import runs

    monkeypatch.setattr(runs, "COMPACT_AT", 2)
    source = upload_corpus(fs, bucket)
    url = f"s3://{bucket}/wh"
    run_ids = [
        RemoteWarehouse(url, cache_dir=tmp_path / f"cache-{i % 2}").run(source)["run_id"]
        for i in range(4)  # two machines' mirrors, taking turns
    ]
    names = sorted(key.rsplit("/", 1)[1] for key in fs.find(f"{bucket}/wh/runs"))
    assert len(names) <= 3 and any(name.startswith("history-") for name in names)
    with connect(url) as con:
        rows = con.execute("SELECT run_id, status FROM load_runs").fetchall()
    assert rows == [(run_id, "succeeded") for run_id in run_ids]
