"""`textrnn pretrain`: learn the embedding and a recurrent encoder from unlabelled text."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Annotated, Optional

import typer

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
    quiet_tensorflow,
    read_data,
    resume_hint,
    streams,
    written_whole,
)

DEFAULT_OUT = "textrnn-pretrained"


@app.command("pretrain")
@handled
def pretrain_cli(
    corpus: Annotated[list[str], typer.Argument(
        help="Unlabelled text: plain text files (one sentence a line), or the text column of "
        "any file `train` reads (by suffix, or --format), - for stdin, or shards (a glob or a "
        "directory), which are streamed.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Pretrained directory to write.")
                   ] = Path(DEFAULT_OUT),
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
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.")] = 1e-3,
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
    from textrnn import bundle
    from textrnn.train.prepare import TrainConfig
    from textrnn.train.pretrain import pretrain_spec

    bundle.check_target(out)
    spec = pretrain_spec(encoder, units=units, embedding_dim=embedding_dim,
                         char_features=char_features, bigrams=bigrams, dropout=dropout)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=lr,
                         clipnorm=clipnorm, patience=patience, valid_split=valid_split,
                         seed=seed, min_count=min_count, max_vocab=max_vocab,
                         lowercase=lowercase, steps_per_epoch=steps_per_epoch)
    data = _unlabelled(corpus, text_col, encoding, fmt, stream)
    quiet_tensorflow()
    from textrnn import pretrained, report
    from textrnn.train import checkpoint, interrupts
    from textrnn.train.pretrain import pretrain

    checkpoints = checkpoint.directory_for(out)
    progress = None if quiet else report.TrainingProgress()
    with interrupts.catching():
        try:
            meta, weights = pretrain(data, spec, config, progress, checkpoints, resume)
        except interrupts.TrainingInterrupted as stop:
            fail(f"interrupted; {out} is as it was ({resume_hint(stop)})", 130)
        with written_whole(out):
            pretrained.save(out, meta, weights)
            shutil.rmtree(checkpoints, ignore_errors=True)
            if json_out:
                report.write_json({key: meta[key] for key in ("model", "corpus", "perplexity",
                                                              "training")})
            elif not quiet:
                report.print_pretrain_summary(meta, str(out))

def _unlabelled(paths: list[str], text_col, encoding: str, fmt, stream):
    """The text to pretrain on: Shards to stream, or one corpus in memory."""
    from textrnn.data.examples import Corpus, ReadOptions
    from textrnn.errors import UsageError

    if "-" in paths and (len(paths) > 1 or stream):
        raise UsageError("- (stdin) is read whole and alone: pass files to stream or combine")
    if any(streams(path, stream) for path in paths):
        from textrnn.data.shards import Shards

        return Shards(paths, ReadOptions(text_col=text_col, encoding=encoding, format=fmt,
                                         unlabelled=True))
    corpora = [read_data(path, text_col, None, None, None, encoding, fmt, unlabelled=True)
               for path in paths]
    if len(corpora) == 1:
        return corpora[0]
    digest = hashlib.sha256("".join(each.sha256 for each in corpora).encode()).hexdigest()
    return Corpus(" ".join(paths), [example for each in corpora for example in each.examples],
                  sha256=digest)
