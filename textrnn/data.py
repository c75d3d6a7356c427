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
from dataclasses import dataclass, field
from pathlib import Path

from textrnn.errors import DataError

TEXT_COLUMNS = ("text", "sentence", "utterance", "query", "tokens", "words")
LABEL_COLUMNS = ("label", "labels", "intent", "class", "category")
TAG_COLUMNS = ("tags", "slots", "bio", "ner_tags")
FORMATS = ("csv", "tsv", "jsonl", "parquet", "fasttext", "conll")
_SUFFIXES = {
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
    fmt = options.format or _detect_format(path, raw, source)
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


def _detect_format(path: str, raw: bytes, source: str) -> str:
    if raw.startswith(b"PAR1"):
        return "parquet"
    if b"\x00" in raw[:8192]:
        raise DataError(f"{source}: looks like a binary file, not text data")
    suffix = Path(path).suffix.lower() if path != "-" else ""
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
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
    import json

    import pandas as pd

    records, line_numbers = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{source}, line {number}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{source}, line {number}: expected a JSON object per line")
        records.append(record)
        line_numbers.append(number)
    frame = pd.DataFrame.from_records(records)
    frame.index = line_numbers
    return frame


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


def _read_table(frame, source: str, options: ReadOptions, unit: str, first: int) -> Corpus:
    columns = [str(column) for column in frame.columns]
    frame.columns = columns
    text_col = _pick_column(columns, options.text_col, TEXT_COLUMNS, source, "--text-col")
    if text_col is None:
        raise DataError(
            f"{source}: no text column (looked for {', '.join(TEXT_COLUMNS)}; columns are: "
            f"{', '.join(columns)}); name it with --text-col"
        )
    label_col = _pick_column(columns, options.label_col, LABEL_COLUMNS, source, "--label-col")
    tags_col = _pick_column(columns, options.tags_col, TAG_COLUMNS, source, "--tags-col")
    if label_col is None and tags_col is None:
        raise DataError(
            f"{source}: no label column (looked for {', '.join(LABEL_COLUMNS)}) and no tags "
            f"column (looked for {', '.join(TAG_COLUMNS)}); columns are: {', '.join(columns)}"
        )
    corpus = Corpus(source, [])
    skipped: list[int] = []
    rows = frame.index if unit == "line" else range(first, first + len(frame))
    wanted = [name for name in (text_col, label_col, tags_col) if name is not None]
    for row, values in zip(rows, frame[wanted].itertuples(index=False, name=None)):
        cells = dict(zip(wanted, values))
        where = f"{source}, {unit} {row}"
        text_value = cells[text_col]
        if _is_missing(text_value) or (isinstance(text_value, str) and not text_value.strip()):
            skipped.append(row)
            continue
        example = Example(text="", row=row)
        if tags_col is not None:
            words = _split_cell(text_value)
            tags = _split_cell(cells[tags_col]) if not _is_missing(cells[tags_col]) else []
            if len(words) != len(tags):
                raise DataError(
                    f"{where}, column '{tags_col}': {len(tags)} tags for {len(words)} tokens "
                    f"in column '{text_col}'"
                )
            bad = next((tag for tag in tags if not _TAG_RE.match(tag)), None)
            if bad is not None:
                raise DataError(
                    f"{where}, column '{tags_col}': '{bad}' is not a BIO tag (O, B-type or I-type)"
                )
            example.words, example.tags, example.text = words, tags, " ".join(words)
        else:
            example.text = text_value if isinstance(text_value, str) else " ".join(
                _split_cell(text_value))
        if label_col is not None:
            label_value = cells[label_col]
            if _is_missing(label_value):
                skipped.append(row)
                continue
            if isinstance(label_value, str):
                labels = (label_value.split(options.label_sep) if options.label_sep
                          else [label_value])
            elif isinstance(label_value, (list, tuple)) or hasattr(label_value, "tolist"):
                labels = [str(item) for item in list(label_value)]
            else:
                labels = [str(label_value)]
            labels = [label.strip() for label in labels if label.strip()]
            if not labels:
                skipped.append(row)
                continue
            example.labels = labels
            corpus.multilabel |= len(labels) > 1 or bool(options.label_sep)
        corpus.examples.append(example)
    if skipped:
        corpus.warnings.append(
            f"{source}: skipped {len(skipped)} {unit}(s) with an empty text or label "
            f"(first: {unit} {skipped[0]})"
        )
    return corpus


def _read_fasttext(text: str, source: str) -> Corpus:
    corpus = Corpus(source, [])
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        labels = []
        while parts and parts[0].startswith("__label__"):
            labels.append(parts.pop(0)[len("__label__"):])
        if not labels:
            raise DataError(f"{source}, line {number}: no __label__ prefix")
        if not parts:
            corpus.warnings.append(f"{source}, line {number}: skipped, labels but no text")
            continue
        corpus.examples.append(Example(text=" ".join(parts), labels=labels, row=number))
        corpus.multilabel |= len(labels) > 1
    return corpus


def _read_conll(text: str, source: str) -> Corpus:
    corpus = Corpus(source, [])
    words: list[str] = []
    tags: list[str] = []
    start = 0

    def flush():
        if words:
            corpus.examples.append(
                Example(text=" ".join(words), words=list(words), tags=list(tags), row=start))
            words.clear()
            tags.clear()

    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            flush()
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
    flush()
    return corpus
