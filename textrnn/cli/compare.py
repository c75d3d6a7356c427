"""`textrnn compare`: train several encoders on the same data, split and seed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn import bundle
from textrnn.cli._util import (
    Encoding,
    Format,
    LabelCol,
    LabelSep,
    SpanAlign,
    TagsCol,
    TextCol,
    app,
    handled,
)
from textrnn.errors import UsageError


@app.command("compare")
@handled
def compare_cli(
    data: Annotated[str, typer.Argument(help="Training data file, or - for stdin.")],
    encoders: Annotated[Optional[str], typer.Option(
        help="Comma-separated encoders to train (default: all that suit the task).")] = None,
    valid: Annotated[Optional[str], typer.Option(help="Validation file (default: a split).")
                     ] = None,
    valid_split: Annotated[float, typer.Option(help="Fraction held out for validation.")] = 0.1,
    task: Annotated[Optional[str], typer.Option(help="classify, tag or joint.")] = None,
    epochs: Annotated[Optional[int], typer.Option(
        min=1, help="Maximum epochs (default 200: early stopping ends training long before).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed, the same for every encoder.")] = 13,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Keep the best model here.")
                   ] = None,
    text_col: TextCol = None, label_col: LabelCol = None, tags_col: TagsCol = None,
    label_sep: LabelSep = None, encoding: Encoding = "utf-8", fmt: Format = None,
    span_align: SpanAlign = "expand",
    json_out: Annotated[bool, typer.Option("--json", help="Print the table as JSON.")] = False,
):
    """Train each encoder with the same data, split and seed; one table to choose from."""
    from textrnn.api import quiet_tensorflow, training_data
    from textrnn.nn.factory import ENCODERS, encoders_for

    names = [name.strip() for name in (encoders or ",".join(ENCODERS)).split(",")
             if name.strip()]
    unknown = [name for name in names if name not in ENCODERS]
    if unknown or not names:
        raise UsageError(f"unknown encoder(s) {', '.join(unknown) or '(none)'} "
                         f"(choose from {', '.join(ENCODERS)})")
    if out is not None:
        bundle.check_target(out)
    if valid is None and not 0 < valid_split < 1:
        raise UsageError("compare scores on validation data: give --valid FILE or a "
                         "--valid-split in (0, 1)")
    corpus, valid_corpus, task = training_data(data, valid, task, text_col, label_col,
                                                tags_col, label_sep, encoding, fmt,
                                                span_align=span_align)
    if encoders is None:
        names = encoders_for(task)
    quiet_tensorflow()
    from textrnn import report
    from textrnn.nn import saving
    from textrnn.train.compare import compare as run_compare
    from textrnn.train.prepare import TrainConfig

    config = TrainConfig(epochs=epochs, valid_split=valid_split, seed=seed)
    rows, best = run_compare(corpus, valid_corpus, names, config, task,
                             progress=lambda name: report.err.print(f"training {name} ..."))
    if out is not None:
        saving.save(out, best[0], {**best[1], "label_sep": label_sep})
    if json_out:
        report.write_json(rows)
    else:

        report.print_compare(rows, report.Output(), out)
