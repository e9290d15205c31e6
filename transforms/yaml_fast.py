"""A fast path for the string-exact YAML reader, with a fallback wherever it cannot be exact.

yaml-rs (Rust) parses a front matter block several times faster than libyaml's event stream
in Python, but it types values the YAML 1.2 way (`012` -> 12, `1.50` -> 1.5, `true` -> True),
which loses the text the contract keeps. So, before parsing, plain values that could be typed
are single-quoted in the text (`quality: 36` -> `quality: '36'`), which keeps their exact
text and makes them strings. The result is trusted only when it can only be what the exact
reader gives:

- the text has none of the constructs where the two readers may differ or where quoting by
  line could be wrong: tabs, control and YAML 1.1 line-break characters, anchors, aliases,
  tags, merge keys, directives, document markers, block scalars, deep nesting;
- every value and key that came back is a string, None, a list or a dict (nothing typed
  was left unquoted, e.g. inside `[1, 2]`), within the exact reader's depth and node limits;
- no string contains a line that was quoted (that line was inside a multi-line scalar).

Anything else returns None, and the caller uses the exact reader, which also gives the
rejections (syntax errors with their lines, too_complex). A test runs both readers over the
sample corpus, python-frontmatter's fixtures, the YAML test suite and generated documents
and requires identical results.
"""

from __future__ import annotations

import re

import yaml_rs

from transforms.yaml_strings import MAX_DEPTH, MAX_NODES

# Characters and constructs that send a document to the exact reader. Each regex starts with
# a literal or a character class, so that it scans a clean document quickly.
_UNSAFE_CHAR = re.compile(
    "[\t\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]"
)
# anchor, alias, tag, directive, block scalar, complex key, flow collection
_INDICATOR = re.compile(r"[&*!%|>?\[{]")
_BEFORE_INDICATOR = frozenset(" \n[]{},")
# yaml-rs joins an escaped surrogate pair into one character; libyaml refuses it.
_SURROGATE_ESCAPE = re.compile(r"\\(?:u|U0000)[dD][89a-fA-F]")
_BLOCK_SCALAR = re.compile(r"[|>][-+0-9]*[ \t]*(?:#[^\n]*)?$", re.MULTILINE)
# A plain value YAML 1.2 may type, after `key: ` at the end of a line.
_TYPED_VALUE = re.compile(
    r": (?P<value>[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?0[xXoObB][0-9a-fA-F_]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    r"|[Tt]rue|TRUE|[Ff]alse|FALSE)"
    r"(?P<tail>[ \t]*(?:[ \t]#[^\n]*)?)$",
    re.MULTILINE,
)
_SIMPLE_KEY = re.compile(r"[ ]*(?:-[ ]+)*[A-Za-z_][A-Za-z0-9_.-]*")


def load_yaml_fast(text: str) -> object | None:
    """The document exactly as `load_yaml` reads it, or None to ask for `load_yaml`."""
    if (
        _UNSAFE_CHAR.search(text)
        or text.startswith(("---", "..."))
        or "\n---" in text
        or "\n..." in text
        or "<<" in text
        or ("\\" in text and _SURROGATE_ESCAPE.search(text))
    ):
        return None
    for match in _INDICATOR.finditer(text):
        # these characters are common inside text; they matter only where a token starts
        at = match.start()
        if at and text[at - 1] not in _BEFORE_INDICATOR:
            continue
        char = match[0]
        if char in "&*!%[{":  # flow collections: libyaml refuses some that yaml-rs reads
            return None
        if char == "?" and text[at + 1 : at + 2] in (" ", "\n", ""):
            return None
        if char in "|>" and _BLOCK_SCALAR.match(text, at):
            return None
    quoted: list[str] = []

    def quote(match: re.Match) -> str:
        value = match["value"]
        line_start = text.rfind("\n", 0, match.start()) + 1
        if not _SIMPLE_KEY.fullmatch(text, line_start, match.start()):
            return match[0]  # not a `key: value` line we can read alone; left typed
        if value.startswith("-") and (len(value) == 1 or value[1] == " "):
            return match[0]  # a nested sequence, not a value
        if ": " in value or value.endswith(":"):
            raise _Unsure  # not a plain value: let the exact reader judge it
        quoted.append(value)
        return ": '" + value.replace("'", "''") + "'" + match["tail"]

    try:
        data = yaml_rs.loads(_TYPED_VALUE.sub(quote, text), parse_datetime=False)
        _check(data, quoted)
    except (_Unsure, yaml_rs.YAMLDecodeError, ValueError, TypeError, RecursionError):
        return None
    return data


class _Unsure(Exception):
    pass


def _check(root: object, quoted: list[str]) -> None:
    """Raise _Unsure unless `root` holds only what the exact reader can produce."""
    markers = tuple(f"'{value}'" for value in quoted)
    if _count(root, 1, markers) > MAX_NODES:
        raise _Unsure


def _count(value: object, depth: int, markers: tuple[str, ...]) -> int:
    kind = type(value)
    if kind is str:
        if markers and "'" in value and any(marker in value for marker in markers):
            raise _Unsure  # a quoted line was inside a multi-line string
        return 1
    if value is None:
        return 1
    if depth > MAX_DEPTH:
        raise _Unsure
    if kind is dict:
        nodes = 1
        for key, item in value.items():
            if type(key) is not str:
                raise _Unsure
            nodes += 1 + _count(item, depth + 1, markers)
        return nodes
    if kind is list:
        return 1 + sum(_count(item, depth + 1, markers) for item in value)
    raise _Unsure  # a typed value was left: the exact reader keeps its text
