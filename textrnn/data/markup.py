"""Inline slot markup, `fly to [Taipei](destination) on [November 2nd](arrival_date)`: the
grammar (shared with Rasa YAML), the one-utterance-per-line reader and the line writer.

The grammar is Rasa's (`entities_parser.py`): `[text](slot)`, `[text](slot:value)` and
`[text]{"entity": "slot", "value": ..., "role": ..., "group": ...}`, the attributes a JSON
object closed by the first `}`. A value is a synonym: the span's text stands for it (kept in
`Marked.values`, for the model's synonyms). Where Rasa silently keeps broken markup as text, we
refuse it with the column: a `[` never closed, a `]` closing nothing, a `[` inside a span
(markup does not nest), an empty span or slot name, an unclosed `(` or `{`, attributes that are
not JSON or lack "entity". `[text]` followed by neither `(` nor `{` stays text, as in Rasa.
`\\[`, `\\]` and `\\\\` stand for literal brackets and backslashes (Rasa has no escapes; the
writer uses them so that any text survives a round trip).

A markup line may start with an intent and a tab: `book_flight<TAB>fly to [Taipei](city)`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from textrnn.data.align import Span, Tally, span_example
from textrnn.data.examples import Example, LabelCheck, Lexicon, ReadOptions
from textrnn.errors import DataError

ESCAPABLE = "\\[]"
ATTRIBUTES = ("entity", "value", "role", "group")
UNUSED = {"role": "role(s)", "group": "group(s)", "metadata": "metadata entries"}


@dataclass
class Marked:
    """A parsed markup line: the plain text, its spans, their values (synonyms: (span text,
    value)) and the attributes not used."""

    text: str
    spans: list[Span]
    unused: Counter = field(default_factory=Counter)
    values: list[tuple[str, str]] = field(default_factory=list)


def parse_markup(line: str, place: Callable[[int], str] = lambda i: f"column {i + 1}"
                 ) -> Marked:
    """Plain text and spans of one markup line; `place(index)` names a character of `line`
    in error messages (the file, line and column)."""
    text: list[str] = []
    marked = Marked("", [])
    i, n = 0, len(line)
    while i < n:
        char = line[i]
        if char == "\\" and i + 1 < n and line[i + 1] in ESCAPABLE:
            text.append(line[i + 1])
            i += 2
        elif char == "]":
            raise DataError(f"{place(i)}: ']' closes no '[' (write \\] for a literal bracket)")
        elif char == "[":
            i = _bracket(line, i, text, marked, place)
        else:
            text.append(char)
            i += 1
    marked.text = "".join(text)
    return marked


def _bracket(line: str, opened: int, text: list[str], marked: Marked, place) -> int:
    """Read `[...]` and what follows it from `opened`; returns the index after it."""
    inner: list[str] = []
    i, n = opened + 1, len(line)
    while i < n and line[i] != "]":
        if line[i] == "\\" and i + 1 < n and line[i + 1] in ESCAPABLE:
            inner.append(line[i + 1])
            i += 2
            continue
        if line[i] == "[":
            raise DataError(f"{place(i)}: '[' inside the span opened at {place(opened)}: "
                            "markup does not nest (write \\[ for a literal bracket)")
        inner.append(line[i])
        i += 1
    if i == n:
        raise DataError(f"{place(opened)}: '[' is never closed by ']' (write \\[ for a "
                        "literal bracket)")
    after = i + 1
    if after == n or line[after] not in "({":  # `[text]` alone is text, as in Rasa
        text.extend(["[", *inner, "]"])
        return after
    if not inner:
        raise DataError(f"{place(opened)}: a span needs text between '[' and ']'")
    closer = ")" if line[after] == "(" else "}"
    close = line.find(closer, after)
    if close < 0:
        raise DataError(f"{place(after)}: '{line[after]}' after the span is never closed by "
                        f"'{closer}'")
    body = line[after + 1: close]
    label, value = (_parenthesised(body, place(after)) if closer == ")"
                    else _attributes(body, place(after), marked.unused))
    if value is not None:
        marked.values.append(("".join(inner), value))
    start = len(text)
    text.extend(inner)
    marked.spans.append(Span(start, len(text), label, place(opened)))
    return close + 1


def _parenthesised(body: str, where: str) -> tuple[str, str | None]:
    """(slot, value or None) of `slot` or `slot:value`."""
    name, colon, value = body.partition(":")
    if not name:
        raise DataError(f"{where}: empty slot name in '({body})'")
    if colon and not value:
        raise DataError(f"{where}: empty value after ':' in '({body})'")
    return name, value or None


def _attributes(body: str, where: str, unused: Counter) -> tuple[str, str | None]:
    """(slot, value or None) of a `{"entity": ...}` span; role and group are counted as
    unused."""
    try:
        attributes = json.loads("{" + body + "}")
    except json.JSONDecodeError as error:
        raise DataError(f"{where}: unknown entity syntax '{{{body}}}' ({error.msg}); expected "
                        '(slot), (slot:value) or {"entity": "slot", ...}') from None
    if not isinstance(attributes.get("entity"), str):
        raise DataError(f'{where}: \'{{{body}}}\' needs "entity": "slot name" (a string)')
    for key in ATTRIBUTES[1:]:
        if key in attributes:
            if not isinstance(attributes[key], str):
                raise DataError(f'{where}: "{key}" in \'{{{body}}}\' must be a string')
            if key != "value":
                unused[key] += 1
    return attributes["entity"], attributes.get("value")


def unused_warning(source: str, unused: Counter) -> list[str]:
    """One warning naming the Rasa attributes that a slot tagger has no use for."""
    if not +unused:  # unary plus drops zero counts
        return []
    counts = ", ".join(f"{unused[key]} {UNUSED[key]}" for key in UNUSED if unused[key])
    return [f"{source}: left out {counts} (textrnn keeps intents and slot names)"]


def markup_examples(lines: Iterable[str], source: str, options: ReadOptions,
                    warnings: list[str], lexicon: Lexicon | None = None) -> Iterator[Example]:
    """Examples from markup lines (`[intent<TAB>]utterance`); `lines` may stream. Span values
    go to `lexicon` as synonyms."""
    tally = Tally(source, options.span_align)
    check = LabelCheck(source, "line", "an intent column")
    unused: Counter = Counter()
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        intent, tab, body = line.partition("\t")
        if not tab:
            intent, body = None, line
        skip = len(line) - len(body)
        where = f"{source}, line {number}"
        marked = parse_markup(body, lambda i, where=where, skip=skip: f"{where}, column "
                              f"{i + skip + 1}")
        unused.update(marked.unused)
        if lexicon is not None:
            for text, value in marked.values:
                lexicon.add_synonym(text, value)
        labels = check.labels(intent, number, options.label_sep)
        if labels is False:
            continue
        example = span_example(marked.text, marked.spans, labels, number, where, tally)
        if example is None:
            check.skip(number)
            continue
        yield example
    warnings.extend(check.warnings() + tally.warnings() + unused_warning(source, unused))


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def markup_line(text: str, spans: list[Span]) -> str:
    """One line of markup for a text and its (non-overlapping) spans, `[text](slot)` or, with a
    value, `[text](slot:value)`; white space other than spaces becomes spaces, so the line
    stays one line and the offsets stay true."""
    text = "".join(" " if char.isspace() else char for char in text)
    parts, position = [], 0
    for span in sorted(spans, key=lambda span: span.start):
        named = span.label if span.value is None else f"{span.label}:{span.value}"
        attributes = {"entity": span.label, **({} if span.value is None else
                                                {"value": span.value})}
        label = (f"({named})" if not any(c in span.label for c in ":)")
                 and ")" not in (span.value or "") else json.dumps(attributes))
        parts += [escape(text[position: span.start]), "[",
                  escape(text[span.start: span.end]), "]", label]
        position = span.end
    parts.append(escape(text[position:]))
    return "".join(parts)
