"""Writing output files without losing the user's data.

Every file a command writes goes through `atomic_output`: it is checked before any work starts
(not one of the inputs, its folder exists, not a folder itself), written under a temporary
name beside it, and renamed into place only when the writing succeeded. An interrupted or
failed run therefore leaves the previous file as it was, and `--input q --output q` is refused
instead of emptying `q`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from textrnn.errors import UsageError


def check_output(path: str | os.PathLike, inputs: tuple = (), option: str = "output") -> None:
    """Refuse an output that is one of `inputs` (also through links), a folder, or in a folder
    that does not exist. `option` names the output in the message (`--output`, `OUT`)."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{option} {path}: is a folder (give a file name)")
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: no such folder {folder}/ (create it first)")
    for source in inputs:
        if source in (None, "-") or not Path(source).exists():
            continue
        if _same_file(target, Path(source)):
            raise UsageError(f"{option} {path} is the input {source}: it would be overwritten "
                             "(write to another file)")


def _same_file(a: Path, b: Path) -> bool:
    if a.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "w", inputs: tuple = (),
                  option: str = "output") -> Iterator[IO]:
    """Open a temporary file beside `path` for writing; on success it replaces `path` (keeping
    an existing file's permissions), on any error or interruption it is removed."""
    check_output(path, inputs, option)
    target = Path(path)
    handle_fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                            dir=target.parent)
    try:
        text = "b" not in mode
        with os.fdopen(handle_fd, mode, **({"encoding": "utf-8", "newline": ""} if text
                                           else {})) as handle:
            yield handle
        mode_bits = target.stat().st_mode if target.exists() else _default_mode()
        os.chmod(temporary, mode_bits & 0o7777)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def _default_mode() -> int:
    """What `open(path, "w")` would give a new file: 0o666 less the umask (mkstemp uses 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
