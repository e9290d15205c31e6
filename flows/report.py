"""What a run tells its watchers: the Prefect artifacts' content and the progress of staging.

The artifacts are built from the run summary and the warehouse's `rejected_files` rows as
plain data (Markdown text, table rows), so they are tested without a Prefect server.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Callable

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

SUMMARY_KEY = "newsfront-run-summary"
REJECTED_KEY = "newsfront-rejected-files"
EXAMPLES_PER_REASON = 3
# A table artifact is one JSON document in Prefect's database; past this many rows the
# table says how many it left out (the warehouse's rejected_files table has them all).
MAX_REJECTED_ROWS = 1000


def summary_markdown(summary: dict, rejected_counts: dict[str, int], examples: list[dict]) -> str:
    """The run summary artifact: counts, rates, stage durations, and the warehouse's rejected
    files by reason (`rejected_counts`) with the first few paths and details (`examples`)."""
    seconds = summary["seconds"]
    staging = seconds["staging"]
    rate = f"{summary['files_parsed'] / staging:,.0f} files/s" if staging > 0 else "n/a"
    lines = [
        f"# newsfront run `{summary['run_id']}`",
        "",
        f"Source `{summary['source']}`, status **{summary['status']}**"
        + (", full refresh" if summary.get("full_refresh") else "")
        + ".",
        "",
        "| files | count |",
        "| --- | ---: |",
        f"| seen | {summary['files_seen']:,} |",
        f"| parsed | {summary['files_parsed']:,} |",
        f"| unchanged | {summary['files_unchanged']:,} |",
        f"| deleted | {summary['files_deleted']:,} |",
        f"| rejected in this run | {summary['files_rejected']:,} |",
        "",
        "| stage | seconds |",
        "| --- | ---: |",
        *(f"| {stage} | {value:.2f} |" for stage, value in seconds.items()),
        f"| parsing rate | {rate} |",
        "",
        "| table | rows |",
        "| --- | ---: |",
        *(f"| {table} | {count:,} |" for table, count in summary["tables"].items()),
        "",
    ]
    lines += _rejected_markdown(rejected_counts, examples)
    return "\n".join(lines) + "\n"


def _rejected_markdown(counts: dict[str, int], examples: list[dict]) -> list[str]:
    if not counts:
        return ["No file is rejected."]
    by_reason: dict[str, list[dict]] = defaultdict(list)
    for row in examples:
        by_reason[row["reason"]].append(row)
    lines = [f"## Rejected files in the warehouse: {sum(counts.values()):,}", ""]
    for reason, count in sorted(counts.items()):
        lines.append(f"- **{reason}**: {count:,}")
        shown = by_reason[reason][:EXAMPLES_PER_REASON]
        for row in shown:
            lines.append(f"  - `{row['source_path']}`: {_one_line(row['detail'])}")
        if count > len(shown):
            lines.append(f"  - and {count - len(shown):,} more")
    return lines


def rejected_table(rows: list[dict], total: int) -> list[dict]:
    """The rejected-files table artifact: `rows` (the first of `total`), then a last row that
    says how many more the warehouse's rejected_files table holds."""
    table = [
        {"source_path": r["source_path"], "reason": r["reason"], "detail": _one_line(r["detail"])}
        for r in rows
    ]
    if total > len(rows):
        more = total - len(rows)
        table.append(
            {"source_path": "…", "reason": "", "detail": f"{more:,} more in rejected_files"}
        )
    return table


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


class StagingProgress:
    """Files staged of the total: a rich progress bar (count, rate, time left) when the output
    is a terminal, otherwise a log line at most every `every` seconds and at the end."""

    def __init__(
        self,
        total: int,
        log: Callable[[str], None],
        *,
        bar: bool | None = None,
        every: float = 10.0,
    ):
        self.total = total
        self.done = 0
        self.log = log
        self.every = every
        self.started = self.logged = time.monotonic()
        self.bar = sys.stderr.isatty() if bar is None else bar
        self.progress: Progress | None = None

    def __enter__(self) -> StagingProgress:
        if self.bar and self.total:
            self.progress = Progress(
                TextColumn("staging"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                transient=True,
            )
            self.task = self.progress.add_task("staging", total=self.total, rate="")
            self.progress.start()
        return self

    def advance(self, files: int) -> None:
        self.done += files
        now = time.monotonic()
        if self.progress is not None:
            self.progress.update(self.task, completed=self.done, rate=self._rate(now))
        elif now - self.logged >= self.every and self.done < self.total:
            self.logged = now
            self.log(self.line(now))

    def line(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        share = self.done / self.total if self.total else 1.0
        text = f"staged {self.done:,} of {self.total:,} files ({share:.0%}), {self._rate(now)}"
        elapsed = now - self.started
        if 0 < self.done < self.total and elapsed > 0:
            text += f", about {(self.total - self.done) * elapsed / self.done:,.0f} s left"
        return text

    def _rate(self, now: float) -> str:
        elapsed = now - self.started
        return f"{self.done / elapsed:,.0f} files/s" if elapsed > 0 else ""

    def __exit__(self, *exc_info) -> None:
        if self.progress is not None:
            self.progress.stop()
        if self.total:
            self.log(self.line())
