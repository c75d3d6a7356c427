"""`textrnn pretrain`: learn the embedding and a recurrent encoder from unlabelled text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.api import DEFAULT_PRETRAINED
from textrnn.cli._util import (
    STREAM_ABOVE_MB,
    Encoding,
    Lowercase,
    MaxVocab,
    MinCount,
    TextCol,
    app,
    fail,
    handled,
    resume_hint,
)


@app.command("pretrain")
@handled
def pretrain_cli(
    corpus: Annotated[list[str], typer.Argument(
        help="Unlabelled text: plain text files (one sentence a line), or the text column of "
        "any file `train` reads (by suffix, or --format), - for stdin, or shards (a glob or a "
        "directory), which are streamed.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Pretrained directory to write.")
                   ] = Path(DEFAULT_PRETRAINED),
    encoder: Annotated[str, typer.Option(help="The recurrent cell: lstm, gru or rnn (train's "
                                         "--encoder must match to carry the encoder over).")
                       ] = "lstm",
    units: Annotated[Optional[int], typer.Option(min=1, help="Hidden units per direction.")
                     ] = None,
    embedding_dim: Annotated[Optional[int], typer.Option(min=1, help="Word embedding size.")
                             ] = None,
    char_features: Annotated[Optional[bool], typer.Option(
        "--char-features/--no-char-features",
        help="Also learn the character CNN (train's default for slot filling; fine-tuning "
        "follows this directory's choice).")] = None,
    bigrams: Annotated[Optional[bool], typer.Option(
        "--bigrams/--no-bigrams",
        help="Also learn bigram vectors (default when most tokens are CJK).")] = None,
    dropout: Annotated[Optional[float], typer.Option(help="Dropout rate.")] = None,
    epochs: Annotated[Optional[int], typer.Option(
        min=1, help="Maximum epochs (default 20; early stopping on).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        min=1, help="Sentences per batch (default 64, fewer for small data).")] = None,
    lr: Annotated[Optional[float], typer.Option(
        "--lr", help="Adam learning rate (default 0.001).")] = None,
    clipnorm: Annotated[float, typer.Option(min=0, help="Gradient clipping norm (0: off).")
                        ] = 1.0,
    patience: Annotated[Optional[int], typer.Option(
        min=0, help="Epochs without a better held-out perplexity before stopping (default 3).")
    ] = None,
    valid_split: Annotated[float, typer.Option(
        help="Fraction held out for perplexity (at most about 5,000 sentences).")] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same result).")] = 13,
    min_count: MinCount = 1,
    max_vocab: MaxVocab = None,
    lowercase: Lowercase = True,
    text_col: TextCol = None, encoding: Encoding = "utf-8",
    fmt: Annotated[Optional[str], typer.Option(
        "--format", help="text (one sentence a line), csv, tsv, jsonl, parquet, fasttext or "
        "conll (default: by suffix; plain text without one).")] = None,
    stream: Annotated[Optional[bool], typer.Option(
        "--stream/--no-stream", help="Read the text from disk as training goes (default: for "
        f"shards, and files over {STREAM_ABOVE_MB} MB).")] = None,
    steps_per_epoch: Annotated[Optional[int], typer.Option(
        min=1, help="Streaming: batches per epoch (default: one pass over the text).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue from the last epoch checkpoint of an interrupted run.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
):
    """Train forward and backward language models on CORPUS and write the embedding and
    encoder they learn to --out, for `textrnn train DATA --pretrained DIR`."""
    options = dict(locals(), format=fmt)  # the API's options: the same names and defaults
    for cli_only in ("fmt", "quiet", "json_out"):
        del options[cli_only]
    from textrnn import api, report
    from textrnn.train import interrupts

    def summary(meta: dict) -> None:
        if json_out:
            report.write_json({key: meta[key] for key in ("model", "corpus", "perplexity",
                                                          "training")})
        elif not quiet:
            report.print_pretrain_summary(meta, str(out))

    try:
        api.run_pretraining(progress=not quiet, summary=summary, **options)
    except interrupts.TrainingInterrupted as stop:
        fail(f"interrupted; {out} is as it was ({resume_hint(stop)})", 130)
    except api.InterruptedWhileSaving:
        fail(f"interrupted while saving; {out} holds the new model", 130)
