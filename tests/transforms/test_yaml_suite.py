"""The YAML test suite, every case wrapped as front matter: loaded or rejected, never a crash,
a hang or a leak; where the suite gives the data of a mapping, loaded values agree with it."""

from __future__ import annotations

import gc
import json
import signal
import tracemalloc
from contextlib import contextmanager, suppress

import pytest
from frontmatter.default_handlers import YAMLHandler

from tests.conftest import SHARED
from tests.transforms.typed import agrees
from transforms.article import parse_article
from transforms.document import read_document
from transforms.errors import REJECTION_REASONS, Rejection

SUITE = SHARED / "testdata" / "yaml-test-suite"
CASES = json.loads((SUITE / "_index.json").read_text())
HEAD = "title: Case\nwebUrl: https://example.com/case\n"


BOUNDARY = YAMLHandler.FM_BOUNDARY


def case_text(case: dict) -> str:
    return (SUITE / case["id"] / "in.yaml").read_text(encoding="utf-8")


def wrapped(case: dict, with_head: bool, text: str | None = None) -> bytes:
    text = case_text(case) if text is None else text
    if not text.endswith("\n"):
        text += "\n"
    return ("---\n" + (HEAD if with_head else "") + text + "---\nbody\n").encode()


@contextmanager
def time_limit(seconds: int):
    def fail(*_):
        raise TimeoutError(f"took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def outcome(raw: bytes) -> str:
    try:
        with time_limit(5):
            parse_article(raw)
    except Rejection as rejection:
        assert rejection.reason in REJECTION_REASONS and rejection.detail
        return rejection.reason
    return "loaded"


def test_all_402_cases_are_accounted_for():
    assert len(CASES) == 402
    outcomes: dict[str, int] = {}
    for case in CASES:
        for with_head in (False, True):
            result = outcome(wrapped(case, with_head))
            outcomes[result] = outcomes.get(result, 0) + 1
    assert sum(outcomes.values()) == 804
    assert outcomes["loaded"] > 100  # the valid mappings with a title and URL load


def one_document(case: dict) -> tuple[str, object] | None:
    """(the case's text as one front matter block, the suite's data) when the case is one
    valid mapping that fits in a block: a leading document marker is dropped, and a case
    with another '---' line (which would end the block) or several documents is left out."""
    if not case["has_json"] or case["error"]:
        return None
    try:
        expected = json.loads((SUITE / case["id"] / "in.json").read_text())
    except json.JSONDecodeError:  # several documents, one JSON value each
        return None
    text = case_text(case)
    if text.startswith("---\n"):
        text = text[4:]
    if not isinstance(expected, dict) or BOUNDARY.search(text):
        return None
    return text, expected


MAPPING_CASES = [(case, found) for case in CASES if (found := one_document(case))]

# Where libyaml itself reads the spec differently; the value still loads, as libyaml reads it.
LIBYAML_DEVIATIONS = {
    "652Z": "libyaml reads '?foo' in a flow mapping as an explicit key 'foo'",
    "Y2GN": "libyaml ends an anchor name at ':'",
}


# Valid YAML that libyaml refuses (tabs, multi-line flow keys, some anchors): a syntax_error.
LIBYAML_REJECTS = {
    "2SXE",
    "4MUZ-00",
    "4MUZ-01",
    "4MUZ-02",
    "58MP",
    "5MUD",
    "96NN-00",
    "96NN-01",
    "A2M4",
    "DK95-00",
    "DK95-04",
    "K3WX",
    "Q5MG",
    "VJP3-01",
    "W5VH",
    "Y79Y-001",
}


def test_most_mapping_cases_are_compared():
    assert len(MAPPING_CASES) >= 115


@pytest.mark.parametrize(
    ("case", "text", "expected"),
    [
        pytest.param(
            case,
            text,
            expected,
            id=case["id"],
            marks=[pytest.mark.xfail(strict=True, reason=LIBYAML_DEVIATIONS[case["id"]])]
            if case["id"] in LIBYAML_DEVIATIONS
            else [],
        )
        for case, (text, expected) in MAPPING_CASES
    ],
)
def test_loaded_mappings_agree_with_the_suite(case, text, expected):
    try:
        data, _, _ = read_document(wrapped(case, with_head=False, text=text))
    except Rejection as rejection:
        assert case["id"] in LIBYAML_REJECTS and rejection.reason == "syntax_error", rejection
        return
    assert case["id"] not in LIBYAML_REJECTS
    assert agrees(data, expected), (data, expected)


def test_parsing_the_suite_again_does_not_leak():
    raws = [wrapped(case, with_head) for case in CASES for with_head in (False, True)]

    def one_pass():
        for raw in raws:
            with suppress(Rejection):
                parse_article(raw)
        gc.collect()

    tracemalloc.start()
    try:
        one_pass()
        one_pass()
        baseline = tracemalloc.get_traced_memory()[0]
        for _ in range(3):
            one_pass()
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert grown < 256 * 1024
