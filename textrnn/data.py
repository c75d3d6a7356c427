"""Reading labelled text: tables (CSV, TSV, JSON lines, Parquet), fastText lines, CoNLL files.

Every problem becomes a `DataError` whose message names the file, the row (counted as a
spreadsheet shows it: the header is row 1) or line, and the column.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from textrnn.errors import DataError

TEXT_COLUMNS = ("text", "sentence", "utterance", "query", "tokens", "words")
LABEL_COLUMNS = ("label", "labels", "intent", "class", "category")
TAG_COLUMNS = ("tags", "slots", "bio", "ner_tags")
FORMATS = ("csv", "tsv", "jsonl", "parquet", "fasttext", "conll")
SUFFIXES = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet", ".conll": "conll",
    ".bio": "conll", ".iob": "conll", ".ft": "fasttext",
}
_TAG_RE = re.compile(r"^(O|[BI]-\S+)$")


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


def read_corpus(path: str, options: ReadOptions | None = None) -> Corpus:
    """Read a labelled file (or `-` for stdin) into examples."""
    options = options or ReadOptions()
    source = "<stdin>" if path == "-" else path
    raw = _read_bytes(path, source)
    fmt = options.format or detect_format(path, raw, source)
    if fmt not in FORMATS:
        raise DataError(f"{source}: unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    if fmt == "parquet":
        corpus = _read_table(_parquet_frame(raw, source), source, options, "row", 2)
    else:
        text = _decode(raw, source, options.encoding)
        if fmt == "fasttext":
            corpus = _read_fasttext(text, source)
        elif fmt == "conll":
            corpus = _read_conll(text, source)
        elif fmt == "jsonl":
            corpus = _read_table(_jsonl_frame(text, source), source, options, "line", 1)
        else:
            frame = _csv_frame(text, source, "\t" if fmt == "tsv" else ",")
            corpus = _read_table(frame, source, options, "row", 2)
    if not corpus.examples:
        raise DataError(f"{source}: no examples (the file is empty or has only a header)")
    corpus.sha256 = hashlib.sha256(raw).hexdigest()
    return corpus


def _read_bytes(path: str, source: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    file = Path(path)
    if file.is_dir():
        raise DataError(f"{source}: is a directory, expected a data file")
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{source}: no such file") from None
    except OSError as error:
        raise DataError(f"{source}: cannot read ({error.strerror})") from None


def detect_format(path: str, raw: bytes, source: str) -> str:
    if raw.startswith(b"PAR1"):
        return "parquet"
    if b"\x00" in raw[:8192]:
        raise DataError(f"{source}: looks like a binary file, not text data")
    suffix = Path(path).suffix.lower() if path != "-" else ""
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    first = next((line.strip() for line in raw[:65536].splitlines() if line.strip()), b"")
    if first.startswith(b"__label__"):
        return "fasttext"
    if first.startswith(b"{"):
        return "jsonl"
    header = first.decode("utf-8", "replace").lower()
    known = (*TEXT_COLUMNS, *LABEL_COLUMNS, *TAG_COLUMNS)
    if b"\t" in first:
        names = header.split("\t")
        if any(name in known for name in names) or b"\n\n" not in raw.replace(b"\r", b""):
            return "tsv"
        return "conll"
    if len(first.split()) == 2 and b"\n\n" in raw.replace(b"\r", b"") and "," not in header:
        return "conll"
    return "csv"


def _decode(raw: bytes, source: str, encoding: str) -> str:
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(
            f"{source}, line {line}: byte 0x{raw[error.start]:02x} is not valid {encoding} "
            f"(pass --encoding, e.g. --encoding latin-1, if the file uses another encoding)"
        ) from None
    except LookupError:
        raise DataError(f"unknown encoding '{encoding}'") from None
    return text.removeprefix("\ufeff")


def _csv_frame(text: str, source: str, sep: str):
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


def _jsonl_frame(text: str, source: str):

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


def _parquet_frame(raw: bytes, source: str):
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
                f"{source}: no column '{wanted}' ({option}); columns are: {', '.join(columns)}"
            )
        return wanted
    lowered = {column.lower(): column for column in columns}
    return next((lowered[name] for name in names if name in lowered), None)


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

    @classmethod
    def pick(cls, columns: list[str], source: str, options: ReadOptions) -> Columns:
        text = _pick_column(columns, options.text_col, TEXT_COLUMNS, source, "--text-col")
        if text is None:
            raise DataError(
                f"{source}: no text column (looked for {', '.join(TEXT_COLUMNS)}; columns are: "
                f"{', '.join(columns)}); name it with --text-col"
            )
        label = _pick_column(columns, options.label_col, LABEL_COLUMNS, source, "--label-col")
        tags = _pick_column(columns, options.tags_col, TAG_COLUMNS, source, "--tags-col")
        if label is None and tags is None:
            raise DataError(
                f"{source}: no label column (looked for {', '.join(LABEL_COLUMNS)}) and no tags "
                f"column (looked for {', '.join(TAG_COLUMNS)}); columns are: {', '.join(columns)}"
            )
        return cls(text, label, tags, options.label_sep)

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
            bad = next((tag for tag in tags if not _TAG_RE.match(tag)), None)
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


def is_multilabel(example: Example, options: ReadOptions) -> bool:
    return example.labels is not None and (len(example.labels) > 1 or bool(options.label_sep))


def _read_table(frame, source: str, options: ReadOptions, unit: str, first: int) -> Corpus:
    columns = [str(column) for column in frame.columns]
    frame.columns = columns
    picked = Columns.pick(columns, source, options)
    corpus = Corpus(source, [])
    skipped: list[int] = []
    rows = frame.index if unit == "line" else range(first, first + len(frame))
    wanted = picked.wanted
    for row, values in zip(rows, frame[wanted].itertuples(index=False, name=None)):
        example = picked.example(dict(zip(wanted, values)), row, f"{source}, {unit} {row}")
        if example is None:
            skipped.append(row)
            continue
        corpus.multilabel |= is_multilabel(example, options)
        corpus.examples.append(example)
    if skipped:
        corpus.warnings.append(skipped_warning(source, unit, len(skipped), skipped[0]))
    return corpus


def skipped_warning(source: str, unit: str, count: int, first: int) -> str:
    return (f"{source}: skipped {count} {unit}(s) with an empty text or label "
            f"(first: {unit} {first})")


def _read_fasttext(text: str, source: str) -> Corpus:
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


def _read_conll(text: str, source: str) -> Corpus:
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
        if not _TAG_RE.match(parts[-1]):
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
