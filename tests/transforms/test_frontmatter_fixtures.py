"""python-frontmatter's own fixtures: each loads with the data its .result.json shows
(under the contract's string rules), or is rejected with the right reason."""

import json
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.transforms.typed import agrees
from transforms.article import parse_article
from transforms.document import read_document
from transforms.errors import Rejection

FIXTURES = SHARED / "testdata" / "frontmatter-fixtures"
# No fixture has both a title and a URL, so every one is rejected: this is the reason.
EXPECTED_REASON = {
    "empty/no-frontmatter.txt": "no_front_matter",
    "_historical/dots.markdown": "no_front_matter",  # '...' does not close a block
}


def fixtures() -> list[Path]:
    found = sorted(
        p
        for p in FIXTURES.rglob("*")
        if p.is_file()
        and p.suffix in (".md", ".txt", ".markdown")
        and "_examples-content" not in p.parts
    )
    assert len(found) >= 12
    return found


@pytest.mark.parametrize("path", fixtures(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture(path: Path):
    name = str(path.relative_to(FIXTURES))
    with pytest.raises(Rejection) as caught:
        parse_article(path.read_bytes())
    assert caught.value.reason == EXPECTED_REASON.get(name, "missing_required")
    result = path.with_suffix(".result.json")
    if name in EXPECTED_REASON or not result.exists():
        return
    expected = json.loads(result.read_text())
    content = expected.pop("content", None)
    data, body, _ = read_document(path.read_bytes())
    data.pop("content", None)  # python-frontmatter lets its own content key win
    if "yaml" in path.parts:
        assert agrees(data, expected)
        # and no implicit typing: every scalar is still text
        assert all(not isinstance(v, bool | int | float) for v in _leaves(data))
    else:
        assert data == expected
    assert body == (content or None)


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def test_yaml_fixture_keeps_yes_and_numbers_as_written():
    data, _, _ = read_document((FIXTURES / "yaml" / "unpretty.md").read_bytes())
    encoding = data["destination"]["encoding"]["xz"]
    assert encoding["enabled"] == "yes" and encoding["min_size"] == "5120"
    assert encoding["options"] is None
