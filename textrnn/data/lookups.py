"""Lookup list files (`textrnn train --lookup NAME=FILE`): one value per line, UTF-8, plain or
gzipped. Blank lines and repeated values are left out and counted; a file that cannot be read,
is not UTF-8 or holds no value is one error naming the file (and the line)."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass

from textrnn.errors import DataError, UsageError

GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class LookupFile:
    name: str
    entries: list[str]  # distinct values, stripped, in file order
    note: str | None = None  # what was left out, if anything


def parse_option(option: str) -> tuple[str, str]:
    """`NAME=FILE` -> (name, file)."""
    name, equals, path = option.partition("=")
    if not equals or not name.strip() or not path:
        raise UsageError(f"--lookup {option}: expected NAME=FILE (e.g. --lookup city=cities.txt)")
    return name.strip(), path


def read_lookup_file(name: str, path: str) -> LookupFile:
    """The values of one list file."""
    raw = _read(path)
    entries: dict[str, None] = {}
    blank = repeated = 0
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            value = line.decode("utf-8").removeprefix("\ufeff").strip()
        except UnicodeDecodeError as error:
            raise DataError(f"{path}, line {number}: byte 0x{line[error.start]:02x} is not "
                            "valid UTF-8 (a lookup list is UTF-8 text, one value per line)"
                            ) from None
        if not value:
            blank += 1
        elif value in entries:
            repeated += 1
        else:
            entries[value] = None
    if not entries:
        raise DataError(f"{path}, line 1: no values (a lookup list has one value per line)")
    left_out = [f"{count} {what}" for count, what in ((blank, "blank line(s)"),
                                                      (repeated, "repeated value(s)")) if count]
    note = f"{path}: left out {' and '.join(left_out)}" if left_out else None
    return LookupFile(name, list(entries), note)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file (--lookup NAME=FILE)") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a lookup list file") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None
    if raw.startswith(GZIP_MAGIC):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise DataError(f"{path}: damaged gzip file ({error})") from None
    return raw
