"""End to end: the ingest flow on the bundled sample corpus, once, then checks on its warehouse."""

import dataclasses
import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, SEED
from tests.flows.conftest import newsfront
from transforms.urls import article_id
from warehouse import connect
from warehouse.source import list_candidates


@pytest.fixture(scope="module", params=["workers", "inline"])
def loaded(request, prefect_api_url, corpus, tmp_path_factory):
    """The sample corpus loaded once through worker processes and once in the flow's own
    process (how runs with few files to read go); every test below checks both."""
    from flows.ingest import ingest

    warehouse = tmp_path_factory.mktemp("wh") / "warehouse"
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "workers":
            patch.setattr("warehouse.parallel.INLINE_FILES", 0)
        summary = ingest(source=str(corpus), warehouse=str(warehouse))
    return summary, warehouse


def query(warehouse, sql):
    with connect(warehouse) as con:
        return con.execute(sql).fetchall()


def test_counts_match_what_the_generator_wrote(loaded, corpus):
    summary, warehouse = loaded
    expected = json.loads((corpus / ".manifest.json").read_text())
    for table, count in expected["tables"].items():
        if table == "related_resolved":
            sql = "SELECT count(related_article_id) FROM related_items"
        else:
            sql = f"SELECT count(*) FROM {table}"
        assert query(warehouse, sql) == [(count,)], table
    assert summary["files_seen"] == expected["files_seen"]
    assert summary["files_rejected"] == expected["files_rejected"]
    assert summary["rejected_by_reason"] == expected["rejected_by_reason"]
    assert summary["articles"] == expected["tables"]["articles"]


def test_every_candidate_is_in_exactly_one_of_sources_and_rejected(loaded, corpus):
    _, warehouse = loaded
    listed = query(
        warehouse,
        "SELECT source_path FROM article_sources UNION ALL "
        "SELECT source_path FROM rejected_files ORDER BY 1",
    )
    assert [path for (path,) in listed] == [
        path.decode() for path in list_candidates(corpus)["path"].to_pylist()
    ]


def test_one_rejected_file_per_reason_with_a_detail(loaded):
    _, warehouse = loaded
    reasons = dict(query(warehouse, "SELECT reason, count(*) FROM rejected_files GROUP BY 1"))
    assert set(reasons) == {
        "unreadable",
        "too_large",
        "encoding",
        "no_front_matter",
        "too_complex",
        "syntax_error",
        "not_a_mapping",
        "missing_required",
    }
    assert query(
        warehouse, "SELECT detail FROM rejected_files WHERE source_path = 'bad/syntax_error.md'"
    )[0][0].endswith("(at line 5, column 1)")


def test_the_seed_article_row_for_row(loaded):
    _, warehouse = loaded
    aid = article_id(
        "https://www.aclu.org/press-releases/aclu-louisiana-obtains-e-mails-"
        "confirm-nopds-use-racially-biased-facial-recognition"
    )
    assert query(
        warehouse,
        f"SELECT source_path, quality, heat, is_published, "
        f"published_at::VARCHAR FROM articles WHERE article_id = '{aid}'",
    ) == [(SEED.name, 36, -1, False, "2020-12-14 21:48:00+00")]
    assert query(
        warehouse,
        f"SELECT position, topic FROM article_topics WHERE article_id = '{aid}' ORDER BY 1",
    ) == [(0, "Computer Vision"), (1, "AI")]
    assert query(
        warehouse,
        f"SELECT position, provider_domain FROM related_items "
        f"WHERE article_id = '{aid}' ORDER BY 1",
    ) == [(0, "nola.com"), (1, "thelensnola.org"), (2, "governing.com")]
    assert query(warehouse, f"SELECT count(*) FROM images WHERE article_id = '{aid}'") == [(3,)]
    assert query(warehouse, "SELECT name FROM providers WHERE domain = 'thelensnola.org'") == [
        ("The Lens",)
    ]


def test_types_in_duckdb(loaded):
    _, warehouse = loaded
    types = dict(
        query(
            warehouse,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'articles'",
        )
    )
    assert types["published_at"] == "TIMESTAMP WITH TIME ZONE"
    assert (types["quality"], types["is_published"], types["extra"]) == (
        "BIGINT",
        "BOOLEAN",
        "JSON",
    )


def test_load_runs_records_the_run_with_its_prefect_id(loaded):
    summary, warehouse = loaded
    assert query(
        warehouse,
        "SELECT run_id, status, files_seen, articles, flow_run_id IS NOT NULL FROM load_runs",
    ) == [(summary["run_id"], "succeeded", summary["files_seen"], summary["articles"], True)]


def test_the_run_leaves_its_summary_and_rejected_files_as_artifacts(loaded):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    summary, _ = loaded
    run_filter = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[summary["flow_run_id"]]))
    with get_client(sync_client=True) as client:
        artifacts = {a.key: a for a in client.read_artifacts(artifact_filter=run_filter)}
    markdown = artifacts["newsfront-run-summary"]
    assert markdown.type == "markdown"
    assert f"| seen | {summary['files_seen']:,} |" in markdown.data
    assert f"| articles | {summary['articles']:,} |" in markdown.data
    assert "- **too_large**: 1\n  - `bad/" in markdown.data
    table = artifacts["newsfront-rejected-files"]
    assert table.type == "table"
    rows = json.loads(table.data)
    assert len(rows) == summary["files_rejected"] == 10
    assert {row["reason"] for row in rows} == set(summary["rejected_by_reason"])


def test_a_second_source_is_refused(loaded, tmp_path):
    from flows.ingest import ingest
    from warehouse.store import WarehouseError

    _, warehouse = loaded
    with pytest.raises(WarehouseError, match="belongs to source"):
        ingest(source=str(tmp_path), warehouse=str(warehouse))


def test_cli_run_and_sql_in_a_fresh_process(prefect_api_url, corpus, tmp_path):
    """The user's path: `newsfront run`, then `newsfront sql` in each format."""
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api_url,
        "NEWSFRONT_WAREHOUSE": str(tmp_path / "wh"),
    }
    cli = [sys.executable, "-m", "flows.cli"]
    done = newsfront("run", str(corpus), env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "articles" in done.stdout and "missing_required" in done.stdout
    # listed and staged while the command started up, and taken by the run
    assert "its 1 chunk began staging then" in done.stdout + done.stderr  # 311 files
    sql = "SELECT reason, count(*) AS n FROM rejected_files GROUP BY 1 ORDER BY 1 LIMIT 2"
    as_csv = subprocess.run(
        [*cli, "sql", sql, "--format", "csv"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert as_csv.splitlines() == ["reason,n", "encoding,1", "missing_required,2"]
    as_json = subprocess.run(
        [*cli, "sql", sql, "-f", "json"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(as_json) == [
        {"reason": "encoding", "n": 1},
        {"reason": "missing_required", "n": 2},
    ]


def test_a_local_dask_cluster_gives_the_same_tables(prefect_api_url, corpus, tmp_path):
    """`--dask-address local`: the chunks are staged by a two-process Dask cluster."""
    from flows.ingest import ingest
    from tests.warehouse.helpers import tables
    from warehouse import Warehouse
    from warehouse.pipeline import run_ingest

    summary = run_ingest(corpus, Warehouse(tmp_path / "here"))
    on_dask = tmp_path / "wh"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEWSFRONT_WORKERS", "2")
        patch.setenv("NEWSFRONT_CHUNK_SIZE", "50")  # several chunks, so both workers stage
        dask_summary = ingest(source=str(corpus), warehouse=str(on_dask), dask_address="local")
    assert dask_summary["files_parsed"] == summary["files_parsed"]
    assert tables(on_dask) == tables(tmp_path / "here")
    parts = {p.name for p in (on_dask / "parts").glob("*/*")}
    assert len(parts) == 7  # 311 files in chunks of 50


def test_workers_stage_a_few_chunks_in_each_task_run(prefect_api_url, corpus, tmp_path):
    """Chunks of 20 files: the 311 files make 16 chunks, staged by four task runs of four
    chunks each, into the same tables as a serial run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.ingest import CHUNKS_PER_TASK, ingest
    from tests.warehouse.helpers import tables
    from warehouse import Warehouse
    from warehouse.pipeline import run_ingest

    run_ingest(corpus, Warehouse(tmp_path / "serial"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("warehouse.parallel.INLINE_FILES", 0)
        patch.setenv("NEWSFRONT_CHUNK_SIZE", "20")
        summary = ingest(source=str(corpus), warehouse=str(tmp_path / "wh"))
    assert tables(tmp_path / "wh") == tables(tmp_path / "serial")
    assert len(list((tmp_path / "wh" / "parts").glob("*/*"))) == 16
    tasks = -(-16 // CHUNKS_PER_TASK)
    runs = FlowRunFilter(id=FlowRunFilterId(any_=[summary["flow_run_id"]]))
    with get_client(sync_client=True) as client:
        for _ in range(300):  # the server records task runs from their events, shortly after
            staged = client.read_task_runs(flow_run_filter=runs)
            if len(staged) >= tasks and all(run.state.is_completed() for run in staged):
                break
            time.sleep(0.1)
    assert sorted(run.name.split("-")[0] for run in staged) == ["stage"] * tasks


def test_newsfront_run_stages_ahead_in_the_workers_its_flow_then_uses(
    prefect_api_url, corpus, tmp_path
):
    """What `newsfront run` does while Prefect starts, then its flow: the chunks staged
    ahead are those of the run, moved into its parts, into the same tables as a serial
    run; in workers, though 311 files are few enough to stage in the flow's process."""
    from flows.cli import _plan_ahead
    from flows.ingest import ingest
    from flows.settings import Settings
    from tests.warehouse.helpers import tables
    from warehouse import Warehouse
    from warehouse.pipeline import _AHEAD, run_ingest

    run_ingest(corpus, Warehouse(tmp_path / "serial"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEWSFRONT_CHUNK_SIZE", "100")
        _plan_ahead(str(corpus), str(tmp_path / "wh"), False, Settings())
        [ahead] = _AHEAD.values()
        ahead.thread.join()
        submitted = list(ahead.stager.ahead.values())
        assert len(submitted) == 4  # 311 files in chunks of 100
        given = []
        submit = ahead.stager.submit
        patch.setattr(ahead.stager, "submit", lambda job: given.append(submit(job)) or given[-1])
        summary = ingest(source=str(corpus), warehouse=str(tmp_path / "wh"))
    assert given == submitted  # the flow staged with those workers, and took each chunk
    assert summary["run_id"] == ahead.run_id
    assert len(list((tmp_path / "wh" / "parts" / ahead.run_id).iterdir())) == 4
    assert not _AHEAD and not (tmp_path / "wh" / "ahead").exists()
    assert tables(tmp_path / "wh") == tables(tmp_path / "serial")


def test_a_failed_chunk_fails_its_task_and_the_run_stops_every_worker(prefect_api_url):
    """A chunk that fails inside a task's batch: staging raises its error, the stager is
    closed, and no chunk is submitted after the failure."""
    from concurrent.futures import Future

    from prefect import flow

    from flows.ingest import CHUNKS_PER_TASK, stage_as_tasks
    from tests.warehouse.test_parallel import job

    class Stager:
        workers = 2

        def __init__(self):
            self.submitted: list[int] = []
            self.closed = False

        def runs_here(self, jobs):
            return False

        def submit(self, chunk):
            self.submitted.append(int(chunk.part))
            future = Future()
            if int(chunk.part) == 5:
                future.set_exception(ValueError("chunk 5 cannot be read"))
            else:
                future.set_result({"files": 1, "parsed": 1, "unchanged": 0, "rejected": {}})
            return future

        def close(self):
            self.closed = True

    stager = Stager()
    jobs = [
        dataclasses.replace(job(ROOT, ROOT / "unused", ["a.md"]), part=str(n)) for n in range(40)
    ]

    @flow
    def staging():
        return stage_as_tasks(stager, lambda line: None)(jobs)

    with pytest.raises(ValueError, match="chunk 5 cannot be read"):
        staging()
    assert stager.closed
    # the failing batch and those already in flight, not all 40 chunks
    assert 5 in stager.submitted and len(stager.submitted) < len(jobs)
    assert len(stager.submitted) <= (2 * stager.workers + 1) * CHUNKS_PER_TASK


def test_cli_from_and_to_s3(prefect_api_url, s3_endpoint, bucket, tmp_path):
    """`newsfront run s3://… -w s3://…`, then `newsfront sql` on the S3 warehouse."""
    import fsspec

    from tests.warehouse.test_remote import upload_corpus

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    source = upload_corpus(fs, bucket)
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api_url,
        "NEWSFRONT_CACHE_DIR": str(tmp_path / "cache"),
    }
    cli = [sys.executable, "-m", "flows.cli"]
    warehouse = f"s3://{bucket}/warehouse"
    done = newsfront("run", source, "-w", warehouse, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"warehouse: {warehouse}" in done.stdout
    options = json.dumps({"endpoint_url": s3_endpoint})
    query = "SELECT count(*) AS n FROM articles"
    answer = subprocess.run(
        [*cli, "sql", query, "-w", warehouse, "-f", "csv", "--storage-options", options],
        env={k: v for k, v in env.items() if k != "AWS_ENDPOINT_URL"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert answer.stdout.splitlines() == ["n", "268"]


def test_dask_workers_write_parts_into_an_s3_warehouse(prefect_api_url, bucket, tmp_path):
    """Dask and object storage together: the workers write their parts into the bucket."""
    import fsspec

    from flows.ingest import ingest
    from tests.warehouse.helpers import tables
    from tests.warehouse.test_remote import local_tables, upload_corpus

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    source = upload_corpus(fs, bucket)
    warehouse = f"s3://{bucket}/warehouse"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEWSFRONT_WORKERS", "2")
        patch.setenv("NEWSFRONT_CHUNK_SIZE", "100")
        patch.setenv("NEWSFRONT_CACHE_DIR", str(tmp_path / "cache"))
        summary = ingest(source=source, warehouse=warehouse, dask_address="local")
    parts = fs.ls(f"{bucket}/warehouse/parts/{summary['run_id']}")
    assert len(parts) == 4
    assert tables(warehouse) == local_tables(fs, source, tmp_path / "local")
