"""The fast YAML path gives exactly what the exact reader gives, document for document."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SAMPLE_CORPUS, SEED, SHARED
from tests.transforms.test_fuzz import mutated_seed
from transforms.article import parse_article
from transforms.errors import Rejection
from transforms.frontmatter import decode, split_front_matter
from transforms.yaml_fast import _ANY_SUSPECT, _has_suspect, load_yaml_fast
from transforms.yaml_strings import load_yaml

SUITE = SHARED / "testdata" / "yaml-test-suite"
FIXTURES = SHARED / "testdata" / "frontmatter-fixtures"


def outcome(raw: bytes, fast: bool):
    try:
        return parse_article(raw, fast=fast)
    except Rejection as rejection:
        return (rejection.reason, rejection.detail)


def same_rows(raw: bytes) -> None:
    assert outcome(raw, fast=True) == outcome(raw, fast=False)


def exact(text: str):
    try:
        return load_yaml(text)
    except Rejection:
        return "rejected"


def agrees_or_declines(text: str) -> bool:
    """The fast reader either declines (None) or gives exactly the exact reader's data."""
    fast = load_yaml_fast(text)
    return fast is None or fast == exact(text)


def test_the_fast_path_is_taken_for_the_seed_format():
    # the point of it: typical files do not fall back (the sample's hazards may)
    blocks = [
        split_front_matter(decode(path.read_bytes()))
        for path in sorted(SAMPLE_CORPUS.rglob("*.txt"))
    ]
    yaml_blocks = [block.text for block in blocks if block.format == "yaml"]
    taken = sum(load_yaml_fast(text) is not None for text in yaml_blocks)
    assert len(yaml_blocks) > 250 and taken / len(yaml_blocks) > 0.9
    assert load_yaml_fast(split_front_matter(SEED.read_text()).text) is not None


@pytest.mark.parametrize(
    "path",
    sorted(p for p in SAMPLE_CORPUS.rglob("*") if p.is_file() and not p.is_symlink()),
    ids=lambda p: p.name,
)
def test_sample_corpus_rows_are_identical(path):
    same_rows(path.read_bytes())


def test_frontmatter_fixtures_are_identical():
    for path in sorted(FIXTURES.rglob("*")):
        if path.is_file() and path.suffix in (".md", ".txt", ".markdown"):
            same_rows(path.read_bytes())


def test_yaml_test_suite_is_identical():
    cases = json.loads((SUITE / "_index.json").read_text())
    compared = 0
    for case in cases:
        text = (SUITE / case["id"] / "in.yaml").read_text(encoding="utf-8")
        assert agrees_or_declines(text), case["id"]
        compared += load_yaml_fast(text) is not None
        same_rows(b"---\ntitle: T\nwebUrl: https://e.com/x\n" + text.encode() + b"\n---\n")
    assert compared >= 30  # the fast reader took a fair share of these edge cases


# Generated documents built from pieces where the two readers could differ.
# Keys that are not plain names too: values are quoted after any `: ` that ends a line.
KEYS = st.sampled_from(
    [
        *("title", "quality", "heat", "published", "width", "x", "a b", "k-1", "url", "topics"),
        *('"quoted: key"', "'it''s'", "ключ", "12", "true", "null", "# note", "x #", '"a\n  b"'),
        *('"q: 1 #"', "'q: 1 #'", '"q: 1"'),
    ]
)
SCALARS = st.sampled_from(
    [
        "36",
        "036",
        "+36",
        "36.0",
        "3.50",
        "1e3",
        "0x1F",
        "0o14",
        ".inf",
        "-.5",
        "1_000",
        "true",
        "True",
        "TRUE",
        "yes",
        "no",
        "~",
        "null",
        "",
        "''",
        '""',
        '"null"',
        "'it''s'",
        '"a: 5"',
        "a: b",
        "5 things",
        "36 # comment",
        "36#x",
        "- 5",
        "[1, 2]",
        "{a: 1}",
        "[a, 012]",
        '"x\\ty"',
        "'multi\n  quality: 36'",
        '"multi\n  36"',
        "2020-12-14",
        "12:30",
        "1:2",
        "-",
        "a'b",
        "x\n  quality: 36",
        "? weird",
        "&a 5",
        "*a",
        "!!int 5",
        "|\n  quality: 36",
        ">-\n  a\n  b",
        "[\n  1,\n  2]",
        '"é ’ 😀"',
        "-1",
        "- - 1",
    ]
)


@st.composite
def documents(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        indent = draw(st.sampled_from(["", "  ", "- ", "  - "]))
        lines.append(f"{indent}{draw(KEYS)}: {draw(SCALARS)}")
    return "\n".join(lines) + "\n"


@settings(max_examples=500, deadline=None)
@given(text=documents())
def test_generated_documents_agree_or_decline(text):
    assert agrees_or_declines(text)


@settings(max_examples=400, deadline=None)
@given(raw=mutated_seed())
def test_mutated_seed_rows_are_identical(raw):
    same_rows(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'---\ntitle: "Smile \\ud83d\\ude00"\nwebUrl: http://x.com/a\n---\n',  # libyaml refuses
        b'---\ntitle: "\\U0000D83D\\U0000DE00"\nwebUrl: http://x.com/a\n---\n',
        b'---\ntitle: "caf\\u00e9"\nwebUrl: http://x.com/a\n---\n',
    ],
)
def test_escapes_give_the_same_outcome(raw):
    same_rows(raw)


def test_a_quoted_key_that_looks_like_a_typed_value_keeps_its_text():
    # the `: 1` inside the key is quoted like a value (` #` reads as a comment there)
    text = '"score: 10 # of 10": good\n'
    assert agrees_or_declines(text)
    same_rows(b"---\ntitle: t\nwebUrl: http://x.com/a\n" + text.encode() + b"---\nbody\n")


def test_a_document_marker_at_the_start_is_left_to_the_exact_reader():
    assert load_yaml_fast("...\na: 1\n") is None
    assert load_yaml_fast("--- \na: 1\n") is None


# Text drawn mostly from the characters the screen is about: every ASCII one, C1 controls,
# the line and paragraph separators, BOM and non-characters, lone surrogates, and ordinary
# letters beyond ASCII on either side of them.
SCREENED = st.text(
    st.one_of(
        st.characters(max_codepoint=0x17F),
        st.sampled_from("\u2028\u2029\ufeff\ufffe\uffff\ud800\udfff’“é中😀"),
    ),
    max_size=40,
)


@settings(max_examples=2000, deadline=None)
@given(text=SCREENED)
def test_the_fast_screen_finds_what_the_regex_finds(text):
    assert _has_suspect(text) == (_ANY_SUSPECT.search(text) is not None)
