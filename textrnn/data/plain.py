"""Plain text for pretraining: one sentence a line, blank lines skipped."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from textrnn.data.examples import Corpus, Example


def read_plain(text: str, source: str) -> Corpus:
    return Corpus(source, list(plain_examples(text.splitlines())))


def plain_examples(lines: Iterable[str]) -> Iterator[Example]:
    """An unlabelled example per non-blank line (`row` is the line number); `lines` may stream."""
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield Example(text=line.rstrip("\r\n"), row=number)
