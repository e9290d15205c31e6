"""Arrow schemas of the staged rows, and the accumulator that builds them for a chunk of files.

Staged rows are everything a file contributes, keyed by `source_path`, before the rules that
need all files at once (the duplicate winner, `related_article_id`, `providers`).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

from transforms.article import ArticleDocument, ParsedArticle, article_rows
from transforms.batch import batch_rows
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


# The columns a file gives every row it stages, kept beside the parsed rows rather than
# written into them.
_FILE_COLUMNS = {
    "articles": ("source_path", "source_sha256", "size_bytes"),
    "topics": ("source_path",),
    "related": ("source_path",),
    "images": ("source_path",),
    "issues": ("source_path", "seq"),
    "rejected": (),  # its rows are made here, whole
}


class StagedRows:
    """Rows of a chunk of files, in memory only as long as the chunk.

    Articles are kept as read (`add_document`) and made into rows all at once by `to_arrow`:
    by `transforms.batch` where it can, else one by one by `article_rows`. Rows made one by
    one are kept as they are (copying every value into columns cost as much as the rest of
    collecting), beside the columns of the file each came from."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = {name: [] for name in STAGED_SCHEMAS}
        self.file_columns: dict[str, dict[str, list]] = {
            name: {column: [] for column in columns} for name, columns in _FILE_COLUMNS.items()
        }
        self.documents: list[ArticleDocument] = []
        self.document_files: dict[str, list] = {name: [] for name in _FILE_COLUMNS["articles"]}
        self.batched: dict[str, list[pa.Table]] = {}  # tables transforms.batch made

    def add_document(
        self, source_path: str, sha256: str, size: int, document: ArticleDocument
    ) -> None:
        self.documents.append(document)
        self.document_files["source_path"].append(source_path)
        self.document_files["source_sha256"].append(sha256)
        self.document_files["size_bytes"].append(size)

    def add_parsed(self, source_path: str, sha256: str, size: int, parsed: ParsedArticle) -> None:
        self.rows["articles"].append(parsed.article)
        article = self.file_columns["articles"]
        article["source_path"].append(source_path)
        article["source_sha256"].append(sha256)
        article["size_bytes"].append(size)
        for name, rows in (
            ("topics", parsed.topics),
            ("related", parsed.related),
            ("images", parsed.images),
            ("issues", parsed.issues),
        ):
            if rows:
                self.rows[name] += rows
                self.file_columns[name]["source_path"] += [source_path] * len(rows)
        self.file_columns["issues"]["seq"] += range(len(parsed.issues))

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
        self._make_rows()
        tables = {}
        for name, schema in STAGED_SCHEMAS.items():
            one_by_one = _table(self.rows[name], self.file_columns[name], schema)
            tables[name] = pa.concat_tables([*self.batched.get(name, []), one_by_one])
        return tables

    def _make_rows(self) -> None:
        """Make the rows of the documents added so far."""
        batch, left = batch_rows(self.documents)
        files = self.document_files
        for index in left:
            self.add_parsed(
                files["source_path"][index],
                files["source_sha256"][index],
                files["size_bytes"][index],
                article_rows(self.documents[index]),
            )
        file_arrays = {
            name: pa.array(values, STAGED_SCHEMAS["articles"].field(name).type)
            for name, values in files.items()
        }
        for name, table in batch.items():
            self.batched.setdefault(name, []).append(
                _with_files(table, file_arrays, STAGED_SCHEMAS[name])
            )
        self.documents = []
        self.document_files = {name: [] for name in files}


def _with_files(table: pa.Table, files: dict[str, pa.Array], schema: pa.Schema) -> pa.Table:
    """A table of transforms.batch, its `document` column replaced by the columns of the file
    each row came from, as `schema` orders them."""
    documents = table["document"]
    columns = [
        pc.take(files[field.name], documents) if field.name in files else table[field.name]
        for field in schema
    ]
    return pa.table(
        [column.cast(field.type) for column, field in zip(columns, schema, strict=True)],
        schema=schema,
    )


def _table(rows: list[dict], file_columns: dict[str, list], schema: pa.Schema) -> pa.Table:
    """The rows, and the columns given whole, as a table of `schema`; a key a row lacks is
    null."""
    times = {field.name for field in schema if pa.types.is_timestamp(field.type)}
    from_rows = pa.schema(f for f in schema if f.name not in times and f.name not in file_columns)
    table = pa.Table.from_pylist(rows, schema=from_rows)
    columns = []
    for field in schema:
        if field.name in file_columns:
            columns.append(pa.array(file_columns[field.name], field.type))
        elif field.name in times:
            # pyarrow converts aware datetimes at ~10 us each; integers are nearly free.
            micros = [
                None if (value := row.get(field.name)) is None else (value - _EPOCH) // _MICROSECOND
                for row in rows
            ]
            columns.append(pa.array(micros, pa.int64()).cast(field.type))
        else:
            columns.append(table.column(field.name))
    return pa.table(columns, schema=schema)
