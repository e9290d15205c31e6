#!/usr/bin/env python3
"""The benchmark harness: newsfront against two baselines, side by side in one session.

    python benchmarks/run.py [--sizes 100000] [--skip-dlt] [--out benchmarks/out]

For each corpus size it generates a clean corpus with the repo's generator (kept between
sessions under the output folder), then measures, each as its own process tree:
  - newsfront: start-up (`newsfront run` over an empty source), full load, a run with
    nothing changed, and a run after 1% of the files changed;
  - baseline (a), the naive script: python-frontmatter per file, pandas, to_parquet;
  - baseline (b), dlt: filesystem source, front-matter transformer, Parquet.
Then start-up of `newsfront run` on the unchanged sample corpus against a bare one-task
Prefect flow, and five analytical queries on the Parquet views against native DuckDB tables.

Machines here are shared, and their speed drifts from minute to minute, so the full loads
are measured in `--rounds` rounds (3 by default), each running start-up, newsfront, the
naive script and dlt one after the other; each one's median round counts. newsfront's
runs count beyond the start-up measured just before each of them: the full load beyond its
round's, and each run with nothing or 1% changed beyond one of its own. Memory is sampled
in a round of its own before those, whose times do not count: reading every process's
memory 20 times a second takes CPU from newsfront's two workers (about 1 s of a
100,000-file load) and hardly any from a single-process baseline, so only unsampled rounds
time them alike.

It prints a table (files/s, ratios, wall time, peak memory as PSS of the whole process tree)
and writes the figures to OUT/results.json. Given several sizes, it also prints how much
newsfront's peak memory grows from the smallest to the largest (the baselines can be
skipped for that: `--sizes 100000,500000 --skip-naive --skip-dlt`). Compare ratios within
one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
NEWSFRONT = [PY, "-m", "flows.cli"]
OLD = 1_600_000_000
# Runs with nothing changed, and with 1% changed, each: they are differences of about a
# second from a start-up that varies by as much, so five, not the full loads' three.
INCREMENTAL_ROUNDS = 5


def measure(command: list[str], env: dict | None = None, memory: bool = True) -> dict:
    """Wall time and, with `memory`, peak memory (PSS of the process and all its children,
    every 50 ms; None without)."""
    start = time.perf_counter()
    process = psutil.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            total = 0
            for p in [process, *_children(process)]:
                # PSS: shared pages (forked workers) counted once across the tree
                with contextlib.suppress(psutil.Error):
                    total += p.memory_full_info().pss
            peak = max(peak, total)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    if memory:
        sampler.start()
    out, err = process.communicate()
    done.set()
    if memory:
        sampler.join()
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{err[-3000:]}")
    return {
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(peak / 2**20, 1) if memory else None,
        "stdout": out,
    }


def median(runs: list[dict], by: str = "seconds") -> dict:
    """The median unsampled round of several measurements of one command (the lower middle
    one, for an even count) by `by`, so that its time and its stages are one run's; with
    every unsampled round's time and the peak memory of the sampled ones. The median, not
    the best: newsfront's figures are differences from the start-up, which varies by a
    second from run to run, and a best start-up against a best run would credit whichever
    was measured more often."""
    timed = [run for run in runs if run["peak_rss_mb"] is None] or runs
    ordered = sorted(timed, key=lambda run: run[by])
    middle = dict(ordered[(len(ordered) - 1) // 2])
    middle["rounds"] = [run["seconds"] for run in timed]
    if by != "seconds":
        middle[f"rounds_{by}"] = [run[by] for run in timed]
    sampled = [run for run in runs if run["peak_rss_mb"] is not None]
    middle["peak_rss_mb"] = max((run["peak_rss_mb"] for run in sampled), default=None)
    middle["memory_rounds"] = [run["seconds"] for run in sampled if run not in timed]
    return middle


def _children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []


def corpus(out: Path, count: int) -> Path:
    target = out / f"corpus-{count}"
    manifest = target / ".manifest.json"
    if not manifest.exists():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(
            [
                PY,
                str(ROOT / "examples" / "generate_corpus.py"),
                str(target),
                "--count",
                str(count),
                "--seed",
                "1",
                "--no-hazards",
            ],
            check=True,
        )
        for path in target.rglob("*.txt"):
            os.utime(path, (OLD, OLD))
    return target


def touch_one_percent(source: Path, round_: int) -> int:
    files = sorted(source.rglob("*.txt"))[round_::100]
    for path in files:
        text = path.read_text()
        # a changed title: the same keys, so the corpus keeps its shape for the baselines
        path.write_text(text.replace('title: "', f'title: "Updated {round_}: ', 1))
        os.utime(path, (OLD + round_, OLD + round_))
    return len(files)


def startup_command(work: Path) -> list[str]:
    """newsfront's start-up: a run over an empty source (`full_loads` makes the folder)."""
    return [*NEWSFRONT, "run", str(work / "empty-source"), "-w", str(work / "wh-empty")]


def full_loads(source: Path, work: Path, env: dict, rounds: int, baselines: dict) -> dict:
    """newsfront's start-up and full load and each baseline, in alternating rounds after a
    first round that samples memory; each one's median timed round."""
    (work / "empty-source").mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "wh-empty", ignore_errors=True)
    runs: dict[str, list[dict]] = {"startup": [], "full": [], **{name: [] for name in baselines}}
    # not measured: the first run over the empty source publishes its empty tables, and every
    # later one publishes nothing, as a run with nothing changed
    measure(startup_command(work), env, memory=False)
    for round_ in range(rounds + 1):
        memory = round_ == 0  # memory only: its times are not counted
        runs["startup"].append(measure(startup_command(work), env, memory))
        shutil.rmtree(work / "wh", ignore_errors=True)
        full = measure([*NEWSFRONT, "run", str(source), "-w", str(work / "wh")], env, memory)
        full["stages"] = last_run_stages(work / "wh")
        full["beyond_startup"] = round(full["seconds"] - runs["startup"][-1]["seconds"], 3)
        runs["full"].append(full)
        for name, command in baselines.items():
            shutil.rmtree(work / name, ignore_errors=True)
            runs[name].append(measure([*command, str(source), str(work / name)], memory=memory))
    return {
        name: median(measured, by="beyond_startup" if name == "full" else "seconds")
        for name, measured in runs.items()
    }


def incremental_runs(source: Path, work: Path, env: dict) -> dict:
    """On the last full load's warehouse: INCREMENTAL_ROUNDS runs with nothing changed, then
    as many each after another 1% of the files changed since the run before, as a scheduled
    run finds them (the later ones patch a patched snapshot), each after a first run that
    samples memory and does not count. Each run follows a start-up of its own (a run over
    the empty source), which it is measured beyond: start-ups measured minutes earlier
    differed by 0.6 s from one `make bench` to the next, as much as a 1% run takes."""
    figures = {}
    for name in ("unchanged", "one_percent"):
        measured = []
        for round_ in range(INCREMENTAL_ROUNDS + 1):
            if name == "one_percent":
                figures["changed_files"] = touch_one_percent(source, 1 + round_)
            sampled = round_ == 0  # both or neither: sampling costs CPU
            startup = measure(startup_command(work), env, sampled)["seconds"]
            run = measure([*NEWSFRONT, "run", str(source), "-w", str(work / "wh")], env, sampled)
            run["stages"] = last_run_stages(work / "wh")
            run["beyond_startup"] = round(run["seconds"] - startup, 3)
            measured.append(run)
        figures[name] = median(measured, by="beyond_startup")
    return figures


def last_run_stages(warehouse: Path) -> dict:
    """Where the last run's time went, from its `load_runs` row."""
    sys.path.insert(0, str(ROOT))
    from warehouse import connect

    stages = ("listing", "staging", "publishing")
    with connect(warehouse) as con:
        row = con.execute(
            f"SELECT {', '.join(f'{s}_seconds' for s in stages)} FROM load_runs "
            "ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
    return dict(zip(stages, row, strict=True))


QUERIES = {
    "articles per provider per month": """
        SELECT provider_domain, date_trunc('month', published_at) AS month, count(*)
        FROM articles GROUP BY ALL ORDER BY ALL""",
    "top topics by week": """
        SELECT topic, date_trunc('week', a.published_at) AS week, count(*) AS n
        FROM article_topics t JOIN articles a USING (article_id)
        GROUP BY ALL ORDER BY n DESC, topic, week LIMIT 50""",
    "related-coverage counts": """
        SELECT article_id, count(*) AS related, count(related_article_id) AS in_corpus
        FROM related_items GROUP BY article_id ORDER BY related DESC, article_id LIMIT 100""",
    "image stats": """
        SELECT related_position IS NULL AS own, count(*), avg(width), avg(height),
               count(*) FILTER (WHERE is_cached) FROM images GROUP BY ALL ORDER BY ALL""",
    "articles joined to related items": """
        SELECT a.provider_domain, r.provider_domain, count(*)
        FROM articles a JOIN related_items r USING (article_id)
        GROUP BY ALL ORDER BY 3 DESC LIMIT 50""",
}


def query_benchmark(warehouse: Path, repeats: int = 15) -> dict:
    import duckdb

    sys.path.insert(0, str(ROOT))
    from warehouse import connect
    from warehouse.build import TABLES

    views = connect(warehouse)
    native = duckdb.connect()
    native.execute("SET TimeZone = 'UTC'")
    native.execute(f"ATTACH '{(warehouse / 'news.duckdb').resolve()}' AS v (READ_ONLY)")
    for table in TABLES:
        native.execute(f"CREATE TABLE {table} AS SELECT * FROM v.{table}")
    native.execute("DETACH v")
    results = {}
    for name, sql in QUERIES.items():
        # the best of many, alternating the two, so that a busy moment hits both alike
        timing = {"views": float("inf"), "native": float("inf")}
        for _ in range(repeats):
            for label, con in (("views", views), ("native", native)):
                start = time.perf_counter()
                con.execute(sql).fetchall()
                timing[label] = min(timing[label], time.perf_counter() - start)
        results[name] = {
            **{k: round(v * 1000, 2) for k, v in timing.items()},
            "ratio": round(timing["views"] / timing["native"], 2),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated corpus sizes")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--skip-dlt", action="store_true")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of full loads")
    args = parser.parse_args()
    env = {**os.environ, "PREFECT_LOGGING_LEVEL": "WARNING"}
    baselines = {}
    if not args.skip_naive:
        baselines["naive"] = [PY, "benchmarks/baselines/naive.py"]
    if not args.skip_dlt:
        baselines["dlt"] = [PY, "benchmarks/baselines/dlt_frontmatter.py"]
    results: dict = {"sizes": {}, "rounds": args.rounds}
    for size in [int(s) for s in args.sizes.split(",")]:
        source = corpus(args.out, size)
        work = args.out / f"work-{size}"
        figures = full_loads(source, work, env, max(args.rounds, 1), baselines)
        figures.update(incremental_runs(source, work, env))
        for figure in figures.values():
            if isinstance(figure, dict):
                figure.pop("stdout", None)
        results["sizes"][size] = figures
        report(size, figures)
        results["sizes"][size]["queries"] = query_benchmark(work / "wh")
        report_queries(results["sizes"][size]["queries"])
    if len(results["sizes"]) > 1:
        print()
        results["memory_growth"] = memory_growth(results["sizes"])
    sample = ROOT / "examples" / "corpus"
    sample_wh = args.out / "work-sample" / "wh"
    measure([*NEWSFRONT, "run", str(sample), "-w", str(sample_wh)], env, memory=False)
    start_sample = measure([*NEWSFRONT, "run", str(sample), "-w", str(sample_wh)], env, False)
    bare = measure([PY, "benchmarks/baselines/bare_flow.py"], env, memory=False)
    for figure in (start_sample, bare):
        figure.pop("stdout", None)
    results["startup"] = {
        "newsfront_unchanged_sample": start_sample,
        "bare_flow": bare,
        "ratio": round(start_sample["seconds"] / bare["seconds"], 2),
    }
    print(
        f"\nstart-up: newsfront run on the unchanged sample {start_sample['seconds']:.2f} s, "
        f"bare one-task flow {bare['seconds']:.2f} s, ratio {results['startup']['ratio']}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"figures written to {args.out / 'results.json'}")


def report(size: int, f: dict) -> None:
    fixed = f["startup"]["seconds"]
    net = max(f["full"]["beyond_startup"], 1e-9)
    rate = size / net
    rounds = len(f["full"]["rounds"])
    print(
        f"\n{size:,} files, the median of {rounds} alternating round(s) each "
        f"(newsfront's are beyond a start-up measured just before each run; "
        f"start-up: {fixed:.2f} s)"
    )
    print(f"{'run':<34}{'wall s':>9}{'files/s':>10}{'peak MB':>13}{'vs naive':>10}{'vs dlt':>8}")
    rows = [("newsfront full load", f["full"]["seconds"], rate, f["full"]["peak_rss_mb"])]
    for key, label in (("naive", "naive script (a)"), ("dlt", "dlt filesystem (b)")):
        if key in f:
            rows.append((label, f[key]["seconds"], size / f[key]["seconds"], f[key]["peak_rss_mb"]))
    for label, wall, files_per_s, rss in rows:
        vs = [
            f"{rate / (size / f[k]['seconds']):>7.1f}x"
            if k in f and label.startswith("newsfront")
            else ""
            for k in ("naive", "dlt")
        ]
        print(f"{label:<34}{wall:>9.2f}{files_per_s:>10,.0f}{rss:>13.0f}{vs[0]:>10}{vs[1]:>8}")
    for key, label in (
        ("startup", "start-up"),
        ("full", "newsfront"),
        ("naive", "naive"),
        ("dlt", "dlt"),
        ("unchanged", "nothing changed"),
        ("one_percent", "1% changed"),
    ):
        if key in f:
            sampled = "".join(
                f" (memory round, not counted: {t:.2f} s)" for t in f[key].get("memory_rounds", [])
            )
            print(
                f"  rounds, {label}: {' / '.join(f'{t:.2f}' for t in f[key]['rounds'])} s{sampled}"
            )
            if "rounds_beyond_startup" in f[key]:
                beyond = " / ".join(f"{t:.2f}" for t in f[key]["rounds_beyond_startup"])
                print(f"    beyond its start-up: {beyond} s")
    unchanged = f["unchanged"]["beyond_startup"]
    changed = f["one_percent"]["beyond_startup"]
    print(
        f"{'newsfront, nothing changed':<34}{f['unchanged']['seconds']:>9.2f}"
        f"   beyond start-up: {unchanged:.2f} s"
    )
    print(
        f"{'newsfront, 1% changed':<34}{f['one_percent']['seconds']:>9.2f}"
        f"   beyond start-up: {changed:.2f} s = {changed / net:.1%} of a full load"
    )
    print("\nwhere newsfront's time goes (s, from load_runs; the rest is Prefect and start-up)")
    print(f"{'run':<34}{'listing':>9}{'staging':>9}{'publishing':>12}{'rest':>8}")
    for key, label in (
        ("full", "full load"),
        ("unchanged", "nothing changed"),
        ("one_percent", "1% changed"),
    ):
        stages = f[key].get("stages") or {}
        if None in stages.values() or not stages:
            continue
        rest = f[key]["seconds"] - sum(stages.values())
        print(
            f"{label:<34}{stages['listing']:>9.2f}{stages['staging']:>9.2f}"
            f"{stages['publishing']:>12.2f}{rest:>8.2f}"
        )


def memory_growth(sizes: dict[int, dict]) -> dict:
    """newsfront's peak memory at the smallest and the largest size: of the full load (the
    issue's target), and of the worst of its runs (full, nothing changed, 1% changed)."""
    small, large = min(sizes), max(sizes)
    figures = {}
    for label, runs in (
        ("full load", ("full",)),
        ("worst run", ("full", "unchanged", "one_percent")),
    ):
        peaks = {
            size: max(sizes[size][run]["peak_rss_mb"] for run in runs) for size in (small, large)
        }
        growth = peaks[large] / peaks[small] - 1
        print(
            f"newsfront's peak memory, {label}: {peaks[small]:.0f} MB at {small:,} files, "
            f"{peaks[large]:.0f} MB at {large:,} files: {growth:+.1%}"
        )
        figures[label.replace(" ", "_")] = {"peak_mb": peaks, "growth": round(growth, 3)}
    return figures


def report_queries(q: dict) -> None:
    print(f"\n{'query':<36}{'views ms':>10}{'native ms':>11}{'ratio':>8}")
    for name, t in q.items():
        print(f"{name:<36}{t['views']:>10.1f}{t['native']:>11.1f}{t['ratio']:>8.2f}")


if __name__ == "__main__":
    main()
