"""What the commands share: the Typer app, option types, the error handler, quiet
TensorFlow start-up, reading data files and choosing the prediction engine. TensorFlow, Keras
and pandas are imported only inside the commands that need them, so `textrnn --help` and
argument errors answer at once."""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn import __version__
from textrnn.errors import TextrnnError, UsageError

# Click's exceptions, wherever this Typer takes Click from (it vendors it since 0.2x).
_click_errors = importlib.import_module(typer.BadParameter.__module__)


class OneLineErrors(typer.core.TyperGroup):
    """Click's own errors (a bad option value, a missing argument) as one line on stderr with
    exit code 2, like ours, instead of a usage panel."""

    def main(self, *args, **kwargs):
        try:
            result = super().main(*args, **{**kwargs, "standalone_mode": False})
        except _click_errors.NoArgsIsHelpError as error:  # `textrnn` alone: the help
            error.show()
            sys.exit(error.exit_code)
        except _click_errors.ClickException as error:
            context = getattr(error, "ctx", None)
            hint = f" (see '{context.command_path} --help')" if context else ""
            typer.echo(f"textrnn: error: {error.format_message().rstrip('.')}{hint}", err=True)
            sys.exit(error.exit_code)
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    name="textrnn",
    help="Train, evaluate and run recurrent text classifiers and slot fillers.",
    cls=OneLineErrors,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Click's plain help: Rich's panels cut long option names and show `<bool>` placeholders
    # at 80 columns, which is what a pipe or a narrow terminal gets.
    rich_markup_mode=None,
)
_state = {"debug": False}
DEFAULT_MODEL = "textrnn-model"
STREAM_ABOVE_MB = 200  # larger training files are streamed (pandas would need ~5x in memory)

ModelOption = Annotated[Path, typer.Option("--model", "-m", help="Model directory.")]
TextCol = Annotated[Optional[str], typer.Option("--text-col", help="Text column name.")]
LabelCol = Annotated[Optional[str], typer.Option("--label-col", help="Label column name.")]
TagsCol = Annotated[Optional[str], typer.Option("--tags-col", help="BIO tags column name.")]
LabelSep = Annotated[Optional[str], typer.Option(
    "--label-sep", help="Several labels per row, split on this (multi-label).")]
Encoding = Annotated[str, typer.Option("--encoding", help="Text encoding of the data file.")]
MinCount = Annotated[int, typer.Option(min=1, help="Minimum count for a vocabulary word.")]
MaxVocab = Annotated[Optional[int], typer.Option(
    min=3, help="Vocabulary size limit (the padding and unknown-word entries included).")]
Lowercase = Annotated[bool, typer.Option(
    "--lowercase/--keep-case", help="Lowercase the text before anything else (the model then "
    "ignores case).")]
EngineOption = Annotated[str, typer.Option(
    "--engine", help="auto (NumPy when the model has it), numpy (no TensorFlow) or keras.")]
Format = Annotated[Optional[str], typer.Option(
    "--format", help="Data format: csv, tsv, jsonl, parquet, fasttext, conll, markup "
    "([text](slot) lines), rasa (Rasa NLU YAML), spans (span JSON lines) (default: by the "
    "extension, or sniffed).")]
SpanAlign = Annotated[str, typer.Option(
    "--span-align", help="Character spans that cut through a token (markup, Rasa, span JSON "
    "lines): expand to the whole tokens (with a warning), strict (an error) or contract to "
    "the tokens inside.")]


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
    if not debug:
        quiet_logs()


def handled(command):
    """Turn our errors into one line on stderr and an exit code; tracebacks only with --debug."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            command(*args, **kwargs)
            sys.stdout.flush()  # a closed pipe shows here, not as an error at exit
        except (typer.Exit, typer.Abort):
            raise
        except TextrnnError as error:
            if _state["debug"]:
                raise
            fail(f"error: {error}", error.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except BrokenPipeError:  # `textrnn predict - | head`: the reader has what it wants
            _discard_stdout()
            raise typer.Exit(0) from None
        except Exception as error:
            if _state["debug"]:
                raise
            fail(f"internal error: {type(error).__name__}: {error} (rerun with --debug for the "
                  "traceback)", 1)

    return wrapper


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush finds no closed pipe."""
    with contextlib.suppress(OSError, ValueError):  # no file descriptor (in tests)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def fail(message: str, code: int):
    typer.echo(f"textrnn: {message}", err=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def written_whole(out: Path):
    """Saving and the summary, under interrupts.catching(): a Ctrl-C meanwhile lets the model
    go into place whole, and then says so and exits 130."""
    from textrnn.train import interrupts

    with interrupts.critical():
        yield
    if interrupts.requested():
        fail(f"interrupted while saving; {out} holds the new model", 130)


def resume_hint(stop) -> str:
    """What `--resume` can do after training stopped on Ctrl-C (interrupts.TrainingInterrupted)."""
    if stop.resumable_epoch:
        return f"--resume continues after epoch {stop.resumable_epoch}"
    return "no epoch finished, so there is nothing to resume"


def quiet_logs():
    """Keep TensorFlow's own messages off the terminal for the whole run, whichever module
    imports it and whenever it logs: its C++ logging (absl start-up notices, oneDNN lines,
    errors about CPU features) reads TF_CPP_MIN_LOG_LEVEL once, at import, which comes later;
    its Python logger warns of retracing; Keras warns through `warnings`."""
    import logging
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    for module in ("keras", "tensorflow"):
        warnings.filterwarnings("ignore", module=module)


def quiet_tensorflow():
    """Import TensorFlow with whatever it prints while loading kept off the terminal (its
    logging is quiet already: quiet_logs)."""
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


def predictor_for(model: Path, meta: dict, engine: str):
    """A Predictor on the NumPy engine when the model has it (no TensorFlow import: fast
    start), else on Keras, with a one-line notice when the user did not ask for Keras."""
    from textrnn.predict.predictor import Predictor, engine_for

    chosen = engine_for(meta, engine)
    if chosen == "keras":
        if engine == "auto":
            reason = meta.get("engine", {}).get("reason", "saved by an older textrnn")
            typer.echo(f"textrnn: note: predicting with TensorFlow, slower to start ({reason})",
                       err=True)
        quiet_tensorflow()
    return Predictor.load(str(model), chosen)


def read_data(path: str, text_col, label_col, tags_col, label_sep, encoding, fmt,
              unlabelled: bool = False, span_align: str = "expand"):
    from textrnn.data.examples import ReadOptions
    from textrnn.data.read import read_corpus
    from textrnn.report import err

    corpus = read_corpus(path, ReadOptions(text_col, label_col, tags_col, label_sep, encoding,
                                           fmt, unlabelled=unlabelled, span_align=span_align))
    for warning in corpus.warnings:
        err.print(f"[yellow]warning:[/] {warning}")
    return corpus


def training_data(data, valid, task, text_col, label_col, tags_col, label_sep, encoding, fmt,
                   stream: bool | None = False, span_align: str = "expand"):
    """The training data (a corpus in memory, or Shards to stream), the validation corpus (or
    None) and the task they are read for."""
    from textrnn.data.examples import Corpus, ReadOptions

    options = ReadOptions(text_col, label_col, tags_col, label_sep, encoding, fmt,
                          span_align=span_align)
    if streams(data, stream):
        from textrnn.data.shards import Shards

        shards = Shards(data, options)
        first = shards.first()
        corpus = shards
        sample = Corpus(data, [first], multilabel=bool(label_sep))
    else:
        corpus = sample = read_data(data, text_col, label_col, tags_col, label_sep, encoding, fmt,
                                    span_align=span_align)
    valid_corpus = (read_data(valid, text_col, label_col, tags_col, label_sep, encoding, fmt,
                              span_align=span_align) if valid else None)
    task = task or sample.task
    check_task(task, sample)
    return corpus, valid_corpus, task


def check_vectors_file(path: str | None) -> None:
    """--embeddings names a word-vector file (a pretrained directory goes to --pretrained)."""
    if path is None or Path(path).is_file():
        return
    if (Path(path) / "textrnn.json").is_file():
        raise UsageError(f"--embeddings {path}: a directory; to start from what `textrnn "
                         f"pretrain` wrote there, pass --pretrained {path}")
    problem = "a directory" if Path(path).is_dir() else "no such file"
    raise UsageError(f"--embeddings {path}: {problem}; it takes a word-vector file (.vec, "
                     "GloVe .txt, word2vec .bin)")


def streams(data: str, stream: bool | None) -> bool:
    """--stream, or by default: shards (a glob or a directory) and files over the threshold."""
    if data == "-":
        if stream:
            raise UsageError("--stream reads files, not stdin")
        return False
    path = Path(data)
    if stream is not None:
        return stream
    return not path.is_file() or path.stat().st_size > STREAM_ABOVE_MB * 2**20


def check_task(task: str, corpus, who: str | None = None) -> None:
    """The data has what the task needs; the error names what it lacks. `who` needs it
    (default: --task TASK)."""
    needs = {"classify": ["label"], "tag": ["tags"], "joint": ["tags", "intent"]}
    if task not in needs:
        raise UsageError(f"unknown --task '{task}' (choose from classify, tag, joint)")
    has = {"label": corpus.has_labels, "intent": corpus.has_labels, "tags": corpus.has_tags}
    lacking = [column for column in needs[task] if not has[column]]
    if lacking:
        what = {"classify": "a label column", "tag": "a tags column",
                "joint": "both a tags and an intent column"}[task]
        raise UsageError(f"{who or f'--task {task}'} needs {what}; {corpus.source} has no "
                         f"{' and no '.join(lacking)} column")
