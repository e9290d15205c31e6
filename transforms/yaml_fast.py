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
_UNSAFE_CHARS = "\t\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff"
_UNSAFE_CHAR = re.compile(f"[{_UNSAFE_CHARS}]")
# anchor, alias, tag, directive, block scalar, complex key, flow collection
_INDICATORS = r"&*!%|>?\[{"
_INDICATOR = re.compile(f"[{_INDICATORS}]")
_BEFORE_INDICATOR = frozenset(" \n[]{},")
# yaml-rs joins an escaped surrogate pair into one character; libyaml refuses it.
_SURROGATE_ESCAPE = re.compile(r"\\(?:u|U0000)[dD][89a-fA-F]")
# Any character of the two classes above, or of `<<` and escapes: most documents have none,
# and one scan for all of them then replaces the checks one by one.
_ANY_SUSPECT = re.compile(f"[{_UNSAFE_CHARS}{_INDICATORS}<\\\\]")
# The same scan, faster (see _has_suspect): the ASCII bytes that are not suspect, and the
# suspect characters beyond ASCII.
_PLAIN_ASCII = bytes(b for b in range(128) if not _ANY_SUSPECT.match(chr(b)))
_NON_ASCII = bytes(range(128, 256))
_SUSPECT_BEYOND_ASCII = re.compile(f"[{_UNSAFE_CHARS}]")
_BLOCK_SCALAR = re.compile(r"[|>][-+0-9]*[ \t]*(?:#[^\n]*)?$", re.MULTILINE)
# A plain value YAML 1.2 may type, after `: ` at the end of a line. Quoting it is exact as a
# mapping value and harmless in a comment; anywhere else (inside a multi-line string, or a
# quoted key such as `"a: 1 #": x`) that string then holds `: '<value>'`, which _check looks
# for in values and keys, or the text no longer parses.
_TYPED = (
    r"[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?0[xXoObB][0-9a-fA-F_]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    r"|[Tt]rue|TRUE|[Ff]alse|FALSE"
)
_TYPED_VALUE = re.compile(
    # starts with a literal, so it scans fast; the lookahead, every first character of
    # _TYPED, passes over most values at once (quoted text, URLs, words)
    r": (?=[-+.0-9tTfF])(" + _TYPED + r")([ \t]*(?:[ \t]#[^\n]*)?)$",
    re.MULTILINE,
)
_QUOTED_MARK = re.compile(r": '(?:" + _TYPED + r")'")


def _quote(match: re.Match) -> str:
    # a typed value never holds a quote; a plain function is the cheapest callback
    return ": '" + match[1] + "'" + match[2]


def load_yaml_fast(text: str) -> object | None:
    """The document exactly as `load_yaml` reads it, or None to ask for `load_yaml`."""
    if text.startswith(("---", "...")) or "\n---" in text or "\n..." in text:
        return None
    if _has_suspect(text) and not _is_plain(text):
        return None
    quoted, count = _TYPED_VALUE.subn(_quote, text)
    try:
        data = yaml_rs.loads(quoted, parse_datetime=False)
        _check(data, count > 0)
    except (_Unsure, yaml_rs.YAMLDecodeError, ValueError, TypeError, RecursionError):
        return None
    return data


def _has_suspect(text: str) -> bool:
    """`_ANY_SUSPECT.search(text)`, in a sixth of the time: the regex tests every character
    against a large class, where bytes.translate deletes the plain ASCII bytes in one pass.
    What is left is the suspect ASCII bytes and every non-ASCII character's whole UTF-8
    sequence, in order, so it decodes to the text's non-ASCII characters."""
    try:
        left = text.encode("utf-8").translate(None, _PLAIN_ASCII)
    except UnicodeEncodeError:  # a lone surrogate
        return True
    if not left:
        return False
    if not left.isascii() and not left.translate(None, _NON_ASCII):  # nothing ASCII left
        return _SUSPECT_BEYOND_ASCII.search(left.decode("utf-8")) is not None
    return True


def _is_plain(text: str) -> bool:
    """Whether the text has none of the characters and constructs that need the exact
    reader (see the module's docstring), though it has some of the characters they use."""
    if (
        _UNSAFE_CHAR.search(text)
        or "<<" in text
        or ("\\" in text and _SURROGATE_ESCAPE.search(text))
    ):
        return False
    for match in _INDICATOR.finditer(text):
        # these characters are common inside text; they matter only where a token starts
        at = match.start()
        if at and text[at - 1] not in _BEFORE_INDICATOR:
            continue
        char = match[0]
        if char in "&*!%[{":  # flow collections: libyaml refuses some that yaml-rs reads
            return False
        if char == "?" and text[at + 1 : at + 2] in (" ", "\n", ""):
            return False
        if char in "|>" and _BLOCK_SCALAR.match(text, at):
            return False
    return True


class _Unsure(Exception):
    pass


def _check(root: object, quoted: bool) -> None:
    """Raise _Unsure unless `root` holds only what the exact reader can produce: strings,
    None, lists and dicts with string keys, within its depth and node limits, and (when
    values were `quoted`) no string holding a quoted value.

    A loop over a stack rather than recursion: this runs once per file."""
    nodes = 0
    stack: list[tuple[object, int]] = [([root], 0)]  # the root, as the item of a list
    while stack:
        container, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _Unsure
        if type(container) is dict:
            for key in container:
                if type(key) is not str:
                    raise _Unsure
                if quoted and "'" in key and _QUOTED_MARK.search(key):
                    raise _Unsure  # a quoted key holding `: 1 #` was quoted inside
            nodes += len(container)
            values = container.values()
        elif type(container) is list:
            values = container
        else:
            raise _Unsure  # a typed value was left: the exact reader keeps its text
        nodes += len(values)
        for value in values:
            kind = type(value)
            if kind is str:
                if quoted and "'" in value and _QUOTED_MARK.search(value):
                    raise _Unsure  # a quoted line was inside a multi-line string
            elif kind is dict or kind is list:
                stack.append((value, depth + 1))
            elif value is not None:
                raise _Unsure  # a typed value was left: the exact reader keeps its text
    if nodes > MAX_NODES:
        raise _Unsure
