import tracemalloc

import pytest

from transforms.errors import Rejection
from transforms.yaml_strings import MAX_DEPTH, load_yaml


def reject(text: str) -> Rejection:
    with pytest.raises(Rejection) as caught:
        load_yaml(text)
    return caught.value


@pytest.mark.parametrize(
    "written",
    [
        "1984",
        "yes",
        "No",
        "on",
        "1.50",
        "012",
        "0x1F",
        "1e3",
        "2020-12-14",
        "2020-12-14T21:48:00Z",
        ".inf",
        "-.5",
    ],
)
def test_implicit_typing_never_changes_a_string(written):
    assert load_yaml(f"title: {written}") == {"title": written}


@pytest.mark.parametrize("written", ["~", "null", "Null", "NULL", ""])
def test_only_plain_null_words_and_empty_values_are_missing(written):
    assert load_yaml(f"x: {written}") == {"x": None}


@pytest.mark.parametrize("written", ['"null"', "'~'", '""', "nULL", "!!str null"])
def test_quoted_or_other_null_like_text_stays_text(written):
    value = load_yaml(f"x: {written}")["x"]
    assert value is not None


def test_escapes_are_decoded_and_block_scalars_folded():
    data = load_yaml('a: "tab\\there \\u00e9"\nb: >\n  one\n  two\nc: |\n  line\n   kept \n')
    assert data == {"a": "tab\there é", "b": "one two\n", "c": "line\n kept \n"}


def test_no_trimming_inside_quotes():
    assert load_yaml("a: '  padded  '") == {"a": "  padded  "}


def test_nested_structures_keep_strings():
    assert load_yaml("a:\n  - 1\n  - {b: true}\n") == {"a": ["1", {"b": "true"}]}


def test_anchors_aliases_and_merge_keys():
    data = load_yaml("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n")
    assert data["m"] == {"x": "1", "y": "3"}


def test_duplicate_keys_are_a_syntax_error_naming_the_key():
    error = reject("a: 1\nb: 2\na: 3\n")
    assert error.reason == "syntax_error"
    assert "'a'" in error.detail and error.line == 3


def test_syntax_errors_give_the_file_line_and_column():
    with pytest.raises(Rejection) as caught:
        load_yaml("\ntitle: ok\ntopics: [a, b\n", first_line=1)
    assert caught.value.reason == "syntax_error"
    assert caught.value.line is not None and caught.value.line >= 3
    assert "line" in caught.value.detail


def test_alias_bomb_is_too_complex():
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        levels.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    assert reject("\n".join(levels)).reason == "too_complex"


def test_alias_repeating_a_long_string_is_too_complex():
    bomb = "s: &s " + "x" * 65536 + "\nx: [" + ", ".join(["*s"] * 2000) + "]\n"
    error = reject(bomb)
    assert error.reason == "too_complex" and "characters" in error.detail


def test_a_few_aliases_of_normal_text_load():
    data = load_yaml("a: &a some text\nb: *a\nc: [*a, *a]\n")
    assert data == {"a": "some text", "b": "some text", "c": ["some text", "some text"]}


def test_nesting_deeper_than_the_limit_is_too_complex():
    # the mapping is one level, so MAX_DEPTH - 1 lists inside it are the most allowed
    assert load_yaml("x: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)) is not None
    deep = "x: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert reject(deep).reason == "too_complex"


def test_deep_block_nesting_is_too_complex_without_recursion_error():
    deep = "".join(" " * i + f"k{i}:\n" for i in range(200)) + " " * 200 + "v\n"
    assert reject(deep).reason == "too_complex"


def test_huge_flat_nesting_does_not_crash():
    assert reject("x: " + "[" * 100_000).reason == "too_complex"


def test_alias_that_contains_itself_is_too_complex():
    assert reject("a: &a [1, *a]").reason == "too_complex"


def test_alias_without_anchor_is_a_syntax_error():
    assert reject("a: *nothing").reason == "syntax_error"


def test_a_second_document_is_a_syntax_error():
    assert reject("a: 1\n---\nb: 2\n").reason == "syntax_error"


def test_control_characters_are_a_syntax_error_with_position():
    error = reject("a: ok\nb: \x07")
    assert error.reason == "syntax_error" and error.line == 2


def test_complex_keys_become_json_text():
    assert load_yaml("? [a, b]\n: c\n") == {'["a","b"]': "c"}


@pytest.mark.parametrize(
    "bomb",
    [
        "\n".join(
            [f"a0: &a0 [{', '.join(['x'] * 10)}]"]
            + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
        ),
        "s: &s " + "x" * 65536 + "\nx: [" + ", ".join(["*s"] * 100_000) + "]\n",
        "x: " + "[" * 1_000_000,
        "x:\n" + "".join(" " * i + "- \n" for i in range(2000)),
    ],
)
def test_hostile_yaml_is_rejected_within_a_few_mb(bomb):
    tracemalloc.start()
    try:
        assert reject(bomb).reason == "too_complex"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024 + 2 * len(bomb)  # the text itself, and a few MB
