"""A staged part as written: which columns are dictionary-encoded."""

from __future__ import annotations

import pyarrow.parquet as pq

from tests.conftest import SEED
from tests.warehouse.helpers import write
from tests.warehouse.test_parallel import job
from warehouse.staging import stage_chunk


def _dictionary_columns(path) -> set[str]:
    metadata = pq.ParquetFile(path).metadata
    return {
        metadata.schema.column(i).name
        for i in range(metadata.num_columns)
        if any("DICTIONARY" in e for e in metadata.row_group(0).column(i).encodings)
    }


def test_only_the_columns_of_few_values_are_dictionary_encoded(tmp_path):
    source = tmp_path / "src"
    write(source, "a.md", SEED.read_bytes())
    write(source, "b.md", b"---\ntitle: no URL\n---\n")
    write(source, "c.md", b"---\ntitle: T\nwebUrl: https://x.org/c\nquality: high\n---\n")
    stage_chunk(job(source, tmp_path / "part", ["a.md", "b.md", "c.md"]))
    part = tmp_path / "part"
    assert _dictionary_columns(part / "articles.parquet") == {
        "part",
        "category",
        "type",
        "provider_domain",
        "provider_name",
    }
    assert _dictionary_columns(part / "rejected.parquet") == {"part", "reason"}
    assert _dictionary_columns(part / "files.parquet") == {"outcome"}
    assert _dictionary_columns(part / "issues.parquet") == {"part", "field", "problem"}
    assert _dictionary_columns(part / "related.parquet") == {
        "part",
        "type",
        "provider_domain",
        "provider_name",
    }
    for name in ("topics", "images"):
        assert _dictionary_columns(part / f"{name}.parquet") == {"part"}, name
