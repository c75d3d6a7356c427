"""Reading labelled text: tables (CSV, TSV, JSON lines, Parquet), fastText lines, CoNLL files,
inline markup, Rasa NLU YAML and span JSON lines.

Every problem becomes a `DataError` whose message names the file, the row (counted as a
spreadsheet shows it: the header is row 1) or line, and the column.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
from pathlib import Path

from textrnn.data.align import check_mode
from textrnn.data.conll import read_conll
from textrnn.data.examples import Corpus, ReadOptions, is_multilabel
from textrnn.data.fasttext import read_fasttext
from textrnn.data.markup import markup_examples
from textrnn.data.plain import read_plain
from textrnn.data.rasa import rasa_examples
from textrnn.data.spans import is_spans_record, spans_examples
from textrnn.data.tables import (
    LABEL_COLUMNS,
    TAG_COLUMNS,
    TEXT_COLUMNS,
    csv_frame,
    delimiter,
    json_objects,
    jsonl_frame,
    parquet_frame,
    read_table,
)
from textrnn.errors import DataError

FORMATS = ("csv", "tsv", "jsonl", "parquet", "fasttext", "conll", "markup", "rasa", "spans",
           "text")
SUFFIXES = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet", ".conll": "conll",
    ".bio": "conll", ".iob": "conll", ".ft": "fasttext", ".yml": "rasa", ".yaml": "rasa",
}
# `[text](slot` or `[text]{"`: a line of inline slot markup
_MARKUP = re.compile(rb"\[[^\]\n]+\](\([^)\s]+\)|\{\s*\")")
# `intent<TAB>a sentence`: a markup line without spans (CoNLL fields hold no spaces)
_INTENT_LINE = re.compile(rb"[^\s]+\t[^\t]* [^\t]*")
SNIFF_LINES = 50


def read_corpus(path: str, options: ReadOptions | None = None) -> Corpus:
    """Read a labelled file (or `-` for stdin) into examples."""
    options = options or ReadOptions()
    source = "<stdin>" if path == "-" else path
    raw = _read_bytes(path, source)
    fmt = options.format or detect_format(path, raw, source, options.unlabelled)
    check_format(fmt, source)
    check_mode(options.span_align)
    if fmt == "parquet":
        corpus = read_table(parquet_frame(raw, source), source, options, "row", 2)
    else:
        text = _decode(raw, source, options.encoding)
        if fmt == "text":
            corpus = read_plain(text, source)
        elif fmt == "fasttext":
            corpus = read_fasttext(text, source)
        elif fmt == "conll":
            corpus = read_conll(text, source)
        elif fmt == "jsonl":
            corpus = read_table(jsonl_frame(text, source), source, options, "line", 1)
        elif fmt in STREAMED:
            corpus = Corpus(source, [])
            for example in STREAMED[fmt](io.StringIO(text), source, options, corpus.warnings,
                                         corpus.lexicon):
                corpus.examples.append(example)
                corpus.multilabel |= is_multilabel(example, options)
        else:
            frame = csv_frame(text, source, delimiter(fmt, text.split("\n", 1)[0]))
            corpus = read_table(frame, source, options, "row", 2)
    if not corpus.examples:
        raise DataError(f"{source}: no examples (the file is empty or has only a header)")
    corpus.sha256 = hashlib.sha256(raw).hexdigest()
    return corpus


def check_format(fmt: str, source: str) -> None:
    if fmt not in FORMATS:
        raise DataError(f"{source}: unknown format '{fmt}' (choose from {', '.join(FORMATS)})")


def _spans(handle, source, options, warnings, lexicon=None):
    return spans_examples(json_objects(handle, source), source, options, warnings)


# Formats read from a text stream by one generator, for whole files and for streaming alike.
STREAMED = {"markup": markup_examples, "rasa": rasa_examples, "spans": _spans}


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


def detect_format(path: str, raw: bytes, source: str, plain: bool = False) -> str:
    """The format from the suffix or the content; with `plain` (unlabelled text), a file
    without a data suffix is plain text unless its lines carry fastText labels."""
    if raw.startswith(b"PAR1"):
        return "parquet"
    if b"\x00" in raw[:8192]:
        raise DataError(f"{source}: looks like a binary file, not text data")
    suffix = Path(path).suffix.lower() if path != "-" else ""
    lines = [line.strip() for line in raw[:65536].splitlines() if line.strip()]
    first = lines[0] if lines else b""
    if suffix in SUFFIXES:
        return _json_kind(first) if SUFFIXES[suffix] == "jsonl" else SUFFIXES[suffix]
    if first.startswith(b"__label__"):
        return "fasttext"
    if plain:
        return "text"
    if first.startswith(b"{"):
        return _json_kind(first)
    if any(line.startswith(b"nlu:") for line in lines[:SNIFF_LINES]):
        return "rasa"
    header = first.decode("utf-8", "replace").lower()
    known = (*TEXT_COLUMNS, *LABEL_COLUMNS, *TAG_COLUMNS)
    is_header = any(name.strip() in known for name in re.split("[,\t]", header))
    if not is_header and (any(_MARKUP.search(line) for line in lines[:SNIFF_LINES])
                          or _INTENT_LINE.fullmatch(first)):
        return "markup"
    if b"\t" in first:
        names = header.split("\t")
        if any(name in known for name in names) or b"\n\n" not in raw.replace(b"\r", b""):
            return "tsv"
        return "conll"
    if len(first.split()) == 2 and b"\n\n" in raw.replace(b"\r", b"") and "," not in header:
        return "conll"
    return "csv"


def _json_kind(first: bytes) -> str:
    """'spans' when the first JSON line holds span annotations, else 'jsonl' (a table)."""
    try:
        return "spans" if is_spans_record(json.loads(first)) else "jsonl"
    except ValueError:
        return "jsonl"  # the reader names the line


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
