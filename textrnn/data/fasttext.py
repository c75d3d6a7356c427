"""Reading labelled text: tables (CSV, TSV, JSON lines, Parquet), fastText lines, CoNLL files.

Every problem becomes a `DataError` whose message names the file, the row (counted as a
spreadsheet shows it: the header is row 1) or line, and the column.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from textrnn.data.examples import Corpus, Example
from textrnn.errors import DataError


def read_fasttext(text: str, source: str) -> Corpus:
    corpus = Corpus(source, [])
    for example in fasttext_examples(text.splitlines(), source, corpus.warnings):
        corpus.examples.append(example)
        corpus.multilabel |= len(example.labels) > 1
    return corpus


def fasttext_examples(lines: Iterable[str], source: str, warnings: list[str]
                      ) -> Iterator[Example]:
    """Examples from fastText lines (`__label__a [__label__b] text`); `lines` may stream."""
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        labels = []
        while parts and parts[0].startswith("__label__"):
            labels.append(parts.pop(0)[len("__label__"):])
        if not labels:
            raise DataError(f"{source}, line {number}: no __label__ prefix")
        if not parts:
            warnings.append(f"{source}, line {number}: skipped, labels but no text")
            continue
        yield Example(text=" ".join(parts), labels=labels, row=number)
