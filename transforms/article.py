"""From a front matter mapping to the rows of one article (contract sections 2 to 4).

`parse_article` is the whole parsing layer for one file: bytes in, rows out, or a Rejection.
It is `read_article` (every check that can reject the file) then `article_rows`; a chunk of
files read by `read_article` may instead be made into rows at once by `transforms.batch`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from transforms.document import read_document
from transforms.errors import Rejection
from transforms.urls import article_id, normalise_domain, url_domain, url_key
from transforms.values import (
    Converted,
    is_container,
    is_missing,
    raw_text,
    to_boolean,
    to_integer,
    to_text,
    to_timestamp,
)

Spec = dict[str, tuple[str, Callable[[object], Converted]]]

# Front matter key -> (column, converter). Keys in no spec and not structural go to `extra`.
ARTICLE_FIELDS: Spec = {
    "title": ("title", to_text),
    "excerpt": ("excerpt", to_text),
    "category": ("category", to_text),
    "type": ("type", to_text),
    "publishedDateTime": ("published_at", to_timestamp),
    "originalUrl": ("original_url", to_text),
    "webUrl": ("web_url", to_text),
    "ampWebUrl": ("amp_url", to_text),
    "cdnAmpWebUrl": ("cdn_amp_url", to_text),
    "quality": ("quality", to_integer),
    "heat": ("heat", to_integer),
    "published": ("is_published", to_boolean),
    "secured": ("secured", to_text),  # opaque: stored exactly as given
}
RELATED_FIELDS: Spec = {
    "title": ("title", to_text),
    "excerpt": ("excerpt", to_text),
    "publishedDateTime": ("published_at", to_timestamp),
    "webUrl": ("web_url", to_text),
    "ampWebUrl": ("amp_url", to_text),
    "cdnAmpWebUrl": ("cdn_amp_url", to_text),
    "type": ("type", to_text),
    "quality": ("quality", to_integer),
}
IMAGE_FIELDS: Spec = {
    "url": ("url", to_text),
    "width": ("width", to_integer),
    "height": ("height", to_integer),
    "isCached": ("is_cached", to_boolean),
    "title": ("title", to_text),
}
PROVIDER_FIELDS: Spec = {"name": ("name", to_text), "domain": ("domain", to_text)}


# Per spec, computed once: the row with every column it fills, all None; and its text fields,
# key -> column, which `scalars` converts inline, being most of the values of a file.
_SPECS = (ARTICLE_FIELDS, RELATED_FIELDS, IMAGE_FIELDS, PROVIDER_FIELDS)
_EMPTY_ROWS = {id(spec): dict.fromkeys(column for column, _ in spec.values()) for spec in _SPECS}
_TEXT_FIELDS = {
    id(spec): {key: column for key, (column, convert) in spec.items() if convert is to_text}
    for spec in _SPECS
}


@dataclass
class ParsedArticle:
    """Every row one parsed file contributes, before the duplicate winner rule."""

    article: dict
    topics: list[dict] = field(default_factory=list)
    related: list[dict] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    issues: list[dict] = field(default_factory=list)


class _Collector:
    """Gathers field issues and unknown keys while one document is read."""

    def __init__(self) -> None:
        self.issues: list[dict] = []
        self.extra: dict[str, object] = {}

    def issue(self, path: str, problem: str, value: object) -> None:
        self.issues.append({"field": path, "problem": problem, "raw_value": raw_text(value)})

    def scalars(self, mapping: dict, spec: Spec, prefix: str, structural: tuple = ()) -> dict:
        """Convert the spec's keys; unknown keys go to `extra` under their path."""
        row = _EMPTY_ROWS[id(spec)].copy()
        text_fields = _TEXT_FIELDS[id(spec)]
        for key, value in mapping.items():
            if type(value) is str and key in text_fields:
                row[text_fields[key]] = value or None  # what to_text gives, without the call
                continue
            field = spec.get(key)
            if field is not None:
                column, convert = field
                row[column], problem = convert(value)
                if problem:
                    self.issue(prefix + key, problem, value)
            elif key not in structural:
                self.keep_unknown(prefix + key, value)
        return row

    def keep_unknown(self, path: str, value: object) -> None:
        """A top-level key may be spelled like a nested path (`related[0].x`): the second
        one to claim a path is kept under `path#2`, and so on, never overwritten."""
        key, n = path, 1
        while key in self.extra:
            n += 1
            key = f"{path}#{n}"
        self.extra[key] = value

    def list_of(self, value: object, path: str) -> list:
        """A list field: missing is empty; any other shape is empty plus `wrong_shape`."""
        if is_missing(value):
            return []
        if isinstance(value, list):
            return value
        self.issue(path, "wrong_shape", value)
        return []


@dataclass(frozen=True)
class ArticleDocument:
    """A file read and identified as an article: what its rows are made from."""

    data: dict  # the front matter mapping
    body: str | None
    format: str  # "yaml", "toml" or "json"
    url_key: str
    identity_url: str  # the URL url_key comes from
    article_id: str


def parse_article(raw: bytes, fast: bool = True) -> ParsedArticle:
    """Parse one file's bytes into its rows, or raise Rejection.

    Rows carry no source path: the caller knows which file it read. `fast=False` reads YAML
    with the exact reader only (the fast path must give the same rows; tests compare them).
    """
    return article_rows(read_article(raw, fast))


def read_article(raw: bytes, fast: bool = True) -> ArticleDocument:
    """Read one file's front matter and identity, or raise Rejection: every check of the
    contract's section 5 runs here, so a file read this far is an article."""
    return identify(*read_document(raw, fast))


def identify(data: dict, body: str | None, format: str) -> ArticleDocument:
    """A front matter mapping with its identity, or Rejection (`missing_required`)."""
    key, identity_url = _identity(data)
    return ArticleDocument(data, body, format, key, identity_url, article_id(key))


def article_rows(document: ArticleDocument) -> ParsedArticle:
    """Every row of one article, with its field issues. `transforms.batch` makes the same
    rows for many clean documents at once."""
    data, aid = document.data, document.article_id
    out = _Collector()

    article = out.scalars(data, ARTICLE_FIELDS, "", ("provider", "topics", "images", "related"))
    article["provider_name"], article["provider_domain"] = _provider(
        data.get("provider"), "provider", document.identity_url, out
    )
    pairs, problems = topic_rows(data.get("topics"))
    topics = [
        {"article_id": aid, "position": position, "topic": topic} for position, topic in pairs
    ]
    for problem in problems:
        out.issue(*problem)
    images = _images(data.get("images"), "images", aid, None, out)
    related = []
    for position, item in enumerate(out.list_of(data.get("related"), "related")):
        path = f"related[{position}]"
        if not isinstance(item, dict):
            out.issue(path, "not_a_mapping", item)
            continue
        row = out.scalars(item, RELATED_FIELDS, path + ".", ("provider", "images"))
        row["provider_name"], row["provider_domain"] = _provider(
            item.get("provider"), path + ".provider", row["web_url"], out
        )
        # Resolved to related_article_id once every article's url_key is known.
        row["web_url_key"] = url_key(row["web_url"]) if row["web_url"] else None
        row["article_id"] = aid
        row["position"] = position
        related.append(row)
        images += _images(item.get("images"), path + ".images", aid, position, out)

    article.update(
        article_id=aid,
        url_key=document.url_key,
        body=document.body,
        extra=json.dumps(out.extra, ensure_ascii=False, default=str) if out.extra else None,
    )
    issues = [{"article_id": aid, **issue} for issue in out.issues]
    return ParsedArticle(article, topics, related, images, issues)


def _identity(data: dict) -> tuple[str, str]:
    """(url_key, the URL it comes from), after the `missing_required` checks of section 5.

    A title is required to be non-empty text; it is not trimmed, so " " counts. A URL that
    is blank once trimmed normalises to nothing, so it counts as missing.
    """
    title, _ = to_text(data.get("title"))
    if title is None:
        shape = " (it is a list or mapping, not text)" if is_container(data.get("title")) else ""
        raise Rejection(
            "missing_required", f"the front matter has no non-empty 'title'{shape}; add one"
        )
    for name in ("originalUrl", "webUrl"):
        url, _ = to_text(data.get(name))
        if url is not None and url.strip():
            return url_key(url), url
    raise Rejection(
        "missing_required",
        "the front matter has neither 'originalUrl' nor 'webUrl'; add the article's URL",
    )


def _provider(value: object, path: str, url: str | None, out: _Collector):
    """(name, domain); a plain string is the name; a missing domain comes from the URL."""
    name = domain = None
    if isinstance(value, dict):
        row = out.scalars(value, PROVIDER_FIELDS, path + ".")
        name, domain = row["name"], row["domain"]
    elif isinstance(value, list):
        out.issue(path, "wrong_shape", value)
    else:
        name, _ = to_text(value)
    domain = normalise_domain(domain) if domain is not None else None
    if domain is None and url is not None:
        domain = url_domain(url)
    return name, domain


def topic_rows(value: object) -> tuple[list[tuple[int, str]], list[tuple[str, str, object]]]:
    """(position, topic) pairs: trimmed, empty and repeated topics dropped; and the
    (path, problem, value) of each topic that is not text."""
    if isinstance(value, dict):
        return [], [("topics", "wrong_shape", value)]
    rows: list[tuple[int, str]] = []
    problems = []
    seen: set[str] = set()
    for position, item in enumerate(value if isinstance(value, list) else [value]):
        text, problem = to_text(item)
        if problem:
            problems.append((f"topics[{position}]", problem, item))
            continue
        topic = text.strip() if text is not None else ""
        if topic and topic not in seen:
            seen.add(topic)
            rows.append((position, topic))
    return rows, problems


def _images(value, path: str, aid: str, related_position: int | None, out: _Collector):
    rows = []
    for position, item in enumerate(out.list_of(value, path)):
        item_path = f"{path}[{position}]"
        if not isinstance(item, dict):
            out.issue(item_path, "not_a_mapping", item)
            continue
        row = out.scalars(item, IMAGE_FIELDS, item_path + ".")
        if row["url"] is None:
            out.issue(item_path, "missing_url", item)
            continue
        row["article_id"] = aid
        row["related_position"] = related_position
        row["position"] = position
        rows.append(row)
    return rows
