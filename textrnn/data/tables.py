"""Reading labelled text: tables (CSV, TSV, JSON lines, Parquet), fastText lines, CoNLL files.

Every problem becomes a `DataError` whose message names the file, the row (counted as a
spreadsheet shows it: the header is row 1) or line, and the column.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from textrnn.data.examples import (
    BIO_TAG,
    Corpus,
    Example,
    ReadOptions,
    is_multilabel,
    skipped_warning,
)
from textrnn.errors import DataError

TEXT_COLUMNS = ("text", "sentence", "utterance", "query", "tokens", "words")
LABEL_COLUMNS = ("label", "labels", "intent", "class", "category")
TAG_COLUMNS = ("tags", "slots", "bio", "ner_tags")


def delimiter(fmt: str, header: str) -> str:
    """The field separator of a table: a tab for TSV; for CSV a comma, unless the header line
    has none and has semicolons or tabs (spreadsheets in many locales save `;`)."""
    if fmt == "tsv":
        return "\t"
    if "," not in header:
        for other in (";", "\t"):
            if other in header:
                return other
    return ","


def csv_frame(text: str, source: str, sep: str):
    import pandas as pd

    try:
        return pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False,
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{source}: no examples (the file is empty)") from None
    except pd.errors.ParserError as error:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
        if found:
            expected, line, saw = found.groups()
            raise DataError(
                f"{source}, row {line}: {saw} fields where the header has {expected} "
                f"(quote fields that contain the separator)"
            ) from None
        raise DataError(f"{source}: cannot parse as {'TSV' if sep == chr(9) else 'CSV'}: "
                        f"{str(error).strip().splitlines()[-1]}") from None


def jsonl_frame(text: str, source: str):

    import pandas as pd

    records, line_numbers = [], []
    for number, record in json_objects(text.splitlines(), source):
        records.append(record)
        line_numbers.append(number)
    frame = pd.DataFrame.from_records(records)
    frame.index = line_numbers
    return frame


def json_objects(lines: Iterable[str], source: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of JSON lines; `lines` may stream."""
    import json

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{source}, line {number}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{source}, line {number}: expected a JSON object per line")
        yield number, record


def parquet_frame(raw: bytes, source: str):
    import pandas as pd

    try:
        return pd.read_parquet(io.BytesIO(raw))
    except Exception as error:  # pyarrow raises several unrelated types for damaged files
        raise DataError(f"{source}: cannot read Parquet ({error})") from None


def _pick_column(columns: list[str], wanted: str | None, names: tuple[str, ...], source: str,
                 option: str) -> str | None:
    if wanted is not None:
        if wanted not in columns:
            raise DataError(
                f"{source}: no column '{wanted}' ({option}); columns are: {_listed(columns)}"
            )
        return wanted
    return next(iter(_candidates(columns, names)), None)


def _candidates(columns: list[str], names: tuple[str, ...]) -> list[str]:
    """The columns named like one of `names`, in the order of `names`."""
    lowered = {column.lower(): column for column in columns}
    return [lowered[name] for name in names if name in lowered]


def _several(columns: list[str], names: tuple[str, ...], role: str, option: str,
             source: str) -> list[str]:
    """A warning when several columns could hold the `role` and the first is taken."""
    found = _candidates(columns, names)
    if len(found) < 2:
        return []
    return [f"{source}: columns {', '.join(found)} could each be the {role}; using "
            f"'{found[0]}' ({option} picks another)"]


def _listed(columns: list[str]) -> str:
    """Column names for a one-line message: line breaks and tabs in a name escaped."""
    return ", ".join(name if name.isprintable() else name.encode("unicode_escape").decode("ascii")
                     for name in columns)


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _split_cell(value) -> list[str]:
    if isinstance(value, str):
        return value.split()
    return [str(item) for item in value]


@dataclass
class Columns:
    """Which columns of a table hold the text, the label(s) and the BIO tags."""

    text: str
    label: str | None
    tags: str | None
    label_sep: str | None = None
    warnings: list[str] = field(default_factory=list)  # columns chosen among several

    @classmethod
    def pick(cls, columns: list[str], source: str, options: ReadOptions) -> Columns:
        text = _pick_column(columns, options.text_col, TEXT_COLUMNS, source, "--text-col")
        if text is None:
            raise DataError(
                f"{source}: no text column (looked for {', '.join(TEXT_COLUMNS)}; columns are: "
                f"{_listed(columns)}); name it with --text-col"
            )
        warnings = [] if options.text_col else _several(columns, TEXT_COLUMNS, "text",
                                                        "--text-col", source)
        if options.unlabelled:
            return cls(text, None, None, warnings=warnings)
        label = _pick_column(columns, options.label_col, LABEL_COLUMNS, source, "--label-col")
        if not options.label_col:
            warnings += _several(columns, LABEL_COLUMNS, "label", "--label-col", source)
        tags = _pick_column(columns, options.tags_col, TAG_COLUMNS, source, "--tags-col")
        if label is None and tags is None:
            raise DataError(
                f"{source}: no label column (looked for {', '.join(LABEL_COLUMNS)}) and no tags "
                f"column (looked for {', '.join(TAG_COLUMNS)}); columns are: {_listed(columns)}"
            )
        return cls(text, label, tags, options.label_sep, warnings)

    @property
    def wanted(self) -> list[str]:
        return [name for name in (self.text, self.label, self.tags) if name is not None]

    def example(self, cells: dict, row: int, where: str) -> Example | None:
        """One table row as an Example; None for a row to skip (empty text or label)."""
        text_value = cells[self.text]
        if _is_missing(text_value) or (isinstance(text_value, str) and not text_value.strip()):
            return None
        example = Example(text="", row=row)
        if self.tags is not None:
            words = _split_cell(text_value)
            tags = _split_cell(cells[self.tags]) if not _is_missing(cells[self.tags]) else []
            if len(words) != len(tags):
                raise DataError(
                    f"{where}, column '{self.tags}': {len(tags)} tags for {len(words)} tokens "
                    f"in column '{self.text}'"
                )
            bad = next((tag for tag in tags if not BIO_TAG.match(tag)), None)
            if bad is not None:
                raise DataError(
                    f"{where}, column '{self.tags}': '{bad}' is not a BIO tag (O, B-type or "
                    "I-type)"
                )
            example.words, example.tags, example.text = words, tags, " ".join(words)
        else:
            example.text = text_value if isinstance(text_value, str) else " ".join(
                _split_cell(text_value))
        if self.label is not None:
            label_value = cells[self.label]
            if _is_missing(label_value):
                return None
            if isinstance(label_value, str):
                labels = label_value.split(self.label_sep) if self.label_sep else [label_value]
            elif isinstance(label_value, (list, tuple)) or hasattr(label_value, "tolist"):
                labels = [str(item) for item in list(label_value)]
            else:
                labels = [str(label_value)]
            labels = [label.strip() for label in labels if label.strip()]
            if not labels:
                return None
            example.labels = labels
        return example


def read_table(frame, source: str, options: ReadOptions, unit: str, first: int) -> Corpus:
    columns = [str(column) for column in frame.columns]
    frame.columns = columns
    picked = Columns.pick(columns, source, options)
    corpus = Corpus(source, [], warnings=list(picked.warnings))
    rows = frame.index if unit == "line" else range(first, first + len(frame))
    wanted = picked.wanted
    records = [(row, dict(zip(wanted, values)))
               for row, values in zip(rows, frame[wanted].itertuples(index=False, name=None))]
    unlabelled = _without_label(records, picked, source, unit, corpus.warnings)
    skipped: list[int] = []
    for row, cells in records:
        if row in unlabelled:
            continue
        example = picked.example(cells, row, f"{source}, {unit} {row}")
        if example is None:
            skipped.append(row)
            continue
        corpus.multilabel |= is_multilabel(example, options)
        corpus.examples.append(example)
    if skipped:
        corpus.warnings.append(skipped_warning(source, unit, len(skipped), skipped[0]))
    return corpus


def _without_label(records: list[tuple[int, dict]], picked: Columns, source: str, unit: str,
                   warnings: list[str]) -> set[int]:
    """The rows with a text but an empty label cell, to skip, with a warning naming them. A
    tags table whose label column is empty in every row (a tagging data set exported with a
    joint schema) is read as tags only: `picked.label` becomes None."""
    if picked.label is None:
        return set()
    texts = [(row, cells) for row, cells in records if not _is_blank(cells[picked.text])]
    empty = [row for row, cells in texts if _is_blank(cells[picked.label])]
    if not empty:
        return set()
    if len(empty) == len(texts):
        if picked.tags is None:
            raise DataError(f"{source}: column '{picked.label}' is empty in every {unit}; "
                            "there is nothing to learn")
        warnings.append(f"{source}: column '{picked.label}' is empty in every {unit}: read "
                        f"as slot tags only (column '{picked.tags}'), without intents")
        picked.label = None
        return set()
    warnings.append(f"{source}: skipped {len(empty)} {unit}(s) with an empty "
                    f"'{picked.label}' ({_rows(empty, unit)})")
    return set(empty)


def _is_blank(value) -> bool:
    return _is_missing(value) or (isinstance(value, str) and not value.strip())


def _rows(rows: list[int], unit: str, shown: int = 5) -> str:
    """`row 5`, `rows 5, 9 and 12`, or the first few and how many more."""
    if len(rows) == 1:
        return f"{unit} {rows[0]}"
    named = ", ".join(str(row) for row in rows[:shown])
    more = len(rows) - shown
    if more > 0:
        return f"{unit}s {named} and {more} more"
    return f"{unit}s {named[:named.rindex(',')]} and {rows[-1]}"
