"""The rows of many articles at once, in Arrow: `article_rows`' common case, column by column.

`article_rows` converts one value at a time in Python, which was a quarter of a worker's time
a file. Most files are YAML in the seed's shape, with every value in a common form; for them,
Arrow reads the front matter mappings of a whole chunk into one struct array and converts each
column at once. The rules stay where they are:

- A document is taken here only in the seed's shape: keys the specs know (so `extra` is
  empty), mappings and lists where the specs expect them. Anything else is left, whole, to
  `article_rows` (see `takes`).
- In a column, values in a common form are converted by Arrow kernels that give exactly what
  the converter in `transforms.values` gives for that form (each `_FAST_*` pattern below);
  every other value goes through that converter itself.
- A document with a value that converts with a problem is left to `article_rows`, which
  reports it as a field issue, in order.

Tests require identical tables from this path and from `article_rows`, over the sample
corpus, python-frontmatter's fixtures, the YAML test suite, mutated seeds and generated
values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.article import (
    ARTICLE_FIELDS,
    IMAGE_FIELDS,
    PROVIDER_FIELDS,
    RELATED_FIELDS,
    ArticleDocument,
    Spec,
    topic_rows,
)
from transforms.urls import normalise_domain, url_domain, url_key
from transforms.values import (
    BOOLEAN_WORDS,
    Converted,
    to_boolean,
    to_integer,
    to_text,
    to_timestamp,
)

_text = pa.string()


def _struct(spec: Spec, *nested: tuple[str, pa.DataType]) -> pa.StructType:
    return pa.struct([(key, _text) for key in spec] + list(nested))


_PROVIDER = _struct(PROVIDER_FIELDS)
_IMAGE = _struct(IMAGE_FIELDS)
_RELATED = _struct(RELATED_FIELDS, ("provider", _PROVIDER), ("images", pa.list_(_IMAGE)))
# topics are read from the mappings in Python, by the rule article_rows uses
_ARTICLE = _struct(
    ARTICLE_FIELDS,
    ("provider", _PROVIDER),
    ("images", pa.list_(_IMAGE)),
    ("related", pa.list_(_RELATED)),
)
_ARTICLE_KEYS = frozenset(ARTICLE_FIELDS) | {"provider", "topics", "images", "related"}
_RELATED_KEYS = frozenset(RELATED_FIELDS) | {"provider", "images"}
_IMAGE_KEYS = frozenset(IMAGE_FIELDS)
_PROVIDER_KEYS = frozenset(PROVIDER_FIELDS)


def takes(document: ArticleDocument) -> bool:
    """Whether the document is in the shape this path reads: YAML (whose values are strings
    or None), only keys the specs know, mappings and lists where the specs expect them.
    A scalar field holding a list or mapping is found by Arrow (see `_read_mappings`)."""
    data = document.data
    if document.format != "yaml" or not data.keys() <= _ARTICLE_KEYS:
        return False
    if not _is_provider(data.get("provider")) or not _are_images(data.get("images")):
        return False
    related = data.get("related")
    if related is None:
        return True
    if type(related) is not list:
        return False
    for item in related:
        if type(item) is not dict or not item.keys() <= _RELATED_KEYS:
            return False
        if not _is_provider(item.get("provider")) or not _are_images(item.get("images")):
            return False
    return True


def _is_provider(value: object) -> bool:
    return value is None or (type(value) is dict and value.keys() <= _PROVIDER_KEYS)


def _are_images(value: object) -> bool:
    if value is None:
        return True
    if type(value) is not list:
        return False
    return all(type(item) is dict and item.keys() <= _IMAGE_KEYS for item in value)


def batch_rows(documents: list[ArticleDocument]) -> tuple[dict[str, pa.Table], list[int]]:
    """The article, topic, related and image rows of the documents this path can make
    exactly, each with a `document` column (the index in `documents`); and the indices of the
    documents left to `article_rows`."""
    taken = [index for index, document in enumerate(documents) if takes(document)]
    mappings, taken = _read_mappings(documents, taken)
    tables, bad = _tables(mappings, [documents[index] for index in taken])
    if bad.any():  # rows of documents with a field issue are dropped; article_rows makes them
        keep_document = pa.array(~bad)
        for name, table in tables.items():
            tables[name] = table.filter(pc.take(keep_document, table["document"]))
    # the `document` column so far counts taken documents: map it to indices in `documents`
    index_of = pa.array(taken, pa.int64())
    for name, table in tables.items():
        at = table.schema.get_field_index("document")
        tables[name] = table.set_column(at, "document", pc.take(index_of, table["document"]))
    left = sorted(set(range(len(documents))) - {taken[i] for i in np.flatnonzero(~bad)})
    return tables, left


def _read_mappings(
    documents: list[ArticleDocument], taken: list[int]
) -> tuple[pa.StructArray, list[int]]:
    """The taken documents' mappings as one struct array. A scalar field holding a list or
    mapping makes Arrow refuse the whole batch: then each is read alone, to find it."""
    try:
        mappings = pa.array([documents[i].data for i in taken], _ARTICLE)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    else:
        if isinstance(mappings, pa.ChunkedArray):  # over 2 GB of text: article_rows copes
            return pa.array([], _ARTICLE), []
        return mappings, taken
    readable = []
    for index in taken:
        try:
            pa.array([documents[index].data], _ARTICLE)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue
        readable.append(index)
    return pa.array([documents[i].data for i in readable], _ARTICLE), readable


def _tables(
    mappings: pa.StructArray, documents: list[ArticleDocument]
) -> tuple[dict[str, pa.Table], np.ndarray]:
    """The tables of the mappings, and for each document whether a value converted with a
    problem (its rows are then not to be kept)."""
    bad = np.zeros(len(documents), dtype=bool)
    n = len(documents)

    def column(values: pa.Array, convert, parents: np.ndarray | None = None) -> pa.Array:
        converted, problems = convert(values)
        if problems is not None:
            bad[problems if parents is None else parents[problems]] = True
        return converted

    # articles
    article = {field: pc.struct_field(mappings, field) for field in ARTICLE_FIELDS}
    identity_urls = pa.array([document.identity_url for document in documents], _text)
    provider = pc.struct_field(mappings, "provider")
    articles = {
        "document": pa.array(np.arange(n)),
        "article_id": pa.array([document.article_id for document in documents], _text),
        "url_key": pa.array([document.url_key for document in documents], _text),
    }
    for key, (name, convert) in ARTICLE_FIELDS.items():
        articles[name] = column(article[key], _CONVERT[convert])
    articles["provider_name"] = column(pc.struct_field(provider, "name"), _text_column)
    articles["provider_domain"] = column(
        pc.struct_field(provider, "domain"), _provider_domains(identity_urls)
    )
    articles["body"] = pa.array([document.body for document in documents], _text)
    articles["extra"] = pa.nulls(n, _text)

    # topics, by article_rows' own rule, in Python: a few per file
    topics: dict[str, list] = {"document": [], "position": [], "topic": []}
    for index, document in enumerate(documents):
        rows, problems = topic_rows(document.data.get("topics"))
        if problems:
            bad[index] = True
            continue
        for position, topic in rows:
            topics["document"].append(index)
            topics["position"].append(position)
            topics["topic"].append(topic)

    # related items
    related_lists = pc.struct_field(mappings, "related")
    related_items = related_lists.flatten()
    related_of = np.asarray(pc.list_parent_indices(related_lists))
    related = {
        "document": pa.array(related_of),
        "article_id": articles["article_id"].take(pa.array(related_of)),
        "position": pa.array(_positions(related_lists, related_of)),
    }
    for key, (name, convert) in RELATED_FIELDS.items():
        related[name] = column(pc.struct_field(related_items, key), _CONVERT[convert], related_of)
    related_provider = pc.struct_field(related_items, "provider")
    related["provider_name"] = column(
        pc.struct_field(related_provider, "name"), _text_column, related_of
    )
    related["provider_domain"] = column(
        pc.struct_field(related_provider, "domain"),
        _provider_domains(related["web_url"]),
        related_of,
    )
    related["web_url_key"], _ = _url_keys(related["web_url"])

    # images, of the articles and of their related items
    image_tables = []
    for lists, owner_of, related_position in (
        (pc.struct_field(mappings, "images"), None, None),
        (pc.struct_field(related_items, "images"), related_of, related["position"]),
    ):
        items = lists.flatten()
        item_of = np.asarray(pc.list_parent_indices(lists))
        document_of = item_of if owner_of is None else owner_of[item_of]
        images = {
            "document": pa.array(document_of, pa.int64()),
            "article_id": articles["article_id"].take(pa.array(document_of, pa.int64())),
            "related_position": (
                pa.nulls(len(items), pa.int64())
                if related_position is None
                else pc.take(related_position, pa.array(item_of, pa.int64()))
            ),
            "position": pa.array(_positions(lists, item_of)),
        }
        for key, (name, convert) in IMAGE_FIELDS.items():
            images[name] = column(pc.struct_field(items, key), _CONVERT[convert], document_of)
        # an image without a url is an issue (missing_url): article_rows reports it
        bad[document_of[_true(pc.is_null(images["url"]))]] = True
        image_tables.append(pa.table(images))

    tables = {
        "articles": pa.table(articles),
        "topics": pa.table(
            {
                "document": pa.array(topics["document"], pa.int64()),
                "article_id": articles["article_id"].take(pa.array(topics["document"], pa.int64())),
                "position": pa.array(topics["position"], pa.int64()),
                "topic": pa.array(topics["topic"], _text),
            }
        ),
        "related": pa.table(related),
        "images": pa.concat_tables(image_tables),
    }
    return tables, bad


def _true(mask: pa.Array) -> np.ndarray:
    """The indices where a boolean array without nulls is true."""
    return np.flatnonzero(mask.to_numpy(zero_copy_only=False))


def _positions(lists: pa.ListArray, parents: np.ndarray) -> np.ndarray:
    """Each flattened item's index within its own list."""
    offsets = np.asarray(lists.offsets)
    return np.arange(len(parents)) + offsets[0] - offsets[parents] if len(parents) else parents


# A column converter: (the converted column, the indices of values that have a problem, or
# None). `_column` makes one from an Arrow fast path and the value converter it stands for.
ColumnConverter = Callable[[pa.Array], tuple[pa.Array, np.ndarray | None]]


def _column(
    kind: pa.DataType,
    in_fast_form: Callable[[pa.Array], pa.Array],
    fast: Callable[[pa.Array], pa.Array],
    convert: Callable[[object], Converted],
) -> ColumnConverter:
    """Values `in_fast_form` are converted by `fast`, which gives what `convert` gives for
    them; the others by `convert`, one by one."""

    def converter(values: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
        is_fast = pc.fill_null(in_fast_form(values), False)
        rest = pc.and_(pc.is_valid(values), pc.invert(is_fast))
        converted = None
        if pc.any(is_fast).as_py():
            try:
                converted = fast(pc.if_else(is_fast, values, None))
            except pa.ArrowInvalid:  # e.g. 30 February: leave the lot to `convert`
                rest = pc.is_valid(values)
        if converted is None:
            converted = pa.nulls(len(values), kind)
        if not pc.any(rest).as_py():
            return converted, None
        at = _true(rest)
        results = [convert(value) for value in values.take(pa.array(at)).to_pylist()]
        problems = at[[problem is not None for _, problem in results]]
        replaced = pc.replace_with_mask(
            converted, rest, pa.array([value for value, _ in results], kind)
        )
        return replaced, problems if len(problems) else None

    return converter


def _text_column(values: pa.Array) -> tuple[pa.Array, None]:
    """to_text of strings: an empty string is missing."""
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, _text), values), None


def _matching(pattern: str) -> Callable[[pa.Array], pa.Array]:
    """Whether each value matches the RE2 `pattern` (which should be anchored)."""
    return lambda values: pc.match_substring_regex(values, pattern)


# to_integer: digits, optionally signed or with a fraction of zeros; 18 digits always fit.
_FAST_INTEGER = r"^-?[0-9]{1,18}(?:\.0*)?$"
# to_boolean: the words as listed, in any ASCII case, unpadded. A value with other characters
# (a non-ASCII letter that Python lower-cases to an ASCII one, say) is not a word once
# ascii_lower has changed only its ASCII letters, so it goes to to_boolean.
_WORDS = pa.array(list(BOOLEAN_WORDS))
_TRUE_WORDS = pa.array([word for word, meaning in BOOLEAN_WORDS.items() if meaning])
# to_timestamp: ISO 8601 to the second with Z or an offset, years 1000-9998 so that no offset
# moves it out of datetime's range; both readers refuse 30 February, 24:00 and :60 seconds.
_FAST_TIMESTAMP = (
    r"^(?:[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-(?:0[1-9]|1[0-2])"
    r"-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
_TIME = pa.timestamp("us", tz="UTC")
# normalise_domain: printable ASCII, no space at either end (so strip() has nothing to do).
_FAST_DOMAIN = r"^[!-~](?:[ -~]*[!-~])?$"


# url_key: a URL it leaves as it is: lower-case http(s) scheme and host, no port, user,
# query or fragment; the path in printable ASCII but for `#` and `?` (so nothing for
# strip(): no space).
_FAST_URL = r"^https?://[a-z0-9.-]+(?:/[!-\"$->@-~]*)?$"


def _url_key_or_none(url: str) -> Converted:
    return url_key(url), None


_url_keys = _column(_text, _matching(_FAST_URL), lambda urls: urls, _url_key_or_none)


def _domain_or_none(domain: str) -> Converted:
    return normalise_domain(domain), None


def _fast_domains(values: pa.Array) -> pa.Array:
    domains = pc.replace_substring_regex(pc.ascii_lower(values), r"^www\.", "", max_replacements=1)
    return pc.if_else(pc.equal(domains, ""), pa.scalar(None, _text), domains)


_normalised_domains = _column(_text, _matching(_FAST_DOMAIN), _fast_domains, _domain_or_none)


def _provider_domains(urls: pa.Array) -> ColumnConverter:
    """article_rows' provider domain: the given domain normalised, else the URL's host."""

    def converter(values: pa.Array) -> tuple[pa.Array, None]:
        texts, _ = _text_column(values)
        domains, _ = _normalised_domains(texts)
        from_url = pc.and_(pc.is_null(domains), pc.is_valid(urls))
        if not pc.any(from_url).as_py():
            return domains, None
        hosts = [url_domain(url) for url in urls.filter(from_url).to_pylist()]
        return pc.replace_with_mask(domains, from_url, pa.array(hosts, _text)), None

    return converter


_CONVERT: dict[Callable, ColumnConverter] = {
    to_text: _text_column,
    to_integer: _column(
        pa.int64(),
        _matching(_FAST_INTEGER),
        lambda values: pc.cast(pc.replace_substring_regex(values, r"\.0*$", ""), pa.int64()),
        to_integer,
    ),
    to_boolean: _column(
        pa.bool_(),
        lambda values: pc.is_in(pc.ascii_lower(values), _WORDS),
        lambda values: pc.if_else(
            pc.is_valid(values), pc.is_in(pc.ascii_lower(values), _TRUE_WORDS), None
        ),
        to_boolean,
    ),
    to_timestamp: _column(
        _TIME, _matching(_FAST_TIMESTAMP), lambda values: pc.cast(values, _TIME), to_timestamp
    ),
}
