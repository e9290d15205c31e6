import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.errors import Rejection
from transforms.frontmatter import _BOUNDARIES, _closing, decode, split_front_matter


def test_yaml_block_and_body_are_split():
    front = split_front_matter("---\ntitle: x\n---\n\nHello.\n")
    assert (front.format, front.text, front.body) == ("yaml", "\ntitle: x\n", "Hello.")


def test_empty_body_is_none():
    assert split_front_matter("---\ntitle: x\n---\n\n  \n").body is None


def test_toml_block_between_plus_lines():
    front = split_front_matter('+++\ntitle = "x"\n+++\nbody')
    assert (front.format, front.text.strip(), front.body) == ("toml", 'title = "x"', "body")


def test_json_block_keeps_its_braces():
    front = split_front_matter('{\n"title": "x"\n}\nbody')
    assert front.format == "json"
    assert front.text == '{\n"title": "x"\n}'


def test_leading_blank_lines_are_skipped_but_counted_for_line_numbers():
    front = split_front_matter("\n\n---\ntitle: x\n---\n")
    assert front.format == "yaml"
    assert front.first_line == 3


def test_longer_delimiters_and_trailing_spaces_are_accepted():
    assert split_front_matter("----\na: b\n----\n").text == "\na: b\n"
    assert split_front_matter("--- \na: b\n---\n").text.strip() == "a: b"


def test_no_block_at_top_is_no_front_matter():
    with pytest.raises(Rejection) as caught:
        split_front_matter("Hello\n---\na: b\n---\n")
    assert caught.value.reason == "no_front_matter"


def test_block_that_never_closes_is_no_front_matter():
    with pytest.raises(Rejection) as caught:
        split_front_matter("---\ntitle: x\n\nbody\n")
    assert caught.value.reason == "no_front_matter"
    assert "never closes" in caught.value.detail


def test_bom_and_crlf_change_nothing():
    plain = "---\ntitle: x\n---\nbody\n"
    assert decode(b"\xef\xbb\xbf" + plain.replace("\n", "\r\n").encode()) == plain


def test_invalid_utf8_is_an_encoding_rejection_with_its_position():
    with pytest.raises(Rejection) as caught:
        decode(b"---\ntitle: caf\xe9\n---\n")
    assert caught.value.reason == "encoding"
    assert (caught.value.line, caught.value.column) == (2, 11)


# Boundary lines, near-misses and other lines, so that every case comes up often.
_LINES = st.lists(
    st.sampled_from(["---", "----", "--- \t", "---x", " ---", "+++", "++++ ", "+++-", "{", "}"])
    | st.text(alphabet="-+{}x \t", max_size=4),
    max_size=12,
)


@settings(max_examples=500, deadline=None)
@given(lines=_LINES, start=st.integers(min_value=1, max_value=40))
def test_the_closing_boundary_is_the_one_the_regex_finds(lines, start):
    text = "\n".join(lines)
    start = min(start, len(text))
    for _, boundary, starts_with in _BOUNDARIES:
        found = _closing(boundary, text, start, starts_with)
        expected = boundary.search(text, start)
        assert (found and found.span()) == (expected and expected.span())
