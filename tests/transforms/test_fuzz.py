"""Fuzzing the parse function: random bytes and mutated real front matter only ever give
rows or a Rejection, never another exception."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SEED
from transforms.article import parse_article
from transforms.errors import REJECTION_REASONS, Rejection
from transforms.tables import StagedRows

SEED_BYTES = SEED.read_bytes()
HEADS = [b"---\n", b"+++\n", b"{\n", b"\xef\xbb\xbf---\r\n", b""]


def parse_or_reject(raw: bytes) -> None:
    try:
        parsed = parse_article(raw)
    except Rejection as rejection:
        assert rejection.reason in REJECTION_REASONS and rejection.detail
        return
    staged = StagedRows()  # what loads must also convert to Arrow
    staged.add_parsed("x.md", "0" * 64, len(raw), parsed)
    staged.to_arrow()


@settings(max_examples=300, deadline=None)
@given(head=st.sampled_from(HEADS), body=st.binary(max_size=400))
def test_random_bytes(head, body):
    parse_or_reject(head + body + b"\n---\n")


@st.composite
def mutated_seed(draw) -> bytes:
    raw = bytearray(SEED_BYTES)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(raw) - 1))
        kind = draw(st.sampled_from(["replace", "insert", "delete", "line"]))
        piece = draw(
            st.sampled_from(
                [
                    b":",
                    b"-",
                    b" ",
                    b"\n",
                    b"[",
                    b"{",
                    b"&a",
                    b"*a",
                    b"'",
                    b'"',
                    b"\\",
                    b"#",
                    b"\t",
                    b"!!int",
                    b"<<: ",
                    b"\xff",
                    b"\x00",
                    b"~",
                    b"?",
                    b"|",
                    b">",
                ]
            )
        )
        if kind == "replace":
            raw[at : at + len(piece)] = piece
        elif kind == "insert":
            raw[at:at] = piece
        elif kind == "delete":
            del raw[at : at + draw(st.integers(1, 20))]
        else:  # duplicate a whole line somewhere else
            start = raw.rfind(b"\n", 0, at) + 1
            end = raw.find(b"\n", at) + 1 or len(raw)
            raw[end:end] = raw[start:end]
    return bytes(raw)


@settings(max_examples=400, deadline=None)
@given(raw=mutated_seed())
def test_mutated_seed(raw):
    parse_or_reject(raw)


@settings(max_examples=200, deadline=None)
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_json_front_matter_of_any_shape(value):
    import json

    for key in ("title", "webUrl", "topics", "images", "related", "provider", "quality"):
        document = {"title": "T", "webUrl": "https://e.com/x", key: value}
        parse_or_reject(b"{\n" + json.dumps(document, ensure_ascii=False)[1:-1].encode() + b"\n}\n")
