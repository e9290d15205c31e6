"""The run's artifacts and progress lines, as plain data: no Prefect server needed."""

from flows.report import StagingProgress, rejected_table, summary_markdown

SUMMARY = {
    "run_id": "20261126T000000000000Z-abcdef",
    "source": "corpus",
    "status": "succeeded",
    "full_refresh": False,
    "files_seen": 1200,
    "files_parsed": 1000,
    "files_unchanged": 190,
    "files_deleted": 3,
    "files_rejected": 10,
    "articles": 990,
    "seconds": {"listing": 0.5, "staging": 2.0, "publishing": 1.25},
    "tables": {"articles": 990, "rejected_files": 10},
}


def test_summary_holds_the_runs_counts_rate_and_stage_times():
    text = summary_markdown(SUMMARY, {}, [])
    assert "# newsfront run `20261126T000000000000Z-abcdef`" in text
    for row in (
        "| seen | 1,200 |",
        "| parsed | 1,000 |",
        "| unchanged | 190 |",
        "| deleted | 3 |",
        "| rejected in this run | 10 |",
        "| staging | 2.00 |",
        "| publishing | 1.25 |",
        "| parsing rate | 500 files/s |",
        "| articles | 990 |",
    ):
        assert row in text
    assert "No file is rejected." in text


def test_summary_lists_rejections_by_reason_with_the_first_paths():
    examples = [
        {"source_path": f"bad/{i}.md", "reason": "syntax_error", "detail": f"line {i}\n|x"}
        for i in range(3)
    ] + [{"source_path": "big.md", "reason": "too_large", "detail": "6 MiB"}]
    text = summary_markdown(SUMMARY, {"syntax_error": 7, "too_large": 1}, examples)
    assert "## Rejected files in the warehouse: 8" in text
    assert "- **syntax_error**: 7" in text
    assert "  - `bad/0.md`: line 0 \\|x" in text  # one line, pipes escaped for the table
    assert "  - and 4 more" in text
    assert "- **too_large**: 1\n  - `big.md`: 6 MiB\n" in text


def test_rejected_table_says_how_many_rows_it_left_out():
    rows = [{"source_path": "a.md", "reason": "encoding", "detail": "bad\nbyte"}]
    assert rejected_table(rows, 1) == [
        {"source_path": "a.md", "reason": "encoding", "detail": "bad byte"}
    ]
    assert rejected_table(rows, 5)[-1]["detail"] == "4 more in rejected_files"


def test_progress_logs_plain_lines_when_not_a_terminal():
    lines: list[str] = []
    with StagingProgress(5000, lines.append, bar=False, every=0.0) as progress:
        progress.advance(2500)
        progress.advance(2500)
    assert lines[0].startswith("staged 2,500 of 5,000 files (50%), ")
    assert "s left" in lines[0]
    assert lines[-1].startswith("staged 5,000 of 5,000 files (100%)")
    assert len(lines) == 2  # the last advance is reported once, at the end


def test_progress_logs_at_most_every_interval():
    lines: list[str] = []
    with StagingProgress(10, lines.append, bar=False, every=3600.0) as progress:
        for _ in range(9):
            progress.advance(1)
    assert len(lines) == 1


def test_progress_bar_counts_files():
    lines: list[str] = []
    with StagingProgress(4, lines.append, bar=True) as progress:
        progress.advance(3)
        assert progress.progress.tasks[0].completed == 3
    assert lines == [lines[0]] and lines[0].startswith("staged 3 of 4 files")
