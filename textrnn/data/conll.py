"""Reading labelled text: tables (CSV, TSV, JSON lines, Parquet), fastText lines, CoNLL files.

Every problem becomes a `DataError` whose message names the file, the row (counted as a
spreadsheet shows it: the header is row 1) or line, and the column.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from textrnn.data.examples import BIO_TAG, Corpus, Example
from textrnn.errors import DataError


def read_conll(text: str, source: str) -> Corpus:
    return Corpus(source, list(conll_examples(text.splitlines(), source)))


def conll_examples(lines: Iterable[str], source: str) -> Iterator[Example]:
    """Examples from CoNLL lines (token ... tag, blank line between sentences); may stream."""
    words: list[str] = []
    tags: list[str] = []
    start = 0
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            if words:
                yield Example(text=" ".join(words), words=words, tags=tags, row=start)
                words, tags = [], []
            continue
        if parts[0] == "-DOCSTART-":
            continue
        if len(parts) < 2:
            raise DataError(f"{source}, line {number}: expected a token and a tag, found "
                            f"'{line.strip()}'")
        if not BIO_TAG.match(parts[-1]):
            raise DataError(
                f"{source}, line {number}, last column: '{parts[-1]}' is not a BIO tag "
                f"(O, B-type or I-type)"
            )
        if not words:
            start = number
        words.append(parts[0])
        tags.append(parts[-1])
    if words:
        yield Example(text=" ".join(words), words=words, tags=tags, row=start)
