"""Pretrained word vectors (`textrnn train --embeddings FILE`) as an initial embedding matrix.

Reads, detected from the content rather than the file name:

* word2vec / fastText text (`.vec`): a first line `count dim`, then `word v1 ... vd` per line;
* GloVe text (`.txt`): no header, every line `word v1 ... vd`; the first line sets the dimension
  (so a GloVe file whose first line is two integers, e.g. word "3" in dimension 1, would be taken
  for a header);
* word2vec binary (`.bin`): a header line `count dim`, then per word `word<space>` followed by dim
  little-endian float32 and an optional newline;

any of them gzipped (recognised by the gzip magic bytes, whatever the suffix). Text is decoded as
UTF-8 with undecodable bytes replaced, and so are the words of the binary format.

The file is streamed: only the rows of vocabulary words are kept, so a multi-GB file loads in
memory bounded by the vocabulary size. Most lines are skipped after looking at their first word;
a skipped line is checked only for its number of values (its numbers are not converted). Values
are fully checked (numbers, finite) on the first vector of the file and on every row we keep.
Reading stops early once every vocabulary word has an exact match.

Lookup: the exact token first; a vocabulary word without an exact match takes the first vector in
the file whose word has the same `.lower()` ("Paris" or "PARIS" for "paris"), and an exact match
always wins over such a case-folded one wherever it appears in the file.

Rows: the padding row is zeros; the unknown-word row is the mean of the vectors found; a
vocabulary word without a vector gets a random normal row (seeded) with the mean and standard
deviation of all the values of the vectors found.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import sys
import zlib
from dataclasses import dataclass, field

import numpy as np

from textrnn.errors import DataError
from textrnn.files import atomic_output
from textrnn.text import OOV, PAD

__all__ = ["EmbeddingMatrix", "load_vectors", "write_vec"]

_GZIP_MAGIC = b"\x1f\x8b"
_MAX_LINE = 1 << 20  # bytes; a vector line is a few KB, a longer "line 1" is not a vector file
_CHUNK = 1 << 20  # read size for the binary format


@dataclass
class EmbeddingMatrix:
    """An embedding matrix initialised from a word-vector file, with its coverage statistics.

    `found`, `words` and `found_case_folded` count vocabulary words, never the padding and
    unknown-word entries (rows 0 and 1).
    """

    matrix: np.ndarray  # (len(vocabulary), dim) float32
    dim: int
    found: int  # vocabulary words with a vector (exact or case-folded)
    words: int  # vocabulary words
    found_case_folded: int  # of `found`, those matched only through a case-folded lookup
    tokens: list[str] = field(default_factory=list, repr=False)  # the vocabulary
    has_vector: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), repr=False)
    source: str = ""  # the file, as given
    format: str = ""  # "word2vec-text", "glove" or "word2vec-binary"
    gzipped: bool = False

    def coverage(self, token_counts: dict[str, int]) -> dict:
        """Word coverage, and token coverage over the training corpus.

        `token_counts` maps tokens to their number of occurrences in the training data. Token
        coverage counts only tokens that are in the vocabulary: tokens outside it are read as
        `<unk>` whatever the file holds, so they say nothing about the file (their share depends
        on --min-count / --max-vocab). `<pad>` and `<unk>` themselves are not counted.
        """
        covered = total = 0
        index = {token: i for i, token in enumerate(self.tokens)}
        for token, count in token_counts.items():
            i = index.get(token)
            if i is None or i < 2:
                continue
            total += count
            if self.has_vector[i]:
                covered += count
        return {
            "words_found": self.found,
            "words": self.words,
            "word_coverage": self.found / self.words if self.words else 0.0,
            "tokens_covered": covered,
            "tokens": total,
            "token_coverage": covered / total if total else 0.0,
        }

    def to_json(self) -> dict:
        """The summary for the model's metadata (plain types; the file by its base name only)."""
        return {
            "file": os.path.basename(self.source),
            "format": self.format,
            "gzipped": self.gzipped,
            "dim": self.dim,
            "words": self.words,
            "found": self.found,
            "found_case_folded": self.found_case_folded,
            "word_coverage": round(self.found / self.words, 6) if self.words else 0.0,
        }


def load_vectors(
    path: str, vocab_tokens: list[str], dim: int | None = None, seed: int = 0
) -> EmbeddingMatrix:
    """The embedding matrix for `vocab_tokens` (index 0 `<pad>`, 1 `<unk>`) from a vector file.

    `dim` is the model's embedding size: a file of another dimension is a DataError (pass None to
    take the file's). Raises DataError, one line naming the file and line, for unreadable or
    malformed files and for a file that holds none of the vocabulary words.
    """
    path = str(path)
    if list(vocab_tokens[:2]) != [PAD, OOV]:
        raise ValueError("a vocabulary starts with the padding and unknown-word entries")
    collector = _Collector(list(vocab_tokens))
    gzipped = _is_gzip(path)
    try:
        binary = _sniff_binary(path, gzipped)
        with _open(path, gzipped) as raw:
            if binary:
                fmt = "word2vec-binary"
                _read_binary(raw, path, collector, dim)
            else:
                text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="\n")
                fmt = _read_text(text, path, collector, dim)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: cannot read ({_reason(error)})") from None
    return collector.finish(path, fmt, gzipped, seed)


def write_vec(path: str, words: list[str], matrix: np.ndarray) -> int:
    """Write word vectors as fastText's `.vec` text (a `count dim` line, then `word v1 ... vd`
    per line), skipping the padding and unknown-word rows; returns the number of words. The
    file is written under a temporary name and renamed, so a failure leaves no partial file;
    `-` writes to stdout."""
    rows = [(word, vector) for word, vector in zip(words, matrix) if word not in (PAD, OOV)]
    if path == "-":
        _write_rows(sys.stdout, rows, matrix.shape[1])
        return len(rows)
    try:
        with atomic_output(path, option="--out") as handle:
            _write_rows(handle, rows, matrix.shape[1])
    except OSError as error:
        raise DataError(f"{path}: cannot write ({_reason(error)})") from None
    return len(rows)


def _write_rows(handle, rows: list[tuple[str, np.ndarray]], dim: int) -> None:
    handle.write(f"{len(rows)} {dim}\n")
    for word, vector in rows:
        handle.write(word + " " + " ".join(f"{value:.5g}" for value in vector) + "\n")


# --- lookup -------------------------------------------------------------------------------------


class _Collector:
    """Which file words are wanted, and the rows kept for them."""

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.exact: dict[str, int] = {}
        self.folded: dict[str, list[int]] = {}
        for i, token in enumerate(tokens[2:], start=2):
            self.exact.setdefault(token, i)
            self.folded.setdefault(token.lower(), []).append(i)
        self.words = len(tokens) - 2
        self.has_exact: set[int] = set()
        self.has_folded: set[int] = set()
        self.matrix: np.ndarray | None = None
        self.dim = 0

    def start(self, dim: int) -> None:
        self.dim = dim
        self.matrix = np.zeros((len(self.tokens), dim), np.float32)

    def targets(self, word: str) -> tuple[int | None, list[int]] | None:
        """The rows still waiting for the vector of `word`: (exact match, case-folded ones)."""
        i = self.exact.get(word)
        exact = i if i is not None and i not in self.has_exact else None
        folded = [
            j
            for j in self.folded.get(word.lower(), ())
            if j not in self.has_exact and j not in self.has_folded and self.tokens[j] != word
        ]
        return None if exact is None and not folded else (exact, folded)

    def store(self, targets: tuple[int | None, list[int]], vector: np.ndarray) -> bool:
        """Keep `vector` for `targets`; True once every vocabulary word has an exact match."""
        exact, folded = targets
        if exact is not None:
            self.matrix[exact] = vector
            self.has_exact.add(exact)
            self.has_folded.discard(exact)
        for j in folded:
            self.matrix[j] = vector
            self.has_folded.add(j)
        return len(self.has_exact) >= len(self.exact)

    def finish(self, path: str, fmt: str, gzipped: bool, seed: int) -> EmbeddingMatrix:
        if self.matrix is None:
            raise DataError(f"{path}: empty file (no word vectors)")
        has = np.zeros(len(self.tokens), bool)
        has[list(self.has_exact | self.has_folded)] = True
        found = int(has.sum())
        if found == 0:
            raise DataError(
                f"{path}: none of the {self.words} vocabulary words has a vector "
                "(is this a word-vector file?)"
            )
        matrix, rng = self.matrix, np.random.default_rng(seed)
        column_mean, mean, std = _statistics(matrix, np.flatnonzero(has))
        if not std > 0:
            std = 1.0 / math.sqrt(self.dim)
        missing = np.flatnonzero(~has[2:]) + 2
        for start in range(0, len(missing), 4096):  # float32 blocks: no float64 copy
            rows = missing[start : start + 4096]
            block = rng.standard_normal((len(rows), self.dim), dtype=np.float32)
            matrix[rows] = block * np.float32(std) + np.float32(mean)
        matrix[0] = 0.0
        matrix[1] = column_mean
        return EmbeddingMatrix(
            matrix=matrix,
            dim=self.dim,
            found=found,
            words=self.words,
            found_case_folded=len(self.has_folded),
            tokens=self.tokens,
            has_vector=has,
            source=path,
            format=fmt,
            gzipped=gzipped,
        )


def _statistics(matrix: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Per-column mean, and mean and std of all values, of `matrix[rows]`, in float64.

    By blocks of rows, so that the extra memory stays small next to the matrix.
    """
    column_sum = np.zeros(matrix.shape[1], np.float64)
    squares = 0.0
    for start in range(0, len(rows), 1024):
        block = matrix[rows[start : start + 1024]].astype(np.float64)
        column_sum += block.sum(axis=0)
        squares += float(np.square(block).sum())
    count = len(rows) * matrix.shape[1]
    mean = float(column_sum.sum()) / count
    return column_sum / len(rows), mean, math.sqrt(max(squares / count - mean * mean, 0.0))


# --- files --------------------------------------------------------------------------------------


def _reason(error: BaseException) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "is a directory"
    if isinstance(error, gzip.BadGzipFile | EOFError | zlib.error):
        return f"damaged gzip data: {error}" if str(error) else "damaged or truncated gzip data"
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def _is_gzip(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == _GZIP_MAGIC
    except OSError as error:
        raise DataError(f"{path}: cannot read ({_reason(error)})") from None


def _open(path: str, gzipped: bool):
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _header(line: bytes | str) -> tuple[int, int] | None:
    """(count, dim) if the line is a word2vec header."""
    parts = line.split()
    if len(parts) != 2:
        return None
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:
        return None


def _sniff_binary(path: str, gzipped: bool) -> bool:
    """Whether the file is in word2vec's binary format: a header, then a record that is not text.

    A `.bin` name (`.bin.gz` too) decides it; otherwise the record after the header must not be
    a line of numbers nor readable text (a malformed text line is then reported as such).
    """
    name = path.lower().removesuffix(".gz")
    with _open(path, gzipped) as raw:
        header = _header(raw.readline(_MAX_LINE))
        if header is None:
            return False
        if name.endswith(".bin"):
            return True
        record = raw.readline(_MAX_LINE)
    if not record:
        return False
    parts = record.split()
    if len(parts) == header[1] + 1 and all(_is_number(p) for p in parts[1:]):
        return False
    try:
        text = record.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return any(ch < " " and ch not in "\t\r\n" for ch in text)


def _is_number(text: str | bytes) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _show(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _text_vector(path: str, number: int, word: str, values: list[str], dim: int) -> np.ndarray:
    try:
        vector = np.fromiter(map(float, values), np.float32, count=dim)
    except ValueError:
        for position, value in enumerate(values, start=1):
            if not _is_number(value):
                raise DataError(
                    f"{path}, line {number}: value {position} of {_show(word)} is "
                    f"{_show(value)}, not a number"
                ) from None
        raise  # pragma: no cover - count was checked by the caller
    if not np.isfinite(vector).all():
        raise DataError(f"{path}, line {number}: the vector of {_show(word)} is not finite")
    return vector


def _check_dim(path: str, file_dim: int, dim: int | None, number: int = 1) -> None:
    if file_dim < 1:
        raise DataError(f"{path}, line {number}: no vector values (dimension {file_dim})")
    if dim is not None and dim != file_dim:
        raise DataError(
            f"{path}, line {number}: the vectors have {file_dim} dimensions but the embedding "
            f"dimension is {dim}; train with --embedding-dim {file_dim} to use this file"
        )


def _read_text(lines, path: str, collector: _Collector, dim: int | None) -> str:
    """Word2vec/fastText text or GloVe; returns the format's name."""
    number = 0
    try:
        numbered = enumerate(lines, start=1)
        first = _next_nonblank(numbered)
        if first is None:
            raise DataError(f"{path}: empty file (no word vectors)")
        number, line = first
        header = _header(line) if number == 1 else None
        if header is not None:
            fmt, file_dim, origin = "word2vec-text", header[1], "the header on line 1"
            _check_dim(path, file_dim, dim)
            first = _next_nonblank(numbered)  # checked in full, wanted or not
            if first is None:
                raise DataError(f"{path}: only a header, no word vectors")
            number, line = first
        else:
            fmt, origin = "glove", f"line {number}"
            file_dim = len(line.split()) - 1
            if file_dim < 1:
                raise DataError(f"{path}, line {number}: a word without values, not a vector line")
            _check_dim(path, file_dim, dim, number)
        collector.start(file_dim)

        def irregular(number: int, line: str) -> tuple[str, list[str]]:
            """A line not made of `word` and dim values separated by single spaces."""
            parts = line.split()
            if len(parts) == file_dim + 1:  # tabs or repeated spaces
                return parts[0], parts[1:]
            if len(parts) > file_dim + 1 and not _is_number(parts[-file_dim - 1]):
                return " ".join(parts[:-file_dim]), parts[-file_dim:]  # a word with spaces (GloVe)
            raise DataError(
                f"{path}, line {number}: {len(parts) - 1} values, expected {file_dim} "
                f"(as on {origin})"
            )

        word, _, rest = line.partition(" ")
        values = rest.split()
        if len(values) != file_dim or "\t" in word:
            word, values = irregular(number, line)
        vector = _text_vector(path, number, word, values, file_dim)  # checked even if not wanted
        targets = collector.targets(word)
        if targets is not None and collector.store(targets, vector):
            return fmt

        # The hot loop: most lines are skipped after a partition, a count and one or two lookups.
        spaces = file_dim - 1
        exact, folded = collector.exact, collector.folded
        for number, line in numbered:
            line = line.rstrip()
            if not line:
                continue
            word, _, rest = line.partition(" ")
            if rest.count(" ") == spaces and "\t" not in word:
                if word not in exact and word.lower() not in folded:
                    continue
                values = rest.split()
                if len(values) != file_dim:  # tabs and repeated spaces that happen to add up
                    word, values = irregular(number, line)
            else:
                word, values = irregular(number, line)
                if word not in exact and word.lower() not in folded:
                    continue
            targets = collector.targets(word)
            if targets is not None:
                vector = _text_vector(path, number, word, values, file_dim)
                if collector.store(targets, vector):
                    break
        return fmt
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}, line {number + 1}: cannot read ({_reason(error)})") from None


def _read_binary(raw, path: str, collector: _Collector, dim: int | None) -> None:
    """Word2vec binary: `count dim` line, then `word ` + dim little-endian float32 (+ newline)."""
    record = 0
    try:
        header = _header(raw.readline(_MAX_LINE))
        if header is None:  # _sniff_binary saw one
            raise DataError(f"{path}, line 1: expected a 'count dim' header")  # pragma: no cover
        count, file_dim = header
        _check_dim(path, file_dim, dim)
        collector.start(file_dim)
        size = 4 * file_dim
        exact, folded = collector.exact, collector.folded
        buffer, pos, eof = b"", 0, False
        for record in range(1, count + 1):
            while True:
                while pos < len(buffer) and buffer[pos] in b"\n\r":  # the optional newline
                    pos += 1
                space = buffer.find(b" ", pos)
                if space >= 0 and len(buffer) >= space + 1 + size:
                    break
                if eof:
                    raise DataError(
                        f"{path}: ends inside vector {record} of {count} (truncated file?)"
                    )
                if space < 0 and len(buffer) - pos > _MAX_LINE:
                    raise DataError(
                        f"{path}, vector {record}: no word ends within {_MAX_LINE} bytes "
                        "(not a word2vec binary file?)"
                    )
                chunk = raw.read(_CHUNK)
                eof = not chunk
                buffer, pos = buffer[pos:] + chunk, 0
            start = space + 1
            word = buffer[pos:space].decode("utf-8", errors="replace")
            pos = start + size
            if record > 1 and word not in exact and word.lower() not in folded:
                continue
            targets = collector.targets(word)
            if record > 1 and targets is None:
                continue
            vector = np.frombuffer(buffer, "<f4", file_dim, start).astype(np.float32)
            if not np.isfinite(vector).all():  # checked on the first vector and on those kept
                raise DataError(
                    f"{path}, vector {record}: the vector of {_show(word)} is not finite"
                )
            if targets is not None and collector.store(targets, vector):
                break
    except (OSError, EOFError, zlib.error) as error:
        where = f"vector {record}" if record else "line 1"
        raise DataError(f"{path}, {where}: cannot read ({_reason(error)})") from None


def _next_nonblank(numbered):
    """The next (line number, line without trailing space) that is not blank, or None."""
    for number, line in numbered:
        line = line.rstrip()
        if line:
            return number, line
    return None
