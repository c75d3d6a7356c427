"""Rasa NLU training data (YAML, format 2.0 and 3.x): the reader, streamed entry by entry, and
the writer.

Read: `nlu:` entries `- intent: NAME` with `examples: |` (one `- utterance` per line) or
`examples:` as a list of `- text: ...` with optional `metadata:`; the utterances are markup
(`markup.py`). `lookup:` tables and `synonym:` entries (their examples are plain values, not
markup) and the values of `[text](slot:value)` spans go to the corpus' `Lexicon`; `regex:`
entries are skipped with one warning that counts them; other top-level keys (`responses:`,
`stories:`, ...) are ignored, as Rasa's NLU reader does. Refused as Rasa's schema refuses them:
an entry that is not a mapping or has an unknown key, an empty intent name, examples that are
neither a block nor a list of `text:` entries, an unquoted numeric `version`. Example lines of
a block that do not start with `-` are skipped with a warning, as in Rasa.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import yaml

from textrnn.data.align import Tally, span_example
from textrnn.data.examples import Example, Lexicon, ReadOptions, skipped_warning
from textrnn.data.markup import parse_markup, unused_warning
from textrnn.errors import DataError

FORMAT_VERSION = "3.1"
ENTRY_KEYS = {"intent": ("intent", "examples", "metadata"), "synonym": ("synonym", "examples"),
              "regex": ("regex", "examples"), "lookup": ("lookup", "examples")}
_STRIP = "\n\r "  # what Rasa strips from an example
_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN_NAME = re.compile(r"[A-Za-z_][\w.+\-/]*")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


@dataclass
class Scalar:
    value: str
    line: int  # 0-based, as YAML marks count
    column: int
    style: str | None
    end_line: int


class _Map(dict):
    line = 0


class _Lines:
    """The text stream handed to the YAML parser, keeping the lines it has read (until
    forgotten) so that a position inside a block scalar can be named by line and column."""

    def __init__(self, handle):
        self.handle, self.kept, self.count, self.low = handle, {}, 0, 0

    def read(self, size: int = -1) -> str:
        chunk, length = [], 0
        while length < max(size, 1):
            line = self.handle.readline()
            if not line:
                break
            self.kept[self.count] = line
            self.count += 1
            chunk.append(line)
            length += len(line)
        return "".join(chunk)

    def get(self, index: int) -> str:
        return self.kept.get(index, "")

    def forget(self, before: int) -> None:
        while self.low < before:
            self.kept.pop(self.low, None)
            self.low += 1


def rasa_examples(handle, source: str, options: ReadOptions, warnings: list[str],
                  lexicon: Lexicon | None = None) -> Iterator[Example]:
    """Examples from a Rasa NLU YAML file (an open text stream), one `nlu:` entry at a time;
    lookup tables and synonyms go to `lexicon` (when given) as they are read."""
    yield from _Reader(handle, source, options, warnings, lexicon).examples()


class _Reader:
    def __init__(self, handle, source: str, options: ReadOptions, warnings: list[str],
                 lexicon: Lexicon | None = None):
        self.lines = _Lines(handle)
        self.source, self.warnings = source, warnings
        self.lexicon = lexicon if lexicon is not None else Lexicon()
        self.events = _events(self.lines, source)
        self.anchors: dict = {}
        self.tally = Tally(source, options.span_align)
        self.unused: Counter = Counter()
        self.skipped: Counter = Counter()
        self.not_dashed: list[int] = []
        self.empty: list[int] = []
        self.no_examples: list[str] = []

    def examples(self) -> Iterator[Example]:
        seen_nlu = False
        for event in self.events:
            if not isinstance(event, yaml.MappingStartEvent):
                if isinstance(event, (yaml.ScalarEvent, yaml.SequenceStartEvent)):
                    raise DataError(f"{self.source}, line {event.start_mark.line + 1}: expected "
                                    "a mapping with an 'nlu:' key (Rasa NLU training data)")
                continue
            for key in self._keys():
                if key.value == "nlu":
                    seen_nlu = True
                    yield from self._nlu()
                elif key.value == "version":
                    self._version(self._node(next(self.events)))
                else:
                    self._node(next(self.events))
                self.lines.forget(key.line)
        if not seen_nlu:
            raise DataError(f"{self.source}: no 'nlu:' key (a Rasa NLU file lists "
                            "'- intent: NAME' entries under 'nlu:')")
        self.warnings.extend(self._warnings())

    def _keys(self) -> Iterator[Scalar]:
        """The keys of the mapping just started, each before its value is read."""
        for event in self.events:
            if isinstance(event, yaml.MappingEndEvent):
                return
            key = self._node(event)
            if not isinstance(key, Scalar):
                raise DataError(f"{self._at(event)}: a mapping key must be text")
            yield key

    def _nlu(self) -> Iterator[Example]:
        event = next(self.events)
        if not isinstance(event, yaml.SequenceStartEvent):
            value = self._node(event)
            if isinstance(value, Scalar) and value.value in ("", "~", "null"):
                return
            raise DataError(f"{self._at(event)}: 'nlu:' must be a list of entries "
                            "('- intent: NAME')")
        for event in self.events:
            if isinstance(event, yaml.SequenceEndEvent):
                return
            entry = self._node(event)
            yield from self._entry(entry, event.start_mark.line)
            self.lines.forget(event.start_mark.line)

    def _entry(self, entry, line: int) -> Iterator[Example]:
        where = f"{self.source}, line {line + 1}"
        if not isinstance(entry, _Map):
            raise DataError(f"{where}: an 'nlu:' entry must be a mapping ('- intent: NAME' "
                            "with 'examples:')")
        kind = next((key for key in ENTRY_KEYS if key in entry), None)
        if kind is None:
            raise DataError(f"{where}: an 'nlu:' entry needs one of the keys "
                            f"{', '.join(ENTRY_KEYS)} (found {', '.join(entry)})")
        unknown = [key for key in entry if key not in ENTRY_KEYS[kind]]
        if unknown:
            raise DataError(f"{where}: unknown key '{unknown[0]}' in the {kind} entry (expected "
                            f"{', '.join(ENTRY_KEYS[kind])})")
        if kind in ("lookup", "synonym"):
            self._lexicon_entry(kind, entry, where)
            return
        if kind != "intent":
            self.skipped[kind] += 1
            return
        intent = entry["intent"]
        if not isinstance(intent, Scalar) or not intent.value.strip():
            raise DataError(f"{where}: the intent needs a name ('- intent: NAME')")
        self.unused["metadata"] += "metadata" in entry
        name = intent.value.strip()
        if entry.get("examples") is None:
            self.no_examples.append(name)
        for scalar, start, end, row in self._utterances(entry.get("examples"), where):
            text = scalar.value[start:end]
            marked = parse_markup(text, lambda i, s=scalar, o=start: self._place(s, o + i))
            self.unused.update(marked.unused)
            for span_text, value in marked.values:
                self.lexicon.add_synonym(span_text, value)
            example = span_example(marked.text, marked.spans, [name], row,
                                   f"{self.source}, line {row}", self.tally)
            if example is None:
                self.empty.append(row)
                continue
            yield example

    def _lexicon_entry(self, kind: str, entry: _Map, where: str) -> None:
        """A `lookup:` table (its name, its values) or a `synonym:` entry (the value, the
        texts that stand for it)."""
        name = entry[kind]
        if not isinstance(name, Scalar) or not name.value.strip():
            raise DataError(f"{where}: the {kind} needs a name ('- {kind}: NAME')")
        values = [scalar.value[start:end] for scalar, start, end, _ in
                  self._utterances(entry.get("examples"), where)]
        if kind == "lookup":
            self.lexicon.add_lookup(name.value.strip(), values)
        else:
            for text in values:
                self.lexicon.add_synonym(text, name.value.strip())

    def _utterances(self, examples, where: str) -> Iterator[tuple[Scalar, int, int, int]]:
        """(scalar, where the utterance starts and ends in it, its file line) per example."""
        if examples is None:
            return
        if isinstance(examples, Scalar):
            yield from self._block(examples)
            return
        if not isinstance(examples, list):
            raise DataError(f"{where}: 'examples:' must be a block of '- utterance' lines or a "
                            "list of '- text: ...' entries")
        for item in examples:
            if not isinstance(item, _Map) or not isinstance(item.get("text"), Scalar):
                raise DataError(f"{self.source}, line {getattr(item, 'line', 0) + 1}: each "
                                "entry of an 'examples:' list needs 'text:' (and optionally "
                                "'metadata:')")
            unknown = [key for key in item if key not in ("text", "metadata")]
            if unknown:
                raise DataError(f"{self.source}, line {item.line + 1}: unknown key "
                                f"'{unknown[0]}' in an example (expected text, metadata)")
            self.unused["metadata"] += "metadata" in item
            scalar = item["text"]
            body = scalar.value.rstrip(_STRIP)
            start = len(body) - len(body.lstrip(_STRIP))
            yield scalar, start, len(body), self._line(scalar, start)

    def _block(self, scalar: Scalar) -> Iterator[tuple[Scalar, int, int, int]]:
        position = 0
        for content in scalar.value.splitlines(keepends=True):
            line_start, position = position, position + len(content)
            stripped = content.rstrip("\r\n")
            if not stripped.strip():
                continue
            if not stripped.startswith("-"):
                self.not_dashed.append(self._line(scalar, line_start))
                continue
            body = stripped[1:].rstrip(_STRIP)
            start = line_start + 1 + len(body) - len(body.lstrip(_STRIP))
            yield scalar, start, line_start + 1 + len(body), self._line(scalar, start)

    def _line(self, scalar: Scalar, index: int) -> int:
        """The 1-based file line of a character of a scalar's value."""
        if scalar.style == "|":
            return scalar.line + 2 + scalar.value.count("\n", 0, index)
        return scalar.line + 1

    def _place(self, scalar: Scalar, index: int) -> str:
        """File, line and (where it is known) column of a character of a scalar's value."""
        line, column = self._line(scalar, index), None
        if scalar.style == "|":
            begin = scalar.value.rfind("\n", 0, index) + 1
            end = scalar.value.find("\n", begin)
            content = scalar.value[begin: end if end >= 0 else len(scalar.value)]
            written = self.lines.get(line - 1).rstrip("\r\n")
            if written.endswith(content):
                column = len(written) - len(content) + index - begin
        elif scalar.line == scalar.end_line and _verbatim(scalar):
            column = scalar.column + (0 if scalar.style in ("", None) else 1) + index
        where = f"{self.source}, line {line}"
        return where if column is None else f"{where}, column {column + 1}"

    def _version(self, value) -> None:
        if not isinstance(value, Scalar) or (value.style in ("", None) and
                                             re.fullmatch(r"[\d.]+", value.value)):
            raise DataError(f"{self.source}, line {getattr(value, 'line', 0) + 1}: 'version' "
                            f'must be a quoted string, e.g. version: "{FORMAT_VERSION}"')

    def _node(self, event):
        """The value that starts with `event`: Scalar, list or _Map (keys as text)."""
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise DataError(f"{self._at(event)}: unknown alias '*{event.anchor}'")
            return self.anchors[event.anchor]
        if isinstance(event, yaml.ScalarEvent):
            node = Scalar(event.value, event.start_mark.line, event.start_mark.column,
                          event.style, event.end_mark.line)
        elif isinstance(event, yaml.SequenceStartEvent):
            node = []
            for item in self.events:
                if isinstance(item, yaml.SequenceEndEvent):
                    break
                node.append(self._node(item))
        elif isinstance(event, yaml.MappingStartEvent):
            node = _Map()
            node.line = event.start_mark.line
            for key in self._keys():
                node[key.value] = self._node(next(self.events))
        else:  # pragma: no cover - the parser yields nothing else inside a document
            raise DataError(f"{self._at(event)}: unexpected YAML ({type(event).__name__})")
        if getattr(event, "anchor", None):
            self.anchors[event.anchor] = node
        return node

    def _at(self, event) -> str:
        return f"{self.source}, line {event.start_mark.line + 1}"

    def _warnings(self) -> list[str]:
        found = []
        if self.skipped:
            counts = ", ".join(f"{count} {kind}" for kind, count in self.skipped.items())
            found.append(f"{self.source}: skipped {counts} entr(ies) (textrnn keeps the "
                         "intent examples, lookup tables and synonyms)")
        if self.not_dashed:
            found.append(f"{self.source}: skipped {len(self.not_dashed)} example line(s) not "
                         f"starting with '-', as Rasa does (first: line {self.not_dashed[0]})")
        if self.no_examples:
            found.append(f"{self.source}: {len(self.no_examples)} intent(s) without examples: "
                         f"{', '.join(self.no_examples)}")
        if self.empty:
            found.append(skipped_warning(self.source, "line", len(self.empty), self.empty[0]))
        return found + self.tally.warnings() + unused_warning(self.source, self.unused)


def _verbatim(scalar: Scalar) -> bool:
    """Whether a one-line scalar's value is its source text (so columns can be counted)."""
    if scalar.style in ("", None):
        return True
    if scalar.style == "'":
        return "'" not in scalar.value
    return scalar.style == '"' and scalar.value.isprintable() and not any(
        char in scalar.value for char in '"\\')


def _events(stream, source: str):
    try:
        yield from yaml.parse(stream, Loader=_Parser)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark else source
        raise DataError(f"{where}: not valid YAML ({problem})") from None


def rasa_yaml(groups: list[tuple[str, list[tuple[str, dict | None]]]]) -> str:
    """A Rasa NLU file: per intent, its examples (markup lines) with optional metadata.

    Examples without metadata go in an `examples: |` block; with metadata (or text a block
    cannot hold verbatim), in the `- text: ... metadata:` form."""
    out = [f'version: "{FORMAT_VERSION}"', "nlu:"]
    for intent, items in groups:
        out.append(f"- intent: {_name(intent)}")
        if all(meta is None and _blockable(text) for text, meta in items):
            out.append("  examples: |")
            out += [f"    - {text}" for text, _ in items]
            continue
        out.append("  examples:")
        for text, meta in items:
            out += ["  - text: |", f"      {text}"] if _blockable(text) else [
                f"  - text: {_quoted(text)}"]
            if meta:
                out.append("    metadata:")
                out += [f"      {key}: {json.dumps(value)}" for key, value in meta.items()]
    return "\n".join(out) + "\n"


def _blockable(text: str) -> bool:
    return bool(text) and text == text.strip() and text.isprintable()


def _name(name: str) -> str:
    plain = _PLAIN_NAME.fullmatch(name) and name.lower() not in _YAML_WORDS
    return name if plain else _quoted(name)


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar: backslash and quote escaped, non-printables as \\U."""
    return '"' + "".join(
        f"\\{char}" if char in '"\\' else char if char.isprintable() else f"\\U{ord(char):08x}"
        for char in text) + '"'
