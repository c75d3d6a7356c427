"""`textrnn eval`: score a model on labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli._util import (
    DEFAULT_MODEL,
    Encoding,
    EngineOption,
    Format,
    LabelCol,
    LabelSep,
    ModelOption,
    SpanAlign,
    TagsCol,
    TextCol,
    app,
    handled,
    note_engine,
)
from textrnn.files import atomic_output, check_output


@app.command("eval")
@handled
def evaluate_cli(
    data: Annotated[str, typer.Argument(help="Labelled test data, or - for stdin.")],
    model: ModelOption = Path(DEFAULT_MODEL),
    json_out: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
    output: Annotated[Optional[Path], typer.Option("--output", help="Also save JSON here.")
                      ] = None,
    errors: Annotated[int, typer.Option("--errors", min=0, help="Show N wrong predictions.")] = 0,
    engine: EngineOption = "auto",
    text_col: TextCol = None, label_col: LabelCol = None, tags_col: TagsCol = None,
    label_sep: LabelSep = None, encoding: Encoding = "utf-8", fmt: Format = None,
    span_align: SpanAlign = "expand",
):
    """Score a model on labelled DATA: accuracy and F1, or span F1 for slots."""
    from textrnn import api, report

    if output:
        check_output(output, (data,), "--output")
    note_engine(model, engine)
    result = api.evaluate(data, model, errors=errors, engine=engine, text_col=text_col,
                          label_col=label_col, tags_col=tags_col, label_sep=label_sep,
                          encoding=encoding, format=fmt, span_align=span_align)
    if output:
        with atomic_output(output, inputs=(data,), option="--output") as handle:
            report.write_json(result, handle)
    if json_out:
        report.write_json(result)
    else:
        report.print_eval(result, report.Output())
