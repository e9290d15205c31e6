"""Arrow schemas of the staged rows, and the accumulator that builds them for a chunk of files.

Staged rows are everything a file contributes, keyed by `source_path`, before the rules that
need all files at once (the duplicate winner, `related_article_id`, `providers`).
"""

from __future__ import annotations

import datetime as dt
from itertools import repeat

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


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


class StagedRows:
    """Rows of a chunk of files, column by column, in memory only as long as the chunk."""

    def __init__(self) -> None:
        self.columns: dict[str, dict[str, list]] = {
            name: {field: [] for field in schema.names} for name, schema in STAGED_SCHEMAS.items()
        }

    def _append(self, name: str, rows: list[dict], **shared) -> None:
        # Runs five times per file: no comprehension (a call each) in the common cases.
        if not rows:
            return
        count = len(rows)
        for field, values in self.columns[name].items():
            if field in shared:
                values.extend([shared[field]] * count)
            elif count == 1:
                values.append(rows[0].get(field))
            else:
                values.extend(map(dict.get, rows, repeat(field, count)))

    def add_parsed(self, source_path: str, sha256: str, size: int, parsed: ParsedArticle) -> None:
        self._append(
            "articles",
            [parsed.article],
            source_path=source_path,
            source_sha256=sha256,
            size_bytes=size,
        )
        self._append("topics", parsed.topics, source_path=source_path)
        self._append("related", parsed.related, source_path=source_path)
        self._append("images", parsed.images, source_path=source_path)
        if parsed.issues:
            issues = [{**issue, "seq": seq} for seq, issue in enumerate(parsed.issues)]
            self._append("issues", issues, source_path=source_path)

    def add_rejected(
        self, source_path: str, sha256: str | None, size: int | None, rejection: Rejection
    ) -> None:
        self._append(
            "rejected",
            [{"reason": rejection.reason, "detail": rejection.detail}],
            source_path=source_path,
            source_sha256=sha256,
            size_bytes=size,
        )

    def to_arrow(self) -> dict[str, pa.Table]:
        return {
            name: pa.table(
                [_array(self.columns[name][field.name], field.type) for field in schema],
                schema=schema,
            )
            for name, schema in STAGED_SCHEMAS.items()
        }


def _array(values: list, kind: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(kind):
        # pyarrow converts aware datetimes at ~10 us each; integers are nearly free.
        micros = [None if v is None else (v - _EPOCH) // _MICROSECOND for v in values]
        return pa.array(micros, pa.int64()).cast(kind)
    return pa.array(values, kind)
