"""Baseline (a): the script a user would write. python-frontmatter per file, pandas
json_normalize, to_parquet.

    python benchmarks/baselines/naive.py SOURCE OUT_DIR
"""

import sys
from pathlib import Path

import frontmatter
import pandas as pd


def main(source: Path, out: Path) -> None:
    records = []
    for path in sorted(source.rglob("*")):
        if path.suffix not in (".md", ".markdown", ".txt") or not path.is_file():
            continue
        if any(part.startswith(".") for part in path.relative_to(source).parts):
            continue
        try:
            post = frontmatter.load(path)
        except Exception:  # a user's script skips what it cannot read
            continue
        records.append({**post.metadata, "body": post.content, "source_path": str(path)})
    frame = pd.json_normalize(records, max_level=1)
    frame = frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object})
    out.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out / "articles.parquet")
    print(len(frame))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
