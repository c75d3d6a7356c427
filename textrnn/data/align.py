"""Between character spans and BIO tags, through our tokenizer: the one place where a span
written over raw text (markup, Rasa YAML, span JSON lines, predictions) becomes one tag per
token, and back.

A span's edges are stripped of white space, then snapped to the tokens it touches
(`expand`, the default: counted in a warning), refused when it cuts through a token (`strict`),
or shrunk to the tokens wholly inside it (`contract`). Overlapping spans are an error; a span
covering no token is dropped with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textrnn.data.examples import Example
from textrnn.errors import DataError
from textrnn.metrics import bio_spans
from textrnn.text import Tokenizer

ALIGN_MODES = ("expand", "strict", "contract")
_TOKENIZER = Tokenizer(lowercase=False)  # offsets do not depend on case


@dataclass
class Span:
    start: int
    end: int  # exclusive
    label: str
    place: str = ""  # where it was written, for messages: "data.txt, line 3, column 8"
    value: str | None = None  # the canonical value its text stands for (a synonym)


@dataclass
class Tally:
    """Spans that were changed or dropped in one file, for one warning each at the end."""

    source: str
    mode: str = "expand"
    changed: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def warnings(self) -> list[str]:
        found = []
        if self.changed:
            verb = ("widened to the whole tokens they touch" if self.mode == "expand"
                    else "shrunk to the whole tokens inside them")
            found.append(f"{self.source}: {len(self.changed)} span(s) cut through a token and "
                         f"were {verb} (--span-align {self.mode}; first: {self.changed[0]})")
        if self.dropped:
            found.append(f"{self.source}: dropped {len(self.dropped)} span(s) covering no "
                         f"token (first: {self.dropped[0]})")
        return found


def check_mode(mode: str) -> None:
    if mode not in ALIGN_MODES:
        raise DataError(f"unknown --span-align '{mode}' (choose from {', '.join(ALIGN_MODES)})")


def span_example(text: str, spans: list[Span], labels: list[str] | None, row: int,
                 where: str, tally: Tally) -> Example | None:
    """An Example whose words are our tokens of `text` and whose tags come from the spans;
    None when the text has no token (an example to skip)."""
    _, offsets = _TOKENIZER.tokenize(text)
    if not offsets:
        return None
    tags = ["O"] * len(offsets)
    placed: list[tuple[int, int, Span]] = []
    for span in sorted(spans, key=lambda span: (span.start, span.end)):
        place = span.place or where
        _check_label(span, place)
        start, end = _stripped(text, span)
        shown = f"'{text[span.start:span.end]}' ({span.label})"
        if start == end:
            tally.dropped.append(f"{place}, {shown}")
            continue
        if placed and start < placed[-1][2].end:
            raise DataError(f"{place}: span {shown} overlaps {_shown(text, placed[-1][2])}")
        first, last = _snap(text, offsets, start, end, f"{place}: span {shown}", tally)
        if first is None:
            tally.dropped.append(f"{place}, {shown}")
            continue
        if placed and first < placed[-1][1]:
            token = text[slice(*offsets[first])]
            raise DataError(f"{place}: span {shown} and {_shown(text, placed[-1][2])} share "
                            f"the token '{token}'")
        tags[first:last] = [f"B-{span.label}"] + [f"I-{span.label}"] * (last - first - 1)
        placed.append((first, last, Span(start, end, span.label)))
    words = [text[start:end] for start, end in offsets]
    return Example(text=" ".join(words), labels=labels, words=words, tags=tags, row=row, raw=text)


def _shown(text: str, span: Span) -> str:
    return f"span '{text[span.start:span.end]}' ({span.label})"


def _check_label(span: Span, place: str) -> None:
    if not span.label or any(char.isspace() for char in span.label):
        raise DataError(f"{place}: slot name '{span.label}' must be one word "
                        "(no spaces), as BIO tags are")


def _stripped(text: str, span: Span) -> tuple[int, int]:
    start, end = span.start, span.end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _snap(text, offsets, start: int, end: int, shown: str, tally: Tally):
    """The token range [first, last) a span covers under the tally's mode; (None, None) when
    it covers no token."""
    touched = [i for i, (s, e) in enumerate(offsets) if s < end and e > start]
    inside = [i for i in touched if offsets[i][0] >= start and offsets[i][1] <= end]
    chosen = touched if tally.mode == "expand" else inside
    if not chosen:
        return None, None
    if touched != inside:
        cut = ", ".join(f"'{text[slice(*offsets[i])]}'" for i in touched if i not in inside)
        if tally.mode == "strict":
            raise DataError(f"{shown} cuts through the token(s) {cut} (fix the span, or pass "
                            "--span-align expand or contract)")
        tally.changed.append(f"{shown} in {cut}")
    return chosen[0], chosen[-1] + 1


def example_spans(example: Example) -> tuple[str, list[Span]]:
    """The text of a tagged example as written, and its tags as character spans of it."""
    if example.raw is not None:
        text = example.raw
        _, offsets = _TOKENIZER.tokenize(text)
    else:  # given words: the text is their join
        text, offsets, position = " ".join(example.words), [], 0
        for word in example.words:
            offsets.append((position, position + len(word)))
            position += len(word) + 1
    return text, [Span(offsets[first][0], offsets[last - 1][1], kind)
                  for kind, first, last in bio_spans(example.tags or [])]
