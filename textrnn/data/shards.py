"""Reading training data row by row, for files too large to hold in memory.

Input may be one file, a glob (`data/part-*.csv`) or a directory of shards. Every format of
read.py streams: CSV/TSV through the csv module, JSON lines, span JSON lines, markup and
fastText/CoNLL line by line, Rasa YAML entry by entry, Parquet by record batches. Rows become
the same `Example`s, with the same errors naming the file, row and column, as when the whole
file is read at once.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path

from textrnn.data.align import check_mode
from textrnn.data.conll import conll_examples
from textrnn.data.examples import Example, Lexicon, ReadOptions, skipped_warning
from textrnn.data.fasttext import fasttext_examples
from textrnn.data.plain import plain_examples
from textrnn.data.read import STREAMED, SUFFIXES, check_format, detect_format
from textrnn.data.tables import Columns, delimiter, json_objects
from textrnn.errors import DataError

SNIFF_BYTES = 65536
PARQUET_BATCH_ROWS = 8192


def expand(pattern: str) -> list[Path]:
    """The data files a path, glob or directory names, in a stable (sorted) order."""
    path = Path(pattern)
    if path.is_dir():
        files = sorted(child for child in path.iterdir()
                       if child.is_file() and child.suffix.lower() in SUFFIXES)
        if not files:
            raise DataError(f"{pattern}: a directory without data files (looked for "
                            f"{', '.join(sorted(SUFFIXES))})")
        return files
    if path.is_file():
        return [path]
    if glob.has_magic(pattern):
        files = sorted(Path(name) for name in glob.glob(pattern) if Path(name).is_file())
        if not files:
            raise DataError(f"{pattern}: no file matches")
        return files
    raise DataError(f"{pattern}: no such file")


def total_bytes(files: list[Path]) -> int:
    return sum(file.stat().st_size for file in files)


def fingerprint(files: list[Path]) -> str:
    """One SHA-256 over every file's bytes, read in blocks (memory stays flat)."""
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def file_format(path: Path, options: ReadOptions) -> str:
    if options.format:
        return options.format
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    return detect_format(str(path), head, str(path), options.unlabelled)


def read_examples(path: Path, options: ReadOptions, warnings: list[str],
                  lexicon: Lexicon | None = None) -> Iterator[Example]:
    """Stream one file's examples; rows to skip (empty text or label) are counted in
    `warnings` at the end of the file, as the whole-file reader does; Rasa lookup tables and
    synonyms go to `lexicon`."""
    source = str(path)
    fmt = file_format(path, options)
    check_format(fmt, source)
    check_mode(options.span_align)
    if fmt == "parquet":
        yield from _parquet_examples(path, options, warnings)
        return
    try:
        with open(path, encoding=options.encoding, newline="") as handle:
            if fmt == "text":
                yield from plain_examples(handle)
            elif fmt == "fasttext":
                yield from fasttext_examples(handle, source, warnings)
            elif fmt == "conll":
                yield from conll_examples(handle, source)
            elif fmt == "jsonl":
                yield from _table_examples(_jsonl_records(handle, source), source, options,
                                           "line", warnings)
            elif fmt in STREAMED:
                yield from STREAMED[fmt](handle, source, options, warnings, lexicon)
            else:  # csv, tsv
                yield from _table_examples(_csv_records(handle, source, fmt), source, options,
                                           "row", warnings)
    except UnicodeDecodeError as error:
        raise DataError(f"{source}: byte 0x{error.object[error.start]:02x} is not valid "
                        f"{options.encoding} (pass --encoding if the file uses another)") from None
    except LookupError:
        raise DataError(f"unknown encoding '{options.encoding}'") from None


def _csv_records(handle, source: str, fmt: str) -> Iterator[tuple[int, dict | list]]:
    """(row, cells) with the header's names; the header is row 1, as a spreadsheet counts."""
    first = handle.readline()
    reader = csv.reader(itertools.chain([first], handle), delimiter=delimiter(fmt, first))
    header = next(reader, None)
    if not header:
        raise DataError(f"{source}: no examples (the file is empty)")
    header[0] = header[0].removeprefix("\ufeff")
    yield 1, header
    row = 1
    for record in reader:
        if not record:  # a blank line
            continue
        row += 1
        if len(record) != len(header):
            raise DataError(f"{source}, row {row}: {len(record)} fields where the header has "
                            f"{len(header)} (quote fields that contain the separator)")
        yield row, dict(zip(header, record))


def _jsonl_records(handle, source: str) -> Iterator[tuple[int, dict | list]]:
    header_sent = False
    for number, record in json_objects(handle, source):
        if not header_sent:  # the first object's keys name the columns
            header_sent = True
            yield 0, list(record)
        yield number, record


def _table_examples(records, source: str, options: ReadOptions, unit: str,
                    warnings: list[str]) -> Iterator[Example]:
    columns, skipped, first_skipped = None, 0, 0
    for row, cells in records:
        if columns is None:
            columns = Columns.pick([str(name) for name in cells], source, options)
            warnings.extend(columns.warnings)
            continue
        # A field missing from a JSON object is an empty cell, as in the whole-file reader.
        cells = {name: cells.get(name) for name in columns.wanted}
        example = columns.example(cells, row, f"{source}, {unit} {row}")
        if example is None:
            skipped += 1
            first_skipped = first_skipped or row
            continue
        yield example
    if skipped:
        warnings.append(skipped_warning(source, unit, skipped, first_skipped))


def _parquet_examples(path: Path, options: ReadOptions, warnings: list[str]
                      ) -> Iterator[Example]:
    import pyarrow.parquet as pq

    source = str(path)
    try:
        table = pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises several unrelated types for damaged files
        raise DataError(f"{source}: cannot read Parquet ({error})") from None

    def records():
        yield 0, table.schema_arrow.names
        row = 1
        for batch in table.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for record in batch.to_pylist():
                row += 1
                yield row, record

    yield from _table_examples(records(), source, options, "row", warnings)


def estimate_rows(files: list[Path]) -> int:
    """About how many rows the files hold, from the line length of the first file's head."""
    with open(files[0], "rb") as handle:
        head = handle.read(1 << 20)
    lines = max(1, head.count(b"\n"))
    return max(1, round(total_bytes(files) * lines / max(1, len(head))))


def held_out(file_index: int, row: int, fraction: float, seed: int) -> bool:
    """Whether a row belongs to the validation set: a seeded hash of its place (file, row), the
    same on every pass and every worker, with no list of rows to keep."""
    value = (file_index << 40 | row) * 0x9E3779B97F4A7C15 + seed * 0xBF58476D1CE4E5B9
    value &= (1 << 64) - 1
    value = ((value ^ (value >> 31)) * 0x94D049BB133111EB) & ((1 << 64) - 1)
    return (value >> 11) / float(1 << 53) < fraction


class Shards:
    """Training files read row by row, as many times as training needs."""

    def __init__(self, pattern: str | list[str], options: ReadOptions):
        patterns = [pattern] if isinstance(pattern, str) else pattern
        self.pattern = " ".join(patterns)
        self.files = [file for each in patterns for file in expand(each)]
        self.options = options

    def examples(self, warnings: list[str], worker: int = 0, workers: int = 1,
                 lexicon: Lexicon | None = None) -> Iterator[tuple[int, Example]]:
        """(file index, example) over the files; with several workers, the files this worker
        reads (every workers-th file: FILE sharding), or every file when there are fewer files
        than workers (the rows are then split by the caller). Lookup tables and synonyms go to
        `lexicon`, when given."""
        by_file = len(self.files) >= workers
        for index, file in enumerate(self.files):
            if by_file and index % workers != worker:
                continue
            for example in read_examples(file, self.options, warnings, lexicon):
                yield index, example

    def first(self) -> Example:
        """The first example, to tell what the data can train before the full pass. Every
        file's first example must carry what it carries (labels, tags), or training would
        stop halfway through the pass: the file that differs is named now."""
        firsts = [(file, example) for file in self.files
                  for example in itertools.islice(read_examples(file, self.options, []), 1)]
        if not firsts:
            raise DataError(f"{self.pattern}: no examples")
        (file, example), *others = firsts
        for other_file, other in others:
            if _carries(other) != _carries(example):
                raise DataError(
                    f"{other_file}: has {_carries(other)} where {file} has "
                    f"{_carries(example)}; "
                    f"the files of {self.pattern} must agree (all with labels, or none; all "
                    "with slot tags, or none)")
        return example


def _carries(example: Example) -> str:
    if example.tags is None:
        return "labels without slot tags" if example.labels is not None else "text only"
    return "labels and slot tags" if example.labels is not None else "slot tags without labels"
