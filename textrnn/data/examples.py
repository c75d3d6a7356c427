"""Reading labelled text: tables (CSV, TSV, JSON lines, Parquet), fastText lines, CoNLL files.

Every problem becomes a `DataError` whose message names the file, the row (counted as a
spreadsheet shows it: the header is row 1) or line, and the column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

BIO_TAG = re.compile(r"^(O|[BI]-\S+)$")


@dataclass
class Example:
    text: str
    labels: list[str] | None = None
    words: list[str] | None = None  # given tokens, for tag data
    tags: list[str] | None = None
    row: int = 0


@dataclass
class Corpus:
    source: str
    examples: list[Example]
    multilabel: bool = False
    sha256: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def has_labels(self) -> bool:
        return bool(self.examples) and self.examples[0].labels is not None

    @property
    def has_tags(self) -> bool:
        return bool(self.examples) and self.examples[0].tags is not None

    @property
    def task(self) -> str:
        """What the data can train: 'joint' (intent + tags), 'tag' or 'classify'."""
        if self.has_tags:
            return "joint" if self.has_labels else "tag"
        return "classify"


@dataclass
class ReadOptions:
    text_col: str | None = None
    label_col: str | None = None
    tags_col: str | None = None
    label_sep: str | None = None
    encoding: str = "utf-8"
    format: str | None = None
    # Unlabelled text (pretraining): only the text column is read, and a file without a data
    # suffix or fastText labels is plain text, one sentence a line.
    unlabelled: bool = False


def is_multilabel(example: Example, options: ReadOptions) -> bool:
    return example.labels is not None and (len(example.labels) > 1 or bool(options.label_sep))


def skipped_warning(source: str, unit: str, count: int, first: int) -> str:
    return (f"{source}: skipped {count} {unit}(s) with an empty text or label "
            f"(first: {unit} {first})")
