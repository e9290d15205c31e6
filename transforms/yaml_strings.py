"""A string-exact YAML reader with resource limits.

PyYAML's resolvers turn `yes`, `012` or `1.50` into other values, which the contract forbids.
Instead of patching its resolvers, the document is built straight from libyaml's event stream:
every scalar is the text YAML reads (escapes decoded, block scalars folded), except a plain
`~`, `null`, `Null`, `NULL` or empty value, which is None. Building from events also lets the
limits apply while parsing, before an alias bomb or a deep nest can cost memory or stack.
"""

from __future__ import annotations

import json

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from transforms.errors import Rejection

MAX_DEPTH = 64
MAX_NODES = 100_000
# Aliases can also repeat one long string: a few KB of YAML naming a 64 KB anchor 2,000
# times expands to 128 MB. Text repeated through aliases is counted against this limit.
MAX_ALIAS_CHARS = 1_000_000

_NULL_WORDS = frozenset(("", "~", "null", "Null", "NULL"))
_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str, first_line: int = 1) -> object:
    """Parse one YAML document into dicts, lists, strings and None.

    `first_line` is the file line of the text's first line, so that errors point into the file.
    Raises Rejection (`syntax_error` or `too_complex`).
    """
    builder = _Builder(first_line)
    try:
        for event in yaml.parse(text, Loader=_Loader):
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.problem, exc.context) if p) or "invalid YAML"
        line, column = _where(mark, first_line)
        if "maximum nesting depth" in problem:  # libyaml's own guard, met while scanning ahead
            raise Rejection(
                "too_complex", f"the YAML nests deeper than {MAX_DEPTH} levels", line, column
            ) from None
        raise Rejection(
            "syntax_error", f"the YAML front matter does not parse: {problem}", line, column
        ) from None
    except yaml.reader.ReaderError as exc:  # characters YAML does not allow
        line = first_line + text.count("\n", 0, exc.position)
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise Rejection(
            "syntax_error",
            f"the YAML front matter holds the character U+{_code(exc.character):04X}, "
            "which YAML does not allow; remove it or quote it as an escape",
            line,
            column,
        ) from None
    return builder.result


def _where(mark, first_line: int) -> tuple[int | None, int | None]:
    if mark is None:
        return None, None
    return first_line + mark.line, mark.column + 1


class _Frame:
    """An open mapping or sequence."""

    __slots__ = (
        "anchor",
        "explicit",
        "height",
        "items",
        "key",
        "key_event",
        "merges",
        "start_chars",
        "start_nodes",
    )

    def __init__(self, is_mapping: bool, anchor: str | None, start_nodes: int, start_chars: int):
        self.anchor = anchor
        self.start_nodes = start_nodes
        self.start_chars = start_chars
        self.height = 0  # deepest container nesting below this one
        self.items: dict | list = {} if is_mapping else []
        self.key: str | None = None  # pending mapping key
        self.key_event = None
        self.explicit: dict[str, int] = {}  # key -> line, to report duplicates
        self.merges: list[dict] = []


class _Builder:
    def __init__(self, first_line: int):
        self.first_line = first_line
        self.stack: list[_Frame] = []
        # name -> (value, nodes, height, characters)
        self.anchors: dict[str, tuple[object, int, int, int]] = {}
        self.nodes = 0
        self.chars = 0  # scalar text read so far, aliases expanded
        self.alias_chars = 0  # of which repeated through aliases
        self.documents = 0
        self.result: object = None

    def feed(self, event) -> None:
        kind = type(event)
        if kind is ScalarEvent:
            self._count(1, 0, event)
            self.chars += len(event.value)
            value = self._scalar(event)
            if event.anchor:
                self.anchors[event.anchor] = (value, 1, 0, len(event.value))
            self._add(value, event)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            self._count(1, 1, event)
            self.stack.append(
                _Frame(kind is MappingStartEvent, event.anchor, self.nodes - 1, self.chars)
            )
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            frame = self.stack.pop()
            value = self._finish(frame) if kind is MappingEndEvent else frame.items
            if self.stack:
                parent = self.stack[-1]
                parent.height = max(parent.height, frame.height + 1)
            if frame.anchor:
                self.anchors[frame.anchor] = (
                    value,
                    self.nodes - frame.start_nodes,
                    frame.height + 1,
                    self.chars - frame.start_chars,
                )
            self._add(value, event)
        elif kind is AliasEvent:
            self._alias(event)
        elif kind is DocumentStartEvent:
            self.documents += 1
            if self.documents > 1:
                raise self._error(
                    "syntax_error", "the front matter holds more than one YAML document", event
                )

    def _alias(self, event) -> None:
        name = event.anchor
        if name not in self.anchors:
            if any(frame.anchor == name for frame in self.stack):
                raise self._error(
                    "too_complex",
                    f"the alias *{name} refers to a node that contains it, "
                    "which never ends once expanded",
                    event,
                )
            raise self._error(
                "syntax_error", f"the alias *{name} has no anchor &{name} before it", event
            )
        value, nodes, height, chars = self.anchors[name]
        self._count(nodes, height, event)
        self.chars += chars
        self.alias_chars += chars
        if self.alias_chars > MAX_ALIAS_CHARS:
            raise self._error(
                "too_complex",
                f"the YAML's aliases repeat more than {MAX_ALIAS_CHARS:,} characters of text "
                "(a YAML bomb?)",
                event,
            )
        if self.stack:
            parent = self.stack[-1]
            parent.height = max(parent.height, height)
        self._add(value, event)

    def _count(self, nodes: int, height: int, event) -> None:
        self.nodes += nodes
        if self.nodes > MAX_NODES:
            raise self._error(
                "too_complex",
                f"the YAML expands to more than {MAX_NODES:,} values once its "
                "aliases are followed (a YAML bomb?)",
                event,
            )
        if len(self.stack) + height > MAX_DEPTH:
            raise self._error(
                "too_complex", f"the YAML nests deeper than {MAX_DEPTH} levels", event
            )

    @staticmethod
    def _scalar(event) -> str | None:
        if event.tag == _NULL_TAG or (event.implicit[0] and event.value in _NULL_WORDS):
            return None
        return event.value

    def _add(self, value: object, event) -> None:
        if not self.stack:
            self.result = value
            return
        frame = self.stack[-1]
        if isinstance(frame.items, list):
            frame.items.append(value)
        elif frame.key_event is None:
            frame.key = _key_text(value, event)
            frame.key_event = event
        else:
            self._set(frame, value)

    def _set(self, frame: _Frame, value: object) -> None:
        key, key_event = frame.key, frame.key_event
        frame.key = frame.key_event = None
        if (
            type(key_event) is ScalarEvent
            and key == "<<"
            and (key_event.implicit[0] or key_event.tag == _MERGE_TAG)
        ):
            frame.merges.extend(self._merge_sources(value, key_event))
            return
        line = self.first_line + key_event.start_mark.line
        if key in frame.explicit:
            raise self._error(
                "syntax_error",
                f"the key {key!r} appears twice in one mapping "
                f"(first on line {frame.explicit[key]})",
                key_event,
            )
        frame.explicit[key] = line
        frame.items[key] = value

    def _merge_sources(self, value: object, event) -> list[dict]:
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(source, dict) for source in sources):
            raise self._error(
                "syntax_error", "a merge key '<<' needs a mapping or a list of mappings", event
            )
        return sources

    @staticmethod
    def _finish(frame: _Frame) -> dict:
        if not frame.merges:
            return frame.items
        merged: dict = {}
        for source in frame.merges:  # earlier sources win, explicit keys win over all
            for key, value in source.items():
                merged.setdefault(key, value)
        for key in frame.items:
            merged.pop(key, None)
        merged.update(frame.items)
        return merged

    def _error(self, reason: str, message: str, event) -> Rejection:
        line, column = _where(event.start_mark, self.first_line)
        return Rejection(reason, message, line, column)


def _key_text(value: object, event) -> str:
    """Mapping keys are text: a scalar key as written, a complex key as compact JSON."""
    if type(event) is ScalarEvent:
        return event.value
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _code(character: int | str) -> int:
    return ord(character) if isinstance(character, str) else character
