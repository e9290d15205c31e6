"""transforms.batch makes exactly the rows article_rows makes, for the documents it takes."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SAMPLE_CORPUS, SEED, SHARED
from tests.transforms.test_fuzz import mutated_seed
from transforms.article import ArticleDocument, article_rows, identify, read_article
from transforms.batch import _CONVERT, _url_keys, batch_rows, takes
from transforms.errors import Rejection
from transforms.tables import StagedRows
from transforms.urls import url_key
from transforms.values import to_boolean, to_integer, to_text, to_timestamp

SEED_DATA = read_article(SEED.read_bytes()).data


def tables(documents: list[ArticleDocument], batch: bool) -> dict[str, list[dict]]:
    """The staged tables of the documents, as sorted rows, made by batch_rows where it can
    (batch=True) or by article_rows one by one."""
    staged = StagedRows()
    for index, document in enumerate(documents):
        path = f"{index:04d}.md"
        if batch:
            staged.add_document(path, "0" * 64, 100, document)
        else:
            staged.add_parsed(path, "0" * 64, 100, article_rows(document))
    return {
        name: sorted(table.to_pylist(), key=lambda row: repr(sorted(row.items())))
        for name, table in staged.to_arrow().items()
    }


def assert_same_tables(documents: list[ArticleDocument]) -> None:
    assert tables(documents, batch=True) == tables(documents, batch=False)


def read_all(raws) -> list[ArticleDocument]:
    documents = []
    for raw in raws:
        with contextlib.suppress(Rejection):
            documents.append(read_article(raw))
    return documents


def test_the_seed_and_the_sample_corpus_give_the_same_tables():
    raws = [path.read_bytes() for path in sorted(SAMPLE_CORPUS.rglob("*")) if path.is_file()]
    documents = read_all([SEED.read_bytes(), *raws])
    assert len(documents) > 250
    _, left = batch_rows(documents)
    # both paths are exercised: most files are taken, the sample's hazards are left
    assert 0 < len(left) < len(documents) / 2
    assert_same_tables(documents)


def test_frontmatter_fixtures_give_the_same_tables():
    fixtures = SHARED / "testdata" / "frontmatter-fixtures"
    raws = [path.read_bytes() for path in sorted(fixtures.rglob("*")) if path.is_file()]
    head = b"---\ntitle: t\nwebUrl: https://x.org/a\n"
    documents = read_all(raws + [head + raw + b"\n---\n" for raw in raws])
    assert documents
    assert_same_tables(documents)


def test_the_seed_is_taken_and_its_shape_varied_is_left():
    seed = identify(SEED_DATA, "body", "yaml")
    assert takes(seed)
    varied = []
    for change in (
        lambda d: d.update(unknown="x"),  # extra
        lambda d: d.update(provider="Name only"),
        lambda d: d.update(images="not a list"),
        lambda d: d["related"].append("not a mapping"),
        lambda d: d["related"][0].update(provider=["a"]),
        lambda d: d["related"][0].update(images=[{"url": "u", "alt": "x"}]),
    ):
        data = copy.deepcopy(SEED_DATA)
        change(data)
        varied.append(identify(data, None, "yaml"))
    assert not any(takes(document) for document in varied)
    assert not takes(identify(SEED_DATA, None, "json"))  # typed values: article_rows
    assert_same_tables([seed, *varied])


@settings(max_examples=200, deadline=None)
@given(raw=mutated_seed())
def test_mutated_seeds_give_the_same_tables(raw):
    assert_same_tables(read_all([raw, SEED.read_bytes()]))


# Values near each fast form, and anything else.
TIMESTAMPS = st.from_regex(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?(\.[0-9]{1,3})?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?",
    fullmatch=True,
)
INTEGERS = st.from_regex(r" ?[+-]?[0-9٣]{0,20}(\.[0-9]{0,3})?[a-z ]?", fullmatch=True)
BOOLEANS = st.sampled_from(["true", "yes", "on", "1", "false", "no", "off", "0"]).flatmap(
    lambda word: st.sampled_from([word, word.upper(), word.title(), f" {word}", word + "ſ"])
)
DOMAINS = st.from_regex(r"\s?(www\.|WWW\.)?[a-zA-Z0-9.é -]{0,12}\s?", fullmatch=True)
URLS = st.from_regex(
    r"\s?(https?|HTTP|ftp)://[a-zA-Z0-9.é-]{0,10}(:[0-9]{2,3})?(/[a-z ?#&=_%]{0,12})?\s?",
    fullmatch=True,
)
ANY = st.none() | st.just("") | st.text(max_size=12)


@st.composite
def seed_like(draw) -> ArticleDocument:
    """The seed's mapping with some values drawn near each form, some keys dropped."""
    data = copy.deepcopy(SEED_DATA)
    fields = {
        "publishedDateTime": TIMESTAMPS,
        "quality": INTEGERS,
        "heat": INTEGERS,
        "published": BOOLEANS,
        "excerpt": ANY,
        "category": ANY,
    }
    for key, values in fields.items():
        if draw(st.booleans()):
            data[key] = draw(values | ANY)
    if draw(st.booleans()):
        data["provider"] = draw(
            st.none() | st.fixed_dictionaries({"name": ANY, "domain": DOMAINS | ANY})
        )
    if draw(st.booleans()):
        data["topics"] = draw(st.lists(ANY | st.sampled_from([" Tech ", "Tech"]), max_size=4))
    for item in data.get("related") or []:
        if draw(st.booleans()):
            item["webUrl"] = draw(URLS | ANY)
        if draw(st.booleans()):
            item["quality"] = draw(INTEGERS | ANY)
        if draw(st.booleans()):
            item["publishedDateTime"] = draw(TIMESTAMPS | ANY)
        if draw(st.booleans()):
            item.pop("provider", None)
    for image in data.get("images") or []:
        if draw(st.booleans()):
            image["isCached"] = draw(BOOLEANS | ANY)
        if draw(st.booleans()):
            image["url"] = draw(ANY)
        if draw(st.booleans()):
            image["width"] = draw(INTEGERS | ANY)
    try:
        return identify(data, draw(st.none() | st.text(max_size=8)), "yaml")
    except Rejection:
        return identify(SEED_DATA, None, "yaml")


@settings(max_examples=300, deadline=None)
@given(documents=st.lists(seed_like(), min_size=1, max_size=6))
def test_seed_like_documents_give_the_same_tables(documents):
    assert_same_tables(documents)


def converted_one_by_one(convert, values: list):
    results = [convert(value) if value is not None else (None, None) for value in values]
    return [value for value, _ in results], [i for i, (_, p) in enumerate(results) if p]


@pytest.mark.parametrize(
    ("convert", "values"),
    [
        (to_integer, INTEGERS),
        (to_boolean, BOOLEANS | st.text(max_size=5)),
        (to_timestamp, TIMESTAMPS),
        (to_text, st.text(max_size=5)),
    ],
)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_each_column_converter_gives_what_its_value_converter_gives(convert, values, data):
    drawn = data.draw(st.lists(values | st.none(), max_size=12))
    column, problems = _CONVERT[convert](pa.array(drawn, pa.string()))
    expected, expected_problems = converted_one_by_one(convert, drawn)
    assert column.to_pylist() == expected
    assert (list(problems) if problems is not None else []) == expected_problems


@settings(max_examples=300, deadline=None)
@given(urls=st.lists(URLS, max_size=8))
def test_url_keys_of_a_column_are_url_key(urls):
    keys, _ = _url_keys(pa.array(urls, pa.string()))
    assert keys.to_pylist() == [url_key(url) for url in urls]


def test_the_fast_forms_hold_at_their_edges():
    cases = {
        to_timestamp: [
            "2021-02-30T00:00:00Z",  # no such day: Arrow refuses, to_timestamp reports
            "2020-02-29T23:59:59+23:59",
            "1000-01-01T00:00:00+01:00",
            "0001-01-01T00:00:00+01:00",  # before year 1 in UTC: bad_timestamp
            "0999-12-31T23:59:59Z",
            "9999-12-31T23:59:59-01:00",  # after 9999 in UTC: bad_timestamp
            "2021-12-22T12:42:60Z",
            "2021-12-22T12:42:00",  # no offset means UTC
        ],
        to_integer: ["007", "-0", "15.000", "+7", "1.", "999999999999999999", "1" * 19],
        to_boolean: ["No", "ON", "yeſ", " yes", "K"],
    }
    for convert, values in cases.items():
        # all together, and each alone (one value Arrow refuses sends its column to convert)
        for some in [values, *([value] for value in values)]:
            column, problems = _CONVERT[convert](pa.array(some, pa.string()))
            expected, expected_problems = converted_one_by_one(convert, some)
            assert column.to_pylist() == expected, some
            assert (list(problems) if problems is not None else []) == expected_problems
    column, _ = _CONVERT[to_timestamp](pa.array(["2020-02-29T23:59:59+23:59"]))
    assert column[0].as_py() == dt.datetime(2020, 2, 29, 0, 0, 59, tzinfo=dt.UTC)
