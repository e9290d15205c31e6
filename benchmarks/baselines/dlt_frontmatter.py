"""Baseline (b): dlt's filesystem source with a front-matter transformer, loading Parquet
(dlt normalises the nested topics, images and related lists into child tables).

    python benchmarks/baselines/dlt_frontmatter.py SOURCE OUT_DIR
"""

import os
import sys
from pathlib import Path

import dlt
import frontmatter
from dlt.sources.filesystem import filesystem


@dlt.transformer(name="articles")
def parse_front_matter(items):
    for item in items:
        with item.open() as handle:
            raw = handle.read()
        try:
            post = frontmatter.loads(raw.decode("utf-8"))
        except Exception:
            continue
        yield {**post.metadata, "body": post.content, "source_path": item["relative_path"]}


def main(source: Path, out: Path) -> None:
    os.environ.setdefault("DLT_DATA_DIR", str(out / "dlt-home"))
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    files = filesystem(bucket_url=source.resolve().as_uri(), file_glob="**/*.txt")
    pipeline = dlt.pipeline(
        pipeline_name="frontmatter_bench",
        pipelines_dir=str(out / "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=(out / "lake").resolve().as_uri()),
        dataset_name="news",
    )
    info = pipeline.run(files | parse_front_matter(), loader_file_format="parquet")
    print(info.has_failed_jobs)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
