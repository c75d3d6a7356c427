"""The `textrnn` command line. Each command parses its options and calls plain functions;
TensorFlow, Keras and pandas are imported only inside the commands that need them, so
`textrnn --help` and argument errors answer at once."""

from __future__ import annotations

import os

# NumPy's OpenBLAS threads busy-wait and collapse when the cores are shared; the NumPy engine
# runs the two directions of a BiRNN in threads of its own instead. Must precede numpy's import.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import functools  # noqa: E402
import shutil
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn import __version__
from textrnn.errors import TextrnnError, UsageError

app = typer.Typer(
    name="textrnn",
    help="Train, evaluate and run recurrent text classifiers and slot fillers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_state = {"debug": False}
DEFAULT_MODEL = "textrnn-model"
READ_AHEAD_BATCHES = 16
STREAM_ABOVE_MB = 200  # larger training files are streamed (pandas would need ~5x in memory)

ModelOption = Annotated[Path, typer.Option("--model", "-m", help="Model directory.")]
TextCol = Annotated[Optional[str], typer.Option("--text-col", help="Text column name.")]
LabelCol = Annotated[Optional[str], typer.Option("--label-col", help="Label column name.")]
TagsCol = Annotated[Optional[str], typer.Option("--tags-col", help="BIO tags column name.")]
LabelSep = Annotated[Optional[str], typer.Option(
    "--label-sep", help="Several labels per row, split on this (multi-label).")]
Encoding = Annotated[str, typer.Option("--encoding", help="Text encoding of the data file.")]
EngineOption = Annotated[str, typer.Option(
    "--engine", help="auto (NumPy when the model has it), numpy (no TensorFlow) or keras.")]
Format = Annotated[Optional[str], typer.Option(
    "--format", help="Data format: csv, tsv, jsonl, parquet, fasttext, conll (default: sniffed).")]


def _version(value: bool):
    if value:
        typer.echo(f"textrnn {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
):
    _state["debug"] = debug


def _handled(command):
    """Turn our errors into one line on stderr and an exit code; tracebacks only with --debug."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except TextrnnError as error:
            if _state["debug"]:
                raise
            _fail(f"error: {error}", error.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:  # e.g. `textrnn predict - | head`
            sys.stderr.close()
            raise typer.Exit(0) from None
        except Exception as error:
            if _state["debug"]:
                raise
            _fail(f"internal error: {type(error).__name__}: {error} (rerun with --debug for the "
                  "traceback)", 1)

    return wrapper


def _fail(message: str, code: int):
    typer.echo(f"textrnn: {message}", err=True)
    raise typer.Exit(code)


def _quiet_tensorflow():
    """Import TensorFlow with its C++ start-up chatter (absl, oneDNN notices) silenced."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings

    warnings.filterwarnings("ignore", module="keras")
    if _state["debug"] or "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _predictor(model: Path, meta: dict, engine: str):
    """A Predictor on the NumPy engine when the model has it (no TensorFlow import: fast
    start), else on Keras, with a one-line notice when the user did not ask for Keras."""
    from textrnn.predict.predictor import Predictor, engine_for

    chosen = engine_for(meta, engine)
    if chosen == "keras":
        if engine == "auto":
            reason = meta.get("engine", {}).get("reason", "saved by an older textrnn")
            typer.echo(f"textrnn: note: predicting with TensorFlow, slower to start ({reason})",
                       err=True)
        _quiet_tensorflow()
    return Predictor.load(str(model), chosen)


def _read(path: str, text_col, label_col, tags_col, label_sep, encoding, fmt):
    from textrnn.data.examples import ReadOptions
    from textrnn.data.read import read_corpus
    from textrnn.report import err

    corpus = read_corpus(path, ReadOptions(text_col, label_col, tags_col, label_sep, encoding,
                                           fmt))
    for warning in corpus.warnings:
        err.print(f"[yellow]warning:[/] {warning}")
    return corpus


@app.command()
@_handled
def train(
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
    layers: Annotated[int, typer.Option(help="Stacked encoder layers (tree: 1).")] = 1,
    units: Annotated[Optional[int], typer.Option(help="Hidden units (CNN: filters per width).")
                     ] = None,
    embedding_dim: Annotated[Optional[int], typer.Option(
        help="Word embedding size (default 128, or the --embeddings file's).")] = None,
    embeddings: Annotated[Optional[str], typer.Option(
        help="Pretrained word vectors: .vec, GloVe .txt, word2vec .bin, optionally gzipped.")
    ] = None,
    freeze_embeddings: Annotated[bool, typer.Option(
        "--freeze-embeddings", help="Keep the pretrained vectors fixed.")] = False,
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
    dropout: Annotated[float, typer.Option(help="Dropout rate.")] = 0.3,
    crf: Annotated[Optional[bool], typer.Option(
        "--crf/--no-crf", help="CRF tag decoder (default for slot filling).")] = None,
    epochs: Annotated[int, typer.Option(help="Maximum epochs (early stopping on).")] = 40,
    batch_size: Annotated[Optional[int], typer.Option(
        help="Sentences per batch (default 64, fewer for small data).")] = None,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.")] = 1e-3,
    clipnorm: Annotated[float, typer.Option(help="Gradient clipping norm (0: off).")] = 1.0,
    patience: Annotated[int, typer.Option(help="Epochs without improvement before stopping.")
                        ] = 4,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same model).")] = 13,
    class_weight: Annotated[Optional[str], typer.Option(
        help="'balanced' to weight classes by inverse frequency.")] = None,
    min_count: Annotated[int, typer.Option(help="Minimum count for a vocabulary word.")] = 1,
    max_vocab: Annotated[Optional[int], typer.Option(help="Vocabulary size limit.")] = None,
    lowercase: Annotated[bool, typer.Option("--lowercase/--keep-case")] = True,
    text_col: TextCol = None, label_col: LabelCol = None, tags_col: TagsCol = None,
    label_sep: LabelSep = None, encoding: Encoding = "utf-8", fmt: Format = None,
    stream: Annotated[Optional[bool], typer.Option(
        "--stream/--no-stream", help="Read the training data from disk as training goes, in "
        f"bounded memory (default: for shards, and files over {STREAM_ABOVE_MB} MB).")] = None,
    steps_per_epoch: Annotated[Optional[int], typer.Option(
        help="Streaming: batches per epoch (default: one pass over the data).")] = None,
    vocab: Annotated[Optional[str], typer.Option(
        "--vocab", help="A fixed vocabulary file, one token per line, most frequent first.")
    ] = None,
    workers: Annotated[Optional[str], typer.Option(
        "--workers", help="Train on several machines: every worker's host:port, the same "
        "list on each (or set TF_CONFIG). Worker 0 writes the model.")] = None,
    worker_index: Annotated[Optional[int], typer.Option(
        "--worker-index", help="This machine's place in --workers, from 0.")] = None,
    worker_timeout: Annotated[float, typer.Option(
        "--worker-timeout", help="Seconds to wait for every worker to join (and for any "
        "step) before failing.")] = 300,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue from the last epoch checkpoint of an interrupted run.")
    ] = False,
    save_on_interrupt: Annotated[bool, typer.Option(
        "--save-on-interrupt", help="On Ctrl-C, save the best model so far.")] = False,
    plot: Annotated[bool, typer.Option(
        "--plot", help="Also draw training curves and a confusion matrix (PNG) into --out; "
        "needs textrnn[plot].")] = False,
    tensorboard: Annotated[Optional[Path], typer.Option(
        "--tensorboard", help="Write TensorBoard logs to this directory; needs "
        "textrnn[tensorboard].")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
):
    """Train a model on DATA and write it to --out (replaced only once training succeeded)."""
    if class_weight not in (None, "balanced"):
        raise UsageError("--class-weight takes 'balanced'")
    if not 0 <= valid_split < 1:
        raise UsageError("--valid-split must be in [0, 1)")
    if freeze_embeddings and not embeddings:
        raise UsageError("--freeze-embeddings needs --embeddings FILE")
    if embedding_dim is not None and embedding_dim < 1:
        raise UsageError("--embedding-dim must be positive")
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise UsageError("--steps-per-epoch must be positive")
    from textrnn.train.distributed import cluster_from

    cluster = cluster_from(workers, worker_index)
    if cluster is not None and (resume or save_on_interrupt):
        raise UsageError("--resume and --save-on-interrupt are for training in one process, "
                         "not with --workers")
    from textrnn import plots

    if plot:
        plots.check_plotting_available()
    if tensorboard is not None:
        plots.check_tensorboard_available()
        if out.resolve() in (tensorboard.resolve(), *tensorboard.resolve().parents):
            raise UsageError("--tensorboard DIR must be outside --out (which is replaced at "
                             "the end of training)")
    corpus, valid_corpus, task = _training_data(data, valid, task, text_col, label_col,
                                                tags_col, label_sep, encoding, fmt, stream)
    from textrnn.data.shards import Shards

    if steps_per_epoch is not None and not isinstance(corpus, Shards):
        raise UsageError("--steps-per-epoch applies to streamed data (--stream)")
    _quiet_tensorflow()
    from textrnn import report
    from textrnn.nn import saving
    from textrnn.predict.predictor import Predictor, evaluate
    from textrnn.train import checkpoint
    from textrnn.train.fit import TrainConfig, default_encoder, default_spec
    from textrnn.train.fit import train as fit

    if encoder is None:  # a recurrent-only option keeps the recurrent default
        encoder = "lstm" if bidirectional is not None else default_encoder(task, corpus)
    spec = default_spec(task, encoder, bidirectional=bidirectional, layers=layers, units=units,
                        embedding_dim=embedding_dim or 0, dropout=dropout, crf=crf,
                        freeze_embeddings=freeze_embeddings, char_features=char_features,
                        bigrams=bigrams, bigram_dropout=bigram_dropout)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=lr,
                         clipnorm=clipnorm, patience=patience, valid_split=valid_split,
                         seed=seed, class_weight=class_weight, min_count=min_count,
                         max_vocab=max_vocab, lowercase=lowercase,
                         save_on_interrupt=save_on_interrupt, embeddings=embeddings,
                         steps_per_epoch=steps_per_epoch, vocab_file=vocab)
    progress = None if quiet else report.TrainingProgress()
    checkpoints = checkpoint.directory_for(out) if cluster is None else None
    try:
        model, meta, valid_examples = fit(
            corpus, valid_corpus, spec, config, progress, checkpoints, resume,
            [plots.tensorboard_callback(str(tensorboard))] if tensorboard is not None else [],
            cluster, worker_timeout)
    except KeyboardInterrupt:
        _fail(f"interrupted; {out} is as it was (--resume continues from the last epoch)", 130)
    if valid_examples:
        meta["metrics"] = evaluate(Predictor(model, meta), valid_examples)
    if cluster is None or cluster.is_chief:  # other workers write nothing
        saving.save(out, model, meta, extra_files=_plotter(meta) if plot else None)
        if checkpoints is not None:
            shutil.rmtree(checkpoints, ignore_errors=True)
    elif not json_out:
        report.err.print(f"worker {cluster.index} done; worker 0 writes the model")
        return
    if json_out:
        report.write_json({key: meta[key] for key in ("task", "model", "training", "metrics")})
    elif not quiet:
        report.print_train_summary(meta, str(out))


def _plotter(meta: dict):
    """Draws the figures into the model folder before it goes into place; a drawing failure
    costs the figures, never the trained model."""
    from textrnn import plots
    from textrnn.report import err

    def draw(folder: Path) -> None:
        try:
            plots.write_plots(folder, meta)
        except Exception as error:  # matplotlib raises many types; the model matters more
            err.print(f"[yellow]warning:[/] --plot failed, model saved without figures: {error}")

    return draw


def _training_data(data, valid, task, text_col, label_col, tags_col, label_sep, encoding, fmt,
                   stream: bool | None = False):
    """The training data (a corpus in memory, or Shards to stream), the validation corpus (or
    None) and the task they are read for."""
    from textrnn.data.examples import Corpus, ReadOptions

    options = ReadOptions(text_col, label_col, tags_col, label_sep, encoding, fmt)
    if _streams(data, stream):
        from textrnn.data.shards import Shards

        shards = Shards(data, options)
        first = shards.first()
        corpus = shards
        sample = Corpus(data, [first], multilabel=bool(label_sep))
    else:
        corpus = sample = _read(data, text_col, label_col, tags_col, label_sep, encoding, fmt)
    valid_corpus = (_read(valid, text_col, label_col, tags_col, label_sep, encoding, fmt)
                    if valid else None)
    task = task or sample.task
    _check_task(task, sample)
    return corpus, valid_corpus, task


def _streams(data: str, stream: bool | None) -> bool:
    """--stream, or by default: shards (a glob or a directory) and files over the threshold."""
    if data == "-":
        if stream:
            raise UsageError("--stream reads files, not stdin")
        return False
    path = Path(data)
    if stream is not None:
        return stream
    return not path.is_file() or path.stat().st_size > STREAM_ABOVE_MB * 2**20


def _check_task(task: str, corpus) -> None:
    needs = {"classify": corpus.has_labels, "tag": corpus.has_tags,
             "joint": corpus.has_labels and corpus.has_tags}
    if task not in needs:
        raise UsageError(f"unknown --task '{task}' (choose from classify, tag, joint)")
    if not needs[task]:
        what = {"classify": "a label column", "tag": "a tags column",
                "joint": "both a tags and an intent column"}[task]
        raise UsageError(f"--task {task} needs {what}; {corpus.source} has none")


@app.command()
@_handled
def compare(
    data: Annotated[str, typer.Argument(help="Training data file, or - for stdin.")],
    encoders: Annotated[Optional[str], typer.Option(
        help="Comma-separated encoders to train (default: all that suit the task).")] = None,
    valid: Annotated[Optional[str], typer.Option(help="Validation file (default: a split).")
                     ] = None,
    valid_split: Annotated[float, typer.Option(help="Fraction held out for validation.")] = 0.1,
    task: Annotated[Optional[str], typer.Option(help="classify, tag or joint.")] = None,
    epochs: Annotated[int, typer.Option(help="Maximum epochs (early stopping on).")] = 40,
    seed: Annotated[int, typer.Option(help="Random seed, the same for every encoder.")] = 13,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Keep the best model here.")
                   ] = None,
    text_col: TextCol = None, label_col: LabelCol = None, tags_col: TagsCol = None,
    label_sep: LabelSep = None, encoding: Encoding = "utf-8", fmt: Format = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the table as JSON.")] = False,
):
    """Train each encoder with the same data, split and seed; one table to choose from."""
    from textrnn.nn.factory import ENCODERS, encoders_for

    names = [name.strip() for name in (encoders or ",".join(ENCODERS)).split(",")
             if name.strip()]
    unknown = [name for name in names if name not in ENCODERS]
    if unknown or not names:
        raise UsageError(f"unknown encoder(s) {', '.join(unknown) or '(none)'} "
                         f"(choose from {', '.join(ENCODERS)})")
    if valid is None and not 0 < valid_split < 1:
        raise UsageError("compare scores on validation data: give --valid FILE or a "
                         "--valid-split in (0, 1)")
    corpus, valid_corpus, task = _training_data(data, valid, task, text_col, label_col,
                                                tags_col, label_sep, encoding, fmt)
    if encoders is None:
        names = encoders_for(task)
    _quiet_tensorflow()
    from textrnn import report
    from textrnn.nn import saving
    from textrnn.train.compare import compare as run_compare
    from textrnn.train.fit import TrainConfig

    config = TrainConfig(epochs=epochs, valid_split=valid_split, seed=seed)
    rows, best = run_compare(corpus, valid_corpus, names, config, task,
                             progress=lambda name: report.err.print(f"training {name} ..."))
    if out is not None:
        saving.save(out, *best)
    if json_out:
        report.write_json(rows)
    else:
        from rich.console import Console

        report.print_compare(rows, Console(), out)


@app.command("eval")
@_handled
def evaluate_command(
    data: Annotated[str, typer.Argument(help="Labelled test data, or - for stdin.")],
    model: ModelOption = Path(DEFAULT_MODEL),
    json_out: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
    output: Annotated[Optional[Path], typer.Option("--output", help="Also save JSON here.")
                      ] = None,
    errors: Annotated[int, typer.Option("--errors", help="Show N wrong predictions.")] = 0,
    engine: EngineOption = "auto",
    text_col: TextCol = None, label_col: LabelCol = None, tags_col: TagsCol = None,
    label_sep: LabelSep = None, encoding: Encoding = "utf-8", fmt: Format = None,
):
    """Score a model on labelled DATA: accuracy and F1, or span F1 for slots."""
    from textrnn import bundle, report

    meta = bundle.read_meta(model)
    corpus = _read(data, text_col, label_col, tags_col, label_sep, encoding, fmt)
    _check_task(meta["task"], corpus)
    from textrnn.predict.predictor import evaluate

    result = evaluate(_predictor(model, meta, engine), corpus.examples, errors)
    if output:
        report.write_json(result, str(output))
    if json_out:
        report.write_json(result)
    else:
        from rich.console import Console

        report.print_eval(result, Console())


@app.command()
@_handled
def predict(
    texts: Annotated[Optional[list[str]], typer.Argument(
        help="Texts to label; - (or none, with a pipe) reads lines from stdin.")] = None,
    model: ModelOption = Path(DEFAULT_MODEL),
    output_format: Annotated[Optional[str], typer.Option(
        "--format", "-f", help="table, jsonl, tsv or label (default: table on a terminal, "
        "jsonl in a pipe).")] = None,
    input_file: Annotated[Optional[Path], typer.Option("--input", "-i", help="Read lines from "
                                                       "this file.")] = None,
    output_file: Annotated[Optional[Path], typer.Option("--output", help="Write here.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Also list the K best labels.")
                     ] = 1,
    threshold: Annotated[Optional[float], typer.Option(
        help="Only labels with probability >= P (multi-label default 0.5).")] = None,
    batch_size: Annotated[int, typer.Option(help="Lines per batch.")] = 256,
    engine: EngineOption = "auto",
):
    """Label texts: one result per input line, in order, streamed in batches."""
    from textrnn import bundle, report

    fmt = output_format or ("table" if (output_file is None and sys.stdout.isatty())
                            else "jsonl")
    if fmt not in ("table", "jsonl", "tsv", "label"):
        raise UsageError(f"unknown --format '{fmt}' (choose from table, jsonl, tsv, label)")
    if top_k < 1:
        raise UsageError("--top-k must be at least 1")
    from_stdin = texts in (None, [], ["-"])
    if from_stdin and input_file is None and sys.stdin.isatty():
        raise UsageError("give a text to label, or pipe lines on stdin (textrnn predict -)")
    if input_file is not None and not input_file.is_file():
        raise UsageError(f"--input {input_file}: no such file")
    predictor = _predictor(model, bundle.read_meta(model), engine)
    predictor.batch_size = batch_size
    from contextlib import ExitStack

    from rich.console import Console

    from textrnn.predict.lines import line_batches

    with ExitStack() as files:
        if input_file is not None:
            source = files.enter_context(open(input_file, "rb"))
        else:
            source = sys.stdin.buffer if from_stdin else None
        sink = (files.enter_context(open(output_file, "w", encoding="utf-8")) if output_file
                else sys.stdout)
        # Read many batches' worth at a time: the predictor sorts them by length, so each model
        # batch holds sentences of about one length (mixed 256-line batches pad twice the work).
        chunk = batch_size * READ_AHEAD_BATCHES
        batches = line_batches(source, chunk) if source is not None else [texts]
        console = Console(file=sink)
        for batch in batches:
            results = predictor.predict(batch, top_k=top_k, threshold=threshold)
            if fmt == "table":
                report.print_predictions_table(results, console)
            else:
                sink.write("".join(report.prediction_line(r, fmt) + "\n" for r in results))
            sink.flush()


@app.command()
@_handled
def info(
    model: ModelOption = Path(DEFAULT_MODEL),
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
):
    """Describe a model: architecture, parameters per layer, labels, training figures."""
    from textrnn import bundle, report

    bundle.read_meta(model)
    _quiet_tensorflow()
    from textrnn.nn import saving
    from textrnn.nn.factory import layer_table

    keras_model, meta = saving.load(model)
    rows = layer_table(keras_model)
    if json_out:
        slim = {key: value for key, value in meta.items() if key != "vocab"}
        report.write_json({**slim, "vocab_size": len(meta["vocab"]), "layers": rows})
    else:
        from rich.console import Console

        report.print_info(meta, rows, Console())


def main():
    app()
