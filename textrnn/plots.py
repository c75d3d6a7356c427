"""Seeing training: PNG figures for the model directory (`--plot`) and TensorBoard logs
(`--tensorboard DIR`).

Both need optional packages (`pip install 'textrnn[plot]'`, `'textrnn[tensorboard]'`); the
`check_*` functions let the CLI say so before training rather than after it. Figures are drawn
on matplotlib's Agg canvas without pyplot, so no global backend or figure registry is touched
when textrnn runs inside someone else's program.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from textrnn.errors import UsageError

TRAINING_FILE = "training.png"
CONFUSION_FILE = "confusion.png"
SLOT_F1_FILE = "slot_f1.png"
LABEL_F1_FILE = "label_f1.png"
# Above this many labels a full matrix is unreadable: show the labels with the most errors.
MAX_CONFUSION_LABELS = 30
DPI = 100


def _require(module: str, option: str, extra: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError:
        raise UsageError(f"{option} needs {module}: pip install 'textrnn[{extra}]'") from None


def check_plotting_available() -> None:
    """Raise UsageError now if --plot could not draw at the end of training."""
    _require("matplotlib", "--plot", "plot")


def check_tensorboard_available() -> None:
    """Raise UsageError if TensorBoard logs cannot be written: TensorFlow 2.21 no longer
    installs `tensorboard`, and without it tf.summary fails at the first epoch's end."""
    _require("tensorboard", "--tensorboard", "tensorboard")


def tensorboard_callback(log_dir: str):
    """Keras' TensorBoard callback writing per-epoch scalars only: no profiling, histograms or
    graph (our input shapes vary per length bucket, so a graph would be one of many traces)."""
    check_tensorboard_available()
    import keras

    return keras.callbacks.TensorBoard(log_dir=str(log_dir), histogram_freq=0, write_graph=False,
                                       write_images=False, update_freq="epoch", profile_batch=0)


def write_plots(directory: Path, meta: dict) -> list[Path]:
    """Draw the figures that meta (textrnn.json) has data for into `directory`; their paths.

    training.png: losses and the validation score per epoch. confusion.png: gold against
    predicted label (single-label classes, or intents). slot_f1.png / label_f1.png: F1 per slot
    type / per label, for slot filling and multi-label models, where a confusion matrix says
    little (see _f1_bars).
    """
    check_plotting_available()
    directory = Path(directory)
    report = meta.get("metrics") or {}
    figures = []
    history = (meta.get("training") or {}).get("history") or {}
    if history:
        figures.append((TRAINING_FILE, _training_figure(meta, history)))
    intents = (report.get("intent") or {}).get("confusion")
    confusion = report.get("confusion") or intents
    if confusion and confusion["labels"]:
        figures.append((CONFUSION_FILE, _confusion_figure(
            confusion, "intent" if confusion is intents else "label")))
    if report.get("per_slot"):
        figures.append((SLOT_F1_FILE, _f1_bars(
            report["per_slot"], f"validation F1 per slot type (slot F1 {report['slot_f1']:.3f})")))
    if meta.get("multilabel") and report.get("per_class"):
        figures.append((LABEL_F1_FILE, _f1_bars(
            report["per_class"], f"validation F1 per label (micro-F1 {report['micro_f1']:.3f})")))
    written = []
    for name, figure in figures:
        path = directory / name
        figure.savefig(path, dpi=DPI)
        written.append(path)
    return written


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _score_name(meta: dict) -> str:
    """What `val_score` is for this model (the figure training.task_score early-stops on)."""
    if meta.get("task") == "tag":
        return "slot F1"
    if meta.get("task") == "joint":
        return "frame accuracy"
    return "micro-F1" if meta.get("multilabel") else "accuracy"


def _training_figure(meta: dict, history: dict):
    losses = sorted(key for key in history if key.endswith("loss"))
    scores = (["val_score"] if "val_score" in history else []) + sorted(
        key for key in history if key.endswith("accuracy") and not key.startswith("val_"))
    panels = [panel for panel in (losses, scores) if panel]
    figure = _new_figure(5.5 * len(panels), 4)
    best = (meta.get("training") or {}).get("best_epoch") if "val_score" in history else None
    for axes, keys in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        for key in keys:
            values = history[key]
            label = (f"validation {_score_name(meta)}" if key == "val_score"
                     else f"train {key.replace('_', ' ')}")
            axes.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
        if best:
            axes.axvline(best, color="grey", linestyle="--", linewidth=1,
                         label=f"best epoch ({best})")
        axes.set_xlabel("epoch")
        axes.set_title("loss" if keys is losses else "scores")
        if keys is scores:
            axes.set_ylim(0, 1.02)
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    return figure


def _confusion_figure(confusion: dict, what: str):
    """Counts in the cells, colour by the fraction of the gold row (so rare and frequent
    classes compare); beyond MAX_CONFUSION_LABELS labels, those with the most errors."""
    labels, matrix = confusion["labels"], confusion["matrix"]
    shown = _most_confused(matrix, MAX_CONFUSION_LABELS)
    k = len(shown)
    totals = [sum(matrix[i]) for i in shown]
    fractions = [[matrix[i][j] / totals[r] if totals[r] else 0.0 for j in shown]
                 for r, i in enumerate(shown)]
    side = min(max(4.5, 0.4 * k + 2.5), 16)
    figure = _new_figure(side + 1, side)
    axes = figure.subplots()
    image = axes.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, shrink=0.8, label="fraction of the gold row")
    names = [str(labels[i]) or "(none)" for i in shown]
    axes.set_xticks(range(k), names, rotation=60, ha="right", rotation_mode="anchor")
    axes.set_yticks(range(k), names)
    axes.set_xlabel(f"predicted {what}")
    axes.set_ylabel(f"gold {what}")
    title = f"validation {what} confusion"
    if k < len(labels):
        title += f":\nthe {k} of {len(labels)} {what}s with the most errors"
    axes.set_title(title)
    size = 10 if k <= 12 else 8 if k <= 20 else 7
    for r, i in enumerate(shown):
        for c, j in enumerate(shown):
            if matrix[i][j]:
                axes.text(c, r, str(matrix[i][j]), ha="center", va="center", fontsize=size,
                          color="white" if fractions[r][c] > 0.5 else "black")
    return figure


def _most_confused(matrix: list[list[int]], limit: int) -> list[int]:
    """Indices of at most `limit` labels, by errors made and received, then by support;
    kept in the matrix's order."""
    k = len(matrix)
    if k <= limit:
        return list(range(k))
    errors = [sum(matrix[i]) + sum(row[i] for row in matrix) - 2 * matrix[i][i]
              for i in range(k)]
    ranked = sorted(range(k), key=lambda i: (-errors[i], -sum(matrix[i]), i))
    return sorted(ranked[:limit])


def _f1_bars(per_class: dict, title: str):
    """F1 per slot type (or label), worst first, with support: the slot figure, as span F1 is
    scored per type. A span-type confusion would only count spans with exact boundaries, yet
    missed, spurious and mis-bounded spans are most slot errors."""
    rows = sorted(per_class.items(), key=lambda item: (item[1]["f1"], item[0]))
    figure = _new_figure(7, max(2.5, 0.28 * len(rows) + 1.2))
    axes = figure.subplots()
    positions = range(len(rows))
    axes.barh(positions, [stats["f1"] for _, stats in rows], color="tab:blue")
    axes.set_yticks(positions, [str(name) for name, _ in rows])
    axes.invert_yaxis()
    for y, (_, stats) in enumerate(rows):
        axes.text(stats["f1"] + 0.01, y, f"{stats['f1']:.2f} (n={stats['support']})",
                  va="center", fontsize=8)
    axes.set_xlim(0, 1.25)
    axes.set_xticks([0, 0.25, 0.5, 0.75, 1])
    axes.set_xlabel("F1")
    axes.set_title(title)
    axes.grid(axis="x", alpha=0.3)
    return figure
