"""Arrow schemas of the staged rows, and the accumulator that builds them for a chunk of files.

Staged rows are everything a file contributes, keyed by `source_path`, before the rules that
need all files at once (the duplicate winner, `related_article_id`, `providers`).
"""

from __future__ import annotations

import pyarrow as pa

from transforms.article import ParsedArticle
from transforms.errors import Rejection

_text = pa.string()
_int = pa.int64()
_time = pa.timestamp("us", tz="UTC")

STAGED_SCHEMAS: dict[str, pa.Schema] = {
    "articles": pa.schema(
        [
            ("source_path", _text),
            ("source_sha256", _text),
            ("size_bytes", _int),
            ("article_id", _text),
            ("url_key", _text),
            ("title", _text),
            ("excerpt", _text),
            ("category", _text),
            ("type", _text),
            ("published_at", _time),
            ("original_url", _text),
            ("web_url", _text),
            ("amp_url", _text),
            ("cdn_amp_url", _text),
            ("provider_domain", _text),
            ("provider_name", _text),
            ("quality", _int),
            ("heat", _int),
            ("is_published", pa.bool_()),
            ("secured", _text),
            ("body", _text),
            ("extra", _text),
        ]
    ),
    "topics": pa.schema(
        [
            ("source_path", _text),
            ("article_id", _text),
            ("position", _int),
            ("topic", _text),
        ]
    ),
    "related": pa.schema(
        [
            ("source_path", _text),
            ("article_id", _text),
            ("position", _int),
            ("title", _text),
            ("excerpt", _text),
            ("published_at", _time),
            ("web_url", _text),
            ("amp_url", _text),
            ("cdn_amp_url", _text),
            ("type", _text),
            ("provider_domain", _text),
            ("provider_name", _text),
            ("quality", _int),
            ("web_url_key", _text),
        ]
    ),
    "images": pa.schema(
        [
            ("source_path", _text),
            ("article_id", _text),
            ("related_position", _int),
            ("position", _int),
            ("url", _text),
            ("width", _int),
            ("height", _int),
            ("is_cached", pa.bool_()),
            ("title", _text),
        ]
    ),
    "issues": pa.schema(
        [
            ("source_path", _text),
            ("seq", _int),
            ("article_id", _text),
            ("field", _text),
            ("problem", _text),
            ("raw_value", _text),
        ]
    ),
    "rejected": pa.schema(
        [
            ("source_path", _text),
            ("source_sha256", _text),
            ("size_bytes", _int),
            ("reason", _text),
            ("detail", _text),
        ]
    ),
}


class StagedRows:
    """Rows of a chunk of files, in memory only as long as the chunk."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = {name: [] for name in STAGED_SCHEMAS}

    def add_parsed(self, source_path: str, sha256: str, size: int, parsed: ParsedArticle) -> None:
        keyed = {"source_path": source_path}
        self.rows["articles"].append(
            {**keyed, "source_sha256": sha256, "size_bytes": size, **parsed.article}
        )
        self.rows["topics"] += [{**keyed, **row} for row in parsed.topics]
        self.rows["related"] += [{**keyed, **row} for row in parsed.related]
        self.rows["images"] += [{**keyed, **row} for row in parsed.images]
        self.rows["issues"] += [
            {**keyed, "seq": seq, **row} for seq, row in enumerate(parsed.issues)
        ]

    def add_rejected(
        self, source_path: str, sha256: str | None, size: int | None, rejection: Rejection
    ) -> None:
        self.rows["rejected"].append(
            {
                "source_path": source_path,
                "source_sha256": sha256,
                "size_bytes": size,
                "reason": rejection.reason,
                "detail": rejection.detail,
            }
        )

    def to_arrow(self) -> dict[str, pa.Table]:
        return {
            name: pa.Table.from_pylist(rows, schema=STAGED_SCHEMAS[name])
            for name, rows in self.rows.items()
        }
