"""What the commands share: the Typer app, option types, the error handler, how warnings
show, the notice when predicting needs TensorFlow. The commands call `textrnn.api`, which
imports TensorFlow, Keras and pandas only where needed, so `textrnn --help` and argument errors
answer at once."""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn import __version__
from textrnn.api import DEFAULT_MODEL, STREAM_ABOVE_MB  # noqa: F401 (the commands' defaults)
from textrnn.errors import TextrnnError, TextrnnWarning

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
_python_show_warning = warnings.showwarning

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
    "--engine", help="auto (NumPy when the model has it), numpy (no TensorFlow), onnx (NumPy "
    "with ONNX Runtime's fused LSTM/GRU kernels: pip install 'textrnn[onnx]') or keras.")]
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
    if debug:  # TensorFlow's start-up messages too (see textrnn.api.quiet_tensorflow)
        os.environ["TEXTRNN_DEBUG"] = "1"
    else:
        from textrnn.api import quiet_logs

        quiet_logs()
    warnings.showwarning = show_warning
    warnings.simplefilter("always", TextrnnWarning)


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


def mark_start() -> None:
    """Note when the command started (`textrnn` ran), for `command_start`."""
    _state["started"] = time.monotonic()


def command_start() -> float:
    """When this command started: when `textrnn` ran, or now (a command run another way, as
    the tests' CliRunner does)."""
    return _state.pop("started", None) or time.monotonic()


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush finds no closed pipe."""
    with contextlib.suppress(OSError, ValueError):  # no file descriptor (in tests)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def fail(message: str, code: int):
    typer.echo(f"textrnn: {message}", err=True)
    raise typer.Exit(code)


def note_engine(model: Path, engine: str) -> dict:
    """The model's metadata, after a one-line notice when predicting needs TensorFlow (slower
    to start) though the user did not ask for Keras."""
    from textrnn import bundle
    from textrnn.predict.predictor import engine_for

    meta = bundle.read_meta(model)
    if engine == "auto" and engine_for(meta, engine) == "keras":
        reason = meta.get("engine", {}).get("reason", "saved by an older textrnn")
        typer.echo(f"textrnn: note: predicting with TensorFlow, slower to start ({reason})",
                   err=True)
    return meta


def resume_hint(stop) -> str:
    """What `--resume` can do after training stopped on Ctrl-C (interrupts.TrainingInterrupted)."""
    if stop.resumable_epoch:
        return f"--resume continues after epoch {stop.resumable_epoch}"
    return "no epoch finished, so there is nothing to resume"


def show_warning(message, category, filename, lineno, file=None, line=None):
    """Our warnings (data problems worked around) as one `warning:` line each; others as
    Python shows them."""
    if not issubclass(category, TextrnnWarning):
        return _python_show_warning(message, category, filename, lineno, file, line)
    from textrnn.report import err

    err.print(f"[yellow]warning:[/] {message}")
