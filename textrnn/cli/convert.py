"""`textrnn convert`: move labelled data between formats, naming what cannot be carried over."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

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


@app.command("convert")
@handled
def convert_cli(
    data: Annotated[str, typer.Argument(help="Labelled data in any format we read, or -.")],
    out: Annotated[str, typer.Argument(help="File to write, or - for stdout (with --to).")],
    to: Annotated[Optional[str], typer.Option(
        "--to", "-t", help="Output format (default: by OUT's extension: .yml rasa, .txt "
        "markup, .jsonl spans for slot data, .csv, .tsv, .conll, .ft, .parquet).")] = None,
    text_col: TextCol = None, label_col: LabelCol = None, tags_col: TagsCol = None,
    label_sep: LabelSep = None, encoding: Encoding = "utf-8", fmt: Format = None,
    span_align: SpanAlign = "expand",
):
    """Convert DATA to OUT: tables, CoNLL, fastText, markup, Rasa YAML, span JSON lines."""
    from textrnn.api import read_data
    from textrnn.data.write import lost, output_format, write_corpus
    from textrnn.files import check_output
    from textrnn.report import err

    if out != "-":
        check_output(out, (data,), "OUT")
    corpus = read_data(data, text_col, label_col, tags_col, label_sep, encoding, fmt,
                       span_align=span_align)
    target = output_format(out, corpus, to)
    for what in lost(corpus, target):
        err.print(f"[yellow]not carried over:[/] {what}")
    write_corpus(corpus, out, target, inputs=(data,))
    if out != "-":
        err.print(f"wrote {len(corpus.examples)} examples to {out} ({target})")
