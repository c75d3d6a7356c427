"""Reading lines in batches from a pipe or file, with bounded memory.

A batch is handed on when it is full, or as soon as the input pauses, so that a person typing
into `textrnn predict` gets each answer at once while a fast pipe still gets full batches.
"""

from __future__ import annotations

import io
import os
import select
from collections.abc import Iterator

PAUSE_SECONDS = 0.05


def line_batches(stream, size: int) -> Iterator[list[str]]:
    """Lists of at most `size` lines (decoded as UTF-8, newline stripped), in input order; a
    UTF-8 byte-order mark before the first line is dropped, as the data readers drop it."""
    batches = _batches(stream, size)
    first = next(batches, None)
    if first is None:
        return
    first[0] = first[0].removeprefix("\ufeff")
    yield first
    yield from batches


def _batches(stream, size: int) -> Iterator[list[str]]:
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        yield from _plain_batches(stream, size)
        return
    pending = b""
    batch: list[str] = []
    while True:
        if batch and not select.select([fd], [], [], PAUSE_SECONDS)[0]:
            yield batch
            batch = []
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        batch.extend(_decode(line) for line in lines)
        while len(batch) >= size:
            yield batch[:size]
            batch = batch[size:]
    if pending:
        batch.append(_decode(pending))
    if batch:
        yield batch


def _plain_batches(stream, size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for line in stream:
        batch.append(_decode(line.rstrip(b"\n")) if isinstance(line, bytes)
                     else line.rstrip("\n").rstrip("\r"))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _decode(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").rstrip("\r")
