"""The `newsfront` command. Each command calls the library and turns its errors into one line.

Prefect is imported only by the commands that run flows, so `newsfront sql` starts fast; and
the library (DuckDB, pyarrow: about 0.7 s) only inside each command, so that `newsfront run`
starts Prefect's temporary server before it.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from flows.settings import Settings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Turn a folder of front-matter news articles into a DuckDB warehouse.",
)
out = Console()
err = Console(stderr=True)

WarehouseOption = Annotated[
    str | None,
    typer.Option(
        "--warehouse",
        "-w",
        help="Warehouse folder or object-store URL (s3://bucket/prefix) "
        "[default: $NEWSFRONT_WAREHOUSE or data/warehouse]",
        show_default=False,
    ),
]
SourceArgument = Annotated[
    str | None,
    typer.Argument(
        help="Folder of article files, or an object-store URL (s3://bucket/prefix) "
        "[default: $NEWSFRONT_SOURCE or examples/corpus]",
        show_default=False,
    ),
]
StorageOptions = Annotated[
    str | None,
    typer.Option(
        "--storage-options",
        help="JSON object of fsspec options for s3:// URLs, e.g. "
        '\'{"endpoint_url": "http://127.0.0.1:9000"}\' [default: $NEWSFRONT_STORAGE_OPTIONS; '
        "credentials also come from the AWS_* variables]",
        show_default=False,
    ),
]


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _use_storage_options(text: str | None) -> None:
    """Hand --storage-options on through the environment, which Settings reads in this
    process and in every run's process, so credentials never become a flow parameter."""
    if text is None:
        return
    try:
        options = json.loads(text)
    except ValueError as exc:
        raise fail(f"--storage-options is not valid JSON: {exc}") from None
    if not isinstance(options, dict):
        raise fail("--storage-options must be a JSON object")
    os.environ["NEWSFRONT_STORAGE_OPTIONS"] = text


@app.command()
def run(
    source: SourceArgument = None,
    warehouse: WarehouseOption = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild from nothing, even for another source.")
    ] = False,
    wait: Annotated[
        float | None,
        typer.Option("--wait", help="Seconds to wait for another run's lock before giving up."),
    ] = None,
    dask_address: Annotated[
        str | None,
        typer.Option(
            "--dask-address",
            help="Parse on this Dask scheduler (tcp://host:8786), or 'local' to start a "
            "cluster of worker processes here [default: $NEWSFRONT_DASK_ADDRESS]",
            show_default=False,
        ),
    ] = None,
    storage_options: StorageOptions = None,
) -> None:
    """Load SOURCE into the warehouse and publish it as news.duckdb."""
    _use_storage_options(storage_options)
    server = _start_temporary_server()  # first of all: the longest start-up of all
    from flows.settings import Settings
    from warehouse.lock import WarehouseLocked
    from warehouse.source import SourceError
    from warehouse.store import WarehouseError

    settings = Settings()
    source = source or settings.source
    target = warehouse or settings.warehouse
    wait = settings.lock_wait_seconds if wait is None else wait
    try:
        _check_run_arguments(source, target, full_refresh, check_lock=wait <= 0)
    except typer.Exit:
        if server:
            server.stop()
        raise
    local_workers = not (dask_address or settings.dask_address)
    if local_workers:
        from warehouse.parallel import start_forkserver  # imports pyarrow (and pandas)

        start_forkserver(preload=("flows.cli",))  # its imports overlap Prefect's start-up
    # so does listing the source, and staging it in those workers
    _plan_ahead(source, target, full_refresh, settings if local_workers else None)

    try:
        summary, seconds = _run_flow(server, source, target, full_refresh, wait, dask_address)
    except (WarehouseLocked, WarehouseError, SourceError) as exc:
        raise fail(str(exc)) from None
    finally:
        # a plan made ahead that no run took (the command stopped before its run, even on
        # Ctrl-C while Prefect started): its chunks cancelled, its workers stopped
        _drop_plan_ahead(source, target)
    _print_summary(summary, target, seconds)


def _run_flow(server, source, target, full_refresh, wait, dask_address) -> tuple[dict, float]:
    """The ingest flow's summary, and how long the flow took."""
    from prefect.settings import get_current_settings, temporary_settings  # after the others

    prefect = get_current_settings()
    if server and (prefect.api.url or not prefect.server.ephemeral.enabled):
        server.stop()  # a server is configured where only Prefect looks (a profile, a file)
        server = None

    from flows import run_settings
    from flows.ingest import ingest

    api_url = _wait_for(server) if server else None
    clock = time.perf_counter()
    with temporary_settings(updates=run_settings(temporary_api_url=api_url)):
        summary = ingest(
            source=source,
            warehouse=target,
            full_refresh=full_refresh,
            lock_wait_seconds=wait,
            dask_address=dask_address,
        )
    return summary, time.perf_counter() - clock


def _plan_ahead(
    source: str, warehouse: str, full_refresh: bool, settings: Settings | None = None
) -> None:
    """Start listing a local source and planning the run, in a thread, while Prefect starts;
    the run takes the plan if it still holds when the run holds the lock (see
    warehouse.pipeline.plan_ahead). With `settings` (the run stages in local workers), the
    chunks start staging too, in the workers the run then uses."""
    from warehouse import Warehouse
    from warehouse.objects import is_url
    from warehouse.parallel import ProcessStager
    from warehouse.pipeline import plan_ahead

    if is_url(source) or is_url(warehouse):
        return
    options = {}
    if settings is not None:
        options = dict(
            stager=ProcessStager(settings.workers),
            chunk_size=settings.chunk_size,
            max_bytes=settings.max_file_bytes,
        )
    plan_ahead(Path(source), Warehouse(Path(warehouse)), full_refresh, **options)


def _drop_plan_ahead(source: str, warehouse: str) -> None:
    """See warehouse.pipeline.drop_plan_ahead (nothing to drop for object storage, where
    nothing is planned ahead)."""
    from warehouse import Warehouse
    from warehouse.pipeline import drop_plan_ahead

    drop_plan_ahead(Path(source), Warehouse(Path(warehouse)))


def _start_temporary_server():
    """Prefect's temporary server, started now unless PREFECT_API_URL names a server: Prefect
    would start it on the flow's first call, after this process's imports (measured before
    .venv was compiled to bytecode: a run over an empty source took 12.3 s that way, and
    7.1-7.3 s started before the library is imported; 7.8-8.1 s after). See flows.server."""
    if os.environ.get("PREFECT_API_URL"):
        return None
    from flows.server import ServerError, TemporaryPrefectServer

    try:
        timeout = float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])
        server = TemporaryPrefectServer(timeout=timeout)
        server.start()
    # then Prefect starts its own server, and says what fails
    except (ValueError, OSError, ServerError) as exc:
        err.print(f"warning: the temporary Prefect server did not start: {exc}", soft_wrap=True)
        return None
    return server


def _wait_for(server) -> str | None:
    """The started server's API URL once it answers. If it exited, None: Prefect then starts
    its own (and reports what fails); if it did not answer in time, the run stops."""
    from flows.server import ServerError

    try:
        server.wait_until_healthy()
    except ServerError as exc:
        exited = server.process.poll() is not None
        server.stop()
        if not exited:
            raise fail(str(exc)) from None
        err.print(f"warning: {exc}; Prefect starts its own", highlight=False, soft_wrap=True)
        return None
    return server.api_url


def _check_run_arguments(source: str, target: str, full_refresh: bool, check_lock: bool) -> None:
    """Fail in one line before the flow starts, for the mistakes we can see up front on this
    machine (object-store URLs are checked by the run). The run checks all of them again."""
    from warehouse import Warehouse
    from warehouse.lock import WarehouseLocked, ensure_free
    from warehouse.objects import is_url
    from warehouse.store import WarehouseError, check_owner

    if not is_url(source) and not Path(source).is_dir():
        raise fail(f"source folder {source!r} does not exist or is not a folder")
    if is_url(target):
        return
    target = Path(target)
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise fail(f"warehouse folder {str(target)!r} cannot be created or written")
    store = Warehouse(target)
    try:
        check_owner(store, source, full_refresh)
        if check_lock:
            ensure_free(store.lock_file)
    except (WarehouseError, WarehouseLocked) as exc:
        raise fail(str(exc)) from None


@app.command()
def serve(
    source: SourceArgument = None,
    warehouse: WarehouseOption = None,
    cron: Annotated[
        str | None, typer.Option("--cron", help="Run on this cron schedule, e.g. '0 * * * *'.")
    ] = None,
    interval: Annotated[
        float | None,
        typer.Option("--interval", min=1, help="Run every this many seconds."),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="The Prefect deployment's name.")] = (
        "newsfront"
    ),
    storage_options: StorageOptions = None,
) -> None:
    """Run SOURCE into the warehouse on a schedule, until Ctrl-C or SIGTERM.

    Serves against the Prefect server in PREFECT_API_URL; without one, starts a local
    server on 127.0.0.1 for as long as it runs, and prints the address of its UI.
    """
    if (cron is None) == (interval is None):
        raise fail("give one schedule: --cron EXPR or --interval SECONDS")
    from flows.settings import Settings

    _use_storage_options(storage_options)
    settings = Settings()
    source = _absolute(source or settings.source)  # runs start in another directory
    target = _absolute(warehouse or settings.warehouse)
    _check_run_arguments(source, target, full_refresh=False, check_lock=False)
    # SIGTERM (and SIGHUP, a closed terminal) stops the server this command started, like
    # Ctrl-C; once serving, Prefect's runner takes SIGTERM over, stops gracefully, and the
    # server is stopped after it.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)

    from prefect.settings import get_current_settings

    from flows.ingest import serve_ingest
    from flows.server import LocalPrefectServer, ServerError

    arguments = dict(source=source, warehouse=target, cron=cron, interval=interval)
    if get_current_settings().api.url:
        serve_ingest(**arguments, name=name)
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    err.print("starting a local Prefect server…")
    try:
        with LocalPrefectServer() as server:
            os.environ["PREFECT_API_URL"] = server.api_url  # for the runs' processes
            out.print(f"Prefect UI: {server.ui_url}", highlight=False)
            with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
                serve_ingest(**arguments, name=name)
    except ServerError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        pass
    err.print("stopped")


def _absolute(location: str) -> str:
    from warehouse.objects import is_url

    return location if is_url(location) else str(Path(location).resolve())


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _print_summary(summary: dict, target: str, seconds: float) -> None:
    from warehouse.objects import is_url

    table = Table(title="newsfront run", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("run", summary["run_id"])
    table.add_row("files seen", f"{summary['files_seen']:,}")
    table.add_row("parsed", f"{summary['files_parsed']:,}")
    table.add_row("rejected", f"{summary['files_rejected']:,}")
    for reason, count in summary["rejected_by_reason"].items():
        table.add_row(f"  {reason}", f"{count:,}")
    table.add_row("articles", f"{summary['articles']:,}")
    table.add_row("seconds", f"{seconds:.1f}")
    out.print(table)
    shown = target if is_url(target) else Path(target) / "news.duckdb"
    out.print(f"warehouse: {shown}", highlight=False, soft_wrap=True)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL to run against the warehouse's tables.")],
    warehouse: WarehouseOption = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    storage_options: StorageOptions = None,
) -> None:
    """Run QUERY against the warehouse (read-only, TimeZone UTC) and print the result."""
    import duckdb

    from flows.settings import Settings
    from warehouse import connect
    from warehouse.store import WarehouseError

    _use_storage_options(storage_options)
    settings = Settings()
    target = warehouse or settings.warehouse
    try:
        with connect(target, settings.storage_options) as con:
            cursor = con.execute(query)
            columns = [d[0] for d in cursor.description] if cursor.description else []
            rows = cursor.fetchall() if columns else []
    except (OSError, WarehouseError) as exc:  # no warehouse there, or no object store
        raise fail(str(exc)) from None
    except duckdb.Error as exc:
        raise fail(str(exc).splitlines()[0]) from None
    _print_rows(columns, rows, format)


@app.command()
def stats(
    warehouse: WarehouseOption = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Rows per ranking.")] = 5,
    storage_options: StorageOptions = None,
) -> None:
    """Summarise the warehouse: table sizes, last runs, rejected files by reason, top
    providers and topics, and the largest stories."""
    from flows.settings import Settings
    from warehouse import connect
    from warehouse.stats import warehouse_stats
    from warehouse.store import WarehouseError

    _use_storage_options(storage_options)
    settings = Settings()
    target = warehouse or settings.warehouse
    try:
        with connect(target, settings.storage_options) as con:
            result = warehouse_stats(con, top)
    except (OSError, WarehouseError) as exc:
        raise fail(str(exc)) from None
    titles = {
        "tables": "Tables",
        "last_runs": "Last runs",
        "rejected_by_reason": "Rejected files by reason",
        "top_providers": "Top providers",
        "top_topics": "Top topics",
        "largest_stories": "Largest stories (related-link clusters)",
    }
    out.print(f"[bold]warehouse[/] {target}", highlight=False)
    for key, title in titles.items():
        rows = result[key]
        if not rows:
            out.print(f"{title}: none", style="dim")
            continue
        table = Table(*rows[0], title=title, title_justify="left")
        for row in rows:
            table.add_row(*(_cell(value) for value in row.values()))
        out.print(table)


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ", timespec="minutes")
    return str(value)


@app.command()
def docs(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the schema document.")
    ] = Path("docs/schema.md"),
    check: Annotated[
        bool, typer.Option("--check", help="Only compare: exit 1 if the file is out of date.")
    ] = False,
) -> None:
    """Write the warehouse schema (every table, view and column) as Markdown."""
    from warehouse.schema_doc import schema_document

    text = schema_document()
    if check:
        if not output.exists() or output.read_text() != text:
            raise fail(f"{output} is out of date; run `newsfront docs`")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    out.print(f"wrote {output}", highlight=False)


def _print_rows(columns: list[str], rows: list[tuple], format: Format) -> None:
    if format is Format.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([["" if v is None else _text(v) for v in row] for row in rows])
    elif format is Format.json:
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        sys.stdout.write(json.dumps(records, ensure_ascii=False, default=_text, indent=2) + "\n")
    else:
        table = Table(*columns)
        for row in rows:
            table.add_row(*("NULL" if v is None else _text(v) for v in row))
        out.print(table)
        out.print(f"{len(rows)} row{'s' if len(rows) != 1 else ''}", style="dim")


def _text(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
