"""`textrnn train`: fit a model on labelled data and write its model directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli._util import (
    DEFAULT_MODEL,
    STREAM_ABOVE_MB,
    Encoding,
    Format,
    LabelCol,
    LabelSep,
    Lowercase,
    MaxVocab,
    MinCount,
    SpanAlign,
    TagsCol,
    TextCol,
    app,
    command_start,
    fail,
    handled,
    resume_hint,
)


@app.command("train")
@handled
def train_cli(
    data: Annotated[str, typer.Argument(
        help="Training data: a file, - for stdin, or shards (a glob such as 'data/part-*.csv', "
        "or a directory), which are streamed.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write.")] = Path(
        DEFAULT_MODEL),
    valid: Annotated[Optional[str], typer.Option(help="Validation file (default: a split).")
                     ] = None,
    valid_split: Annotated[float, typer.Option(help="Fraction held out for validation.")] = 0.1,
    task: Annotated[Optional[str], typer.Option(
        help="classify, tag or joint (default: what the data has).")] = None,
    encoder: Annotated[Optional[str], typer.Option(
        help="lstm, gru, rnn, jordan, cnn or tree (tree: classification only); default lstm, "
        "or cnn to classify mostly-CJK text.")] = None,
    bidirectional: Annotated[Optional[bool], typer.Option(
        "--bidirectional/--unidirectional", help="Read both ways (default for recurrent).")
    ] = None,
    layers: Annotated[Optional[int], typer.Option(
        min=1, help="Stacked encoder layers (default 1; tree: 1).")] = None,
    units: Annotated[Optional[int], typer.Option(
        min=1, help="Hidden units (CNN: filters per width).")
                     ] = None,
    embedding_dim: Annotated[Optional[int], typer.Option(
        min=1, help="Word embedding size (default 128, 64 for joint models, or the --embeddings "
        "file's).")] = None,
    embeddings: Annotated[Optional[str], typer.Option(
        help="Pretrained word vectors: .vec, GloVe .txt, word2vec .bin, optionally gzipped.")
    ] = None,
    freeze_embeddings: Annotated[bool, typer.Option(
        "--freeze-embeddings", help="Keep the pretrained vectors fixed.")] = False,
    pretrained: Annotated[Optional[str], typer.Option(
        "--pretrained", help="Start the embedding and the encoder from a directory `textrnn "
        "pretrain` wrote (its encoder cell, sizes and features are the defaults).")] = None,
    freeze_epochs: Annotated[Optional[int], typer.Option(
        min=0, help="With --pretrained: epochs the pretrained layers stay fixed while the rest "
        "learns (default 1).")] = None,
    pretrained_lr_scale: Annotated[float, typer.Option(
        help="With --pretrained: the pretrained layers then learn at this times --lr (the "
        "fresh heads at --lr).")] = 1.0,
    char_features: Annotated[Optional[bool], typer.Option(
        "--char-features/--no-char-features",
        help="A character CNN per token, for rare words and typos (default for slot filling)."
    )] = None,
    bigrams: Annotated[Optional[bool], typer.Option(
        "--bigrams/--no-bigrams",
        help="A vector per token for it and its right neighbour: character bigrams, the "
        "nearest thing to words in Chinese (default when most training tokens are CJK)."
    )] = None,
    bigram_dropout: Annotated[float, typer.Option(
        help="Share of bigram vectors dropped in training (TNEWS: macro-F1 +1, accuracy "
        "unchanged).")] = 0.0,
    dropout: Annotated[Optional[float], typer.Option(
        help="Dropout rate (default 0.3; 0.4 for joint models).")] = None,
    crf: Annotated[Optional[bool], typer.Option(
        "--crf/--no-crf", help="CRF tag decoder (default for slot filling).")] = None,
    token_intent: Annotated[Optional[bool], typer.Option(
        "--token-intent/--no-token-intent",
        help="Joint models: an intent per token, averaged for the sentence and read by the "
        "tag head (default for joint models).")] = None,
    slot_substitution: Annotated[Optional[float], typer.Option(
        help="Slot filling: the probability that a slot's value is replaced, in an epoch, by "
        "another value of its type from the training data, so the model learns to find "
        "values from context (default 0.3).")] = None,
    slot_unknown: Annotated[Optional[float], typer.Option(
        help="Slot filling: the probability that a slot's words read as the unknown word in "
        "an epoch (their characters still count) (default 0).")] = None,
    lookup: Annotated[Optional[list[str]], typer.Option(
        "--lookup", help="A lookup list, NAME=FILE: one value per line (UTF-8, plain or "
        "gzipped). Each list gives every token a feature (begins or continues an entry); a "
        "list named after a slot type also lends its values to --slot-substitution. Repeat "
        "for several lists; Rasa YAML lookup: tables and synonyms are read from the data "
        "too.")] = None,
    epochs: Annotated[Optional[int], typer.Option(
        min=1, help="Maximum epochs (default 200: early stopping on the validation score ends "
        "training long before).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        min=1, help="Sentences per batch (default 64, 32 for joint models; fewer for small data).")
    ] = None,
    lr: Annotated[Optional[float], typer.Option(
        "--lr", help="Adam learning rate (default 0.001).")] = None,
    lr_decay: Annotated[Optional[float], typer.Option(
        "--lr-decay", help="Multiply the learning rate by this every 400 updates (default 1; "
        "0.92 for joint models).")] = None,
    warmup: Annotated[int, typer.Option(
        min=0, help="Updates over which the learning rate first rises linearly from 0 to "
        "--lr.")] = 0,
    clipnorm: Annotated[float, typer.Option(min=0, help="Gradient clipping norm (0: off).")] = 1.0,
    patience: Annotated[Optional[int], typer.Option(
        min=0, help="Epochs without improvement before stopping (default 4; 8 for joint models).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same model).")] = 13,
    class_weight: Annotated[Optional[str], typer.Option(
        help="'balanced' to weight classes by inverse frequency.")] = None,
    min_count: MinCount = 1,
    max_vocab: MaxVocab = None,
    lowercase: Lowercase = True,
    text_col: TextCol = None, label_col: LabelCol = None, tags_col: TagsCol = None,
    label_sep: LabelSep = None, encoding: Encoding = "utf-8", fmt: Format = None,
    span_align: SpanAlign = "expand",
    stream: Annotated[Optional[bool], typer.Option(
        "--stream/--no-stream", help="Read the training data from disk as training goes, in "
        f"bounded memory (default: for shards, and files over {STREAM_ABOVE_MB} MB).")] = None,
    steps_per_epoch: Annotated[Optional[int], typer.Option(
        min=1, help="Streaming: batches per epoch (default: one pass over the data).")] = None,
    vocab: Annotated[Optional[str], typer.Option(
        "--vocab", help="A fixed vocabulary file, one token per line, most frequent first.")
    ] = None,
    workers: Annotated[Optional[str], typer.Option(
        "--workers", help="Train on several machines: every worker's host:port, the same "
        "list on each (or set TF_CONFIG). Worker 0 writes the model.")] = None,
    worker_index: Annotated[Optional[int], typer.Option(
        "--worker-index", min=0, help="This machine's place in --workers, from 0.")] = None,
    worker_timeout: Annotated[float, typer.Option(
        "--worker-timeout", help="Seconds to wait for every worker to join (and for any "
        "step) before failing.")] = 300,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue from the last epoch checkpoint of an interrupted run "
        "(with --autotune: continue its search).")] = False,
    save_on_interrupt: Annotated[bool, typer.Option(
        "--save-on-interrupt", help="On Ctrl-C, save the best model so far.")] = False,
    plot: Annotated[bool, typer.Option(
        "--plot", help="Also draw training curves and a confusion matrix (PNG) into --out; "
        "needs textrnn[plot].")] = False,
    tensorboard: Annotated[Optional[Path], typer.Option(
        "--tensorboard", help="Write TensorBoard logs to this directory; needs "
        "textrnn[tensorboard].")] = None,
    autotune: Annotated[Optional[str], typer.Option(
        "--autotune", help="Search for the best model within this time (90s, 20m, 1h, or "
        "seconds; the whole command included): trial 0 is the default model, options given "
        "here stay fixed; --out gets the best trial's model and autotune.json. Needs "
        "textrnn[tune].")] = None,
    autotune_metric: Annotated[Optional[str], typer.Option(
        "--autotune-metric", help="What --autotune maximises on the validation data: "
        "accuracy, macro_f1, weighted_f1, micro_f1, slot_f1, intent_accuracy, frame_accuracy, "
        "or f1:LABEL (default: accuracy, span F1 for tagging, frame accuracy for joint "
        "models).")] = None,
    autotune_trials: Annotated[Optional[int], typer.Option(
        "--autotune-trials", min=1, help="At most this many trials (with --seed: the same "
        "trials and winner on a rerun).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
):
    """Train a model on DATA and write it to --out (replaced only once training succeeded)."""
    options = dict(locals(), format=fmt)  # the API's options: the same names and defaults
    for cli_only in ("fmt", "quiet", "json_out"):
        del options[cli_only]
    from textrnn import api, report
    from textrnn.train import interrupts

    def summary(meta: dict, worker: int | None) -> None:
        if json_out:  # every worker prints its summary (the tests compare their weights)
            if autotune is None:  # else with the search's record, at its end
                report.write_json(_summary_json(meta))
        elif worker is not None:
            report.err.print(f"worker {worker} done; worker 0 writes the model")
        elif not quiet:
            report.print_train_summary(meta, str(out))

    try:
        meta, _ = api.run_training(progress=not quiet, summary=summary,
                                   started=command_start(), **options)
    except interrupts.TrainingInterrupted as stop:
        fail(f"interrupted; {out} is as it was ({resume_hint(stop)})", 130)
    except api.InterruptedWhileSaving:
        fail(f"interrupted while saving; {out} holds the new model", 130)
    if "autotune" in meta:
        _end_search(meta, str(out), quiet, json_out)
        return
    training = meta["training"]
    if training["interrupted"]:
        fail(f"interrupted; saved the best model so far (epoch {training['best_epoch']}) to "
             f"{out}", 130)


def _summary_json(meta: dict) -> dict:
    return {key: meta[key] for key in ("task", "model", "training", "metrics")}


def _end_search(meta: dict, out: str, quiet: bool, json_out: bool) -> None:
    """After --autotune: the top trials and the winner as a command (the model's summary
    came first), or the summary and the search's record as JSON; exit 130 if Ctrl-C ended
    the search."""
    from textrnn import report

    record = meta["autotune"]
    if json_out:
        report.write_json({**_summary_json(meta), "autotune": record})
    elif not quiet:
        report.print_autotune(record, train_command(record), report.err)
    if record["interrupted"]:
        fail(f"interrupted; kept the best model so far (trial {record['best_trial']}) in {out}; "
             "--resume continues the search", 130)


def train_command(record: dict, trial: int | None = None) -> str:
    """The `textrnn train` command that trains a trial of a search (default: the winner)
    again: the options the user gave, the trial's that differ from the defaults, the seed;
    the epochs it ran when the budget stopped it."""
    import shlex

    import typer.main

    number = record["best_trial"] if trial is None else trial
    entry = next(entry for entry in record["trials"] if entry["trial"] == number)
    options = {**record["given"], **entry["changes"], "seed": record["seed"]}
    if entry["cut"]:
        options["epochs"] = entry["epochs"]
    words = ["textrnn", "train"]
    for parameter in typer.main.get_command(app).commands["train"].params:
        name = "format" if parameter.name == "fmt" else parameter.name
        if name not in options:
            continue
        value = options[name]
        if not parameter.opts[0].startswith("-"):  # the data argument
            words.append(shlex.quote(str(value)))
        elif parameter.secondary_opts and not value:
            words.append(parameter.secondary_opts[0])
        elif parameter.is_flag:
            words.append(parameter.opts[0])
        else:
            for item in value if parameter.multiple else [value]:
                words += [parameter.opts[0], shlex.quote(str(item))]
    return " ".join(words)
