"""From file bytes to the front matter mapping: decode, split, parse by format."""

from __future__ import annotations

import json
import re
import tomllib

from transforms.errors import Rejection
from transforms.frontmatter import FrontMatter, decode, split_front_matter
from transforms.yaml_fast import load_yaml_fast
from transforms.yaml_strings import load_yaml

_TOML_WHERE = re.compile(
    r"^(?P<msg>.*) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|"
    r"(?P<end>end of document))\)$",
    re.S,
)


def read_document(raw: bytes, fast: bool = True) -> tuple[dict, str | None, str]:
    """The front matter mapping, the body and the format of one file, or a Rejection.

    Runs the contract's checks from `encoding` to `not_a_mapping`, in order.
    """
    front = split_front_matter(decode(raw))
    data = load_front_matter(front, fast)
    if data is None and not _has_content(front.text):  # an empty block
        data = {}
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "a single value"
        raise Rejection(
            "not_a_mapping",
            f"the front matter is {kind}, not a mapping of keys to values",
            front.first_line,
        )
    return data, front.body, front.format


def _has_content(text: str) -> bool:
    """Anything but blank lines and comments (a YAML `~` alone is a value, not emptiness)."""
    return any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines())


def load_front_matter(front: FrontMatter, fast: bool = True) -> object:
    """The front matter's data. YAML goes through the fast reader when it can be exact
    (`transforms.yaml_fast`), else through the exact reader; `fast=False` forces the latter."""
    if front.format == "yaml":
        if fast:
            data = load_yaml_fast(front.text)
            if data is not None:
                return data
        return load_yaml(front.text, front.first_line)
    if front.format == "toml":
        return _load_toml(front)
    return _load_json(front)


def _load_toml(front: FrontMatter) -> object:
    try:
        return tomllib.loads(front.text)
    except RecursionError:
        raise Rejection(
            "too_complex", "the TOML front matter nests too deeply to read", front.first_line
        ) from None
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_WHERE.match(str(exc))
        message, line, column = str(exc), None, None
        if match:
            message = match["msg"]
            if match["line"]:
                line, column = front.first_line + int(match["line"]) - 1, int(match["col"])
            else:
                line = front.first_line + front.text.count("\n")
        raise Rejection(
            "syntax_error", f"the TOML front matter does not parse: {message}", line, column
        ) from None


def _load_json(front: FrontMatter) -> object:
    try:
        data = json.loads(front.text, object_pairs_hook=_unique_keys, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise Rejection(
            "syntax_error",
            f"the JSON front matter does not parse: {exc.msg}",
            front.first_line + exc.lineno - 1,
            exc.colno,
        ) from None
    except _NotJson as exc:
        raise Rejection(
            "syntax_error", f"the JSON front matter does not parse: {exc}", front.first_line
        ) from None
    except RecursionError:
        raise Rejection(
            "too_complex", "the JSON front matter nests too deeply to read", front.first_line
        ) from None
    # "\ud800" alone decodes to a lone surrogate: not a character, and it cannot be stored.
    if "\\u" in front.text and not _encodes(data):
        raise Rejection(
            "syntax_error",
            "the JSON front matter escapes half of a surrogate pair (\\uD800-\\uDFFF) "
            "without the other half, which is not a character",
            front.first_line,
        )
    return data


class _NotJson(Exception):
    pass


def _constant(name: str) -> object:
    """Python's json accepts NaN and Infinity; JSON (and DuckDB's JSON type) does not."""
    raise _NotJson(f"{name} is not a JSON value")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _NotJson(f"the key {key!r} appears twice in one object")
            seen.add(key)
    return result


def _encodes(value: object) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_encodes(k) and _encodes(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_encodes(v) for v in value)
    return True
