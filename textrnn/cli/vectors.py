"""`textrnn vectors`: a pretrained directory's word vectors as a fastText `.vec` file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from textrnn.cli._util import app, handled


@app.command("vectors")
@handled
def vectors_cli(
    directory: Annotated[Path, typer.Argument(help="A pretrained directory (textrnn pretrain).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .vec file to write (- for "
                                      "stdout).")],
):
    """Write the word vectors of a pretrained directory in fastText's .vec format (usable with
    `textrnn train --embeddings`, gensim, fastText)."""
    from textrnn import pretrained
    from textrnn.data.vectors import write_vec
    from textrnn.report import err

    meta, weights = pretrained.load(directory)
    matrix = weights["embedding"][0]
    count = write_vec(str(out), meta["vocab"], matrix)
    err.print(f"wrote {count:,} word vectors of dimension {matrix.shape[1]} to "
              f"{'stdout' if str(out) == '-' else out}")
