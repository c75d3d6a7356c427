"""Reading labelled text: tables (CSV, TSV, JSON lines, Parquet), fastText lines, CoNLL files.

Every problem becomes a `DataError` whose message names the file, the row (counted as a
spreadsheet shows it: the header is row 1) or line, and the column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from textrnn.errors import DataError

BIO_TAG = re.compile(r"^(O|[BI]-\S+)$")


@dataclass
class Example:
    text: str
    labels: list[str] | None = None
    words: list[str] | None = None  # given tokens, for tag data
    tags: list[str] | None = None
    row: int = 0
    raw: str | None = None  # the text as written, when `text` is its tokens joined by spaces


@dataclass
class Lexicon:
    """What a data file says about slot values beside its examples (Rasa's `lookup:` tables and
    `synonym:` entries, `[text](slot:value)` annotations), filled as its reader streams."""

    lookups: dict[str, list[str]] = field(default_factory=dict)  # list name -> values
    synonyms: dict[str, str] = field(default_factory=dict)  # text as written -> value

    def add_lookup(self, name: str, values: list[str]) -> None:
        self.lookups.setdefault(name, []).extend(values)

    def add_synonym(self, text: str, value: str) -> None:
        if text != value:
            self.synonyms[text] = value


@dataclass
class Corpus:
    source: str
    examples: list[Example]
    multilabel: bool = False
    sha256: str = ""
    warnings: list[str] = field(default_factory=list)
    lexicon: Lexicon = field(default_factory=Lexicon)

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
    span_align: str = "expand"  # character spans to tokens: expand, strict or contract


def is_multilabel(example: Example, options: ReadOptions) -> bool:
    return example.labels is not None and (len(example.labels) > 1 or bool(options.label_sep))


class LabelCheck:
    """Whether a file's examples carry labels is decided by its first example, as a table's
    header decides its columns: later examples must agree, and one with an empty label is
    skipped (counted for the warning) where the first had one."""

    def __init__(self, source: str, unit: str, what: str):
        self.source, self.unit, self.what = source, unit, what
        self.expected: bool | None = None
        self.skipped, self.first_skipped = 0, 0

    def labels(self, value, row: int, label_sep: str | None) -> list[str] | None | bool:
        """The labels of a value (None: the file has none); False: skip this example."""
        has = value is not None
        if self.expected is None:
            self.expected = has
        if has and not self.expected:
            raise DataError(f"{self.source}, {self.unit} {row}: {self.what} here, but not on the "
                            f"first {self.unit} of the file (give every {self.unit} one, or none)")
        if not self.expected:
            return None
        parts = str(value or "").split(label_sep) if label_sep else [str(value or "")]
        labels = [part.strip() for part in parts if part.strip()]
        if not labels:
            self.skip(row)
            return False
        return labels

    def skip(self, row: int) -> None:
        """Count an example skipped for an empty text or label."""
        self.skipped += 1
        self.first_skipped = self.first_skipped or row

    def warnings(self) -> list[str]:
        if not self.skipped:
            return []
        return [skipped_warning(self.source, self.unit, self.skipped, self.first_skipped)]


def skipped_warning(source: str, unit: str, count: int, first: int) -> str:
    return (f"{source}: skipped {count} {unit}(s) with an empty text or label "
            f"(first: {unit} {first})")
