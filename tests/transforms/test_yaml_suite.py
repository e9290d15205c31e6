"""The YAML test suite, every case wrapped as front matter: loaded or rejected, never a crash,
a hang or a leak; where the suite gives the data of a mapping, loaded values agree with it."""

from __future__ import annotations

import gc
import json
import math
import signal
import tracemalloc
from contextlib import contextmanager, suppress

import pytest
from frontmatter.default_handlers import YAMLHandler

from tests.conftest import SHARED
from transforms.article import parse_article
from transforms.document import read_document
from transforms.errors import REJECTION_REASONS, Rejection
from transforms.values import to_boolean

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


def agrees(ours, theirs) -> bool:
    """A string-exact value matches the suite's typed (YAML 1.2 core schema) value."""
    if isinstance(theirs, dict):
        return (
            isinstance(ours, dict)
            and set(ours) == set(theirs)
            and all(agrees(ours[k], theirs[k]) for k in theirs)
        )
    if isinstance(theirs, list):
        return (
            isinstance(ours, list)
            and len(ours) == len(theirs)
            and all(agrees(o, t) for o, t in zip(ours, theirs, strict=True))
        )
    if theirs is None:
        return ours is None
    if isinstance(theirs, bool):
        return to_boolean(ours) == (theirs, None)
    if isinstance(theirs, int | float):
        return isinstance(ours, str) and _number(ours) == theirs
    return ours == theirs


def _number(text: str) -> float | None:
    for parse in (float, lambda t: int(t, 0)):
        try:
            value = parse(text)
        except ValueError:
            continue
        return value if not (isinstance(value, float) and math.isnan(value)) else None
    return None


MAPPING_CASES = [
    case
    for case in CASES
    if case["has_json"]
    and not case["error"]
    and (SUITE / case["id"] / "in.json").read_text().lstrip().startswith("{")
]


# Where libyaml itself reads the spec differently; the value still loads, as libyaml reads it.
LIBYAML_DEVIATIONS = {
    "652Z": "libyaml reads '?foo' in a flow mapping as an explicit key 'foo'",
    "Y2GN": "libyaml ends an anchor name at ':'",
}


def _mark(case: dict):
    reason = LIBYAML_DEVIATIONS.get(case["id"])
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(case, id=case["id"], marks=marks)


@pytest.mark.parametrize("case", [_mark(case) for case in MAPPING_CASES])
def test_loaded_mappings_agree_with_the_suite(case):
    try:
        expected = json.loads((SUITE / case["id"] / "in.json").read_text())
    except json.JSONDecodeError:
        pytest.skip("the suite's in.json holds several documents")  # not one mapping
    text = case_text(case)
    if text.startswith("---\n"):
        text = text[4:]  # the document start marker: the front matter block is the document
    if BOUNDARY.search(text):
        pytest.skip("a '---' line inside the case would end the front matter block")
    try:
        data, _ = read_document(wrapped(case, with_head=False, text=text))
    except Rejection as rejection:
        # Only what the contract rejects on purpose: '---' inside the case splits the block,
        # or a key repeats.
        assert rejection.reason in (
            "no_front_matter",
            "syntax_error",
            "not_a_mapping",
            "too_complex",
        ), rejection
        return
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
