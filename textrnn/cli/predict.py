"""`textrnn predict`: label texts, one result per input line, streamed in batches."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli._util import (
    DEFAULT_MODEL,
    EngineOption,
    ModelOption,
    app,
    handled,
    note_engine,
)
from textrnn.errors import UsageError
from textrnn.files import atomic_output, check_output

FORMATS = ("table", "jsonl", "tsv", "label", "markup", "rasa", "html")
SORTED_FORMATS = ("html", "rasa")

@app.command("predict")
@handled
def predict_cli(
    texts: Annotated[Optional[list[str]], typer.Argument(
        help="Texts to label; - (or none, with a pipe) reads lines from stdin.")] = None,
    model: ModelOption = Path(DEFAULT_MODEL),
    output_format: Annotated[Optional[str], typer.Option(
        "--format", "-f", help="table, jsonl, tsv, label, markup (one '[Taipei](destination)' "
        "line per input, 'intent<TAB>' first) or rasa (Rasa NLU YAML grouped by intent, least "
        "confident first, for review; reads the whole input before writing, keeping one line "
        "of markup per input; blank lines are left out) or html (a page to open in a browser: "
        "one <div> per input line, slots highlighted, a legend). Default: table on a terminal, "
        "jsonl in a pipe.")] = None,
    input_file: Annotated[Optional[Path], typer.Option("--input", "-i", help="Read lines from "
                                                       "this file.")] = None,
    output_file: Annotated[Optional[Path], typer.Option("--output", help="Write here.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1,
                                       help="Also list the K best labels.")] = 1,
    threshold: Annotated[Optional[float], typer.Option(
        min=0, max=1, help="Only labels with probability >= P (multi-label default 0.5).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Lines per batch.")] = 256,
    engine: EngineOption = "auto",
    sort: Annotated[Optional[str], typer.Option(
        help="confidence: the least confident sentences first, blank lines left out (--format "
        "html; rasa always orders so).")] = None,
):
    """Label texts: one result per input line, in order, streamed in batches."""
    from textrnn import api, report

    fmt = output_format or ("table" if (output_file is None and sys.stdout.isatty())
                            else "jsonl")
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format '{fmt}' (choose from {', '.join(FORMATS)})")
    api.check_predict_options(top_k, batch_size, threshold)
    if sort not in (None, "confidence"):
        raise UsageError(f"unknown --sort '{sort}' (the one order is confidence)")
    if sort and fmt not in SORTED_FORMATS:
        raise UsageError(f"--sort confidence needs --format html or rasa (--format {fmt} keeps "
                         "one output line per input line, in order)")
    from_stdin = texts in (None, [], ["-"])
    if from_stdin and input_file is None and sys.stdin.isatty():
        raise UsageError("give a text to label, or pipe lines on stdin (textrnn predict -)")
    if input_file is not None and not input_file.is_file():
        raise UsageError(f"--input {input_file}: no such file")
    if output_file is not None:
        check_output(output_file, (input_file,), "--output")
    if input_file is not None:
        _warn_if_data_file(input_file)
    meta = note_engine(model, engine)
    if fmt == "rasa" and meta["task"] == "tag":
        raise UsageError("--format rasa groups examples by intent, and this model predicts "
                         "slots only (use --format markup)")
    loaded = api.load(model, engine)
    from contextlib import ExitStack

    from textrnn.predict.lines import line_batches

    with ExitStack() as files:
        if input_file is not None:
            source = files.enter_context(open(input_file, "rb"))
        else:
            source = sys.stdin.buffer if from_stdin else None
        sink = (files.enter_context(atomic_output(output_file, inputs=(input_file,),
                                                  option="--output"))
                if output_file else sys.stdout)
        # Read many batches' worth at a time: the predictor sorts them by length, so each model
        # batch holds sentences of about one length (mixed 256-line batches pad twice the work).
        chunk = batch_size * api.READ_AHEAD_BATCHES
        batches = line_batches(source, chunk) if source is not None else [texts]
        console = report.Output(file=sink)
        review = []  # --format rasa: (intent, probability, markup) per input, written at the end
        html = (report.HtmlPredictions(sink, loaded.slots, model.resolve().name,
                                       by_confidence=sort == "confidence")
                if fmt == "html" else None)
        truncated = 0
        for batch in batches:
            results = loaded.predict(batch, top_k, threshold, batch_size=batch_size,
                                     slot_confidence=html is not None)
            truncated += sum("truncated" in result for result in results)
            if fmt == "table":
                report.print_predictions_table(results, console)
            elif fmt == "rasa":
                review += [report.rasa_item(r) for r in results if r["text"].strip()]
            elif html:
                html.add(results)
            else:
                sink.write("".join(report.prediction_line(r, fmt) + "\n" for r in results))
            sink.flush()
        if fmt == "rasa":
            sink.write(report.rasa_predictions(review))
        if html:
            html.close()
    if truncated and fmt not in ("jsonl", "table"):  # those two mark each truncated input
        report.err.print(f"[yellow]warning:[/] {truncated} input line(s) longer than the "
                         f"model's maximum of {loaded.max_len} tokens were cut to it "
                         "(--format jsonl marks each with \"truncated\": true)")


def _warn_if_data_file(path: Path) -> None:
    """predict reads plain lines: a data file's header and separators would be labelled too."""
    from textrnn.data.read import SUFFIXES
    from textrnn.report import err

    if path.suffix.lower() in SUFFIXES:
        err.print(f"[yellow]warning:[/] {path}: predict labels each line as it is, a "
                  f"{path.suffix} file's header and separators too (it reads one text a line; "
                  f"`textrnn eval {path}` scores labelled data)")
