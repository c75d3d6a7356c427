"""Everything the user sees: Rich tables and progress for people, JSON for machines."""

from __future__ import annotations

import json
import sys
import time

from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from textrnn.data.align import Span
from textrnn.data.markup import markup_line
from textrnn.predict import page
from textrnn.predict.rasa import FALLBACK_INTENT

UNBOUNDED = 100_000  # columns of a file or a pipe: nothing is cut or wrapped


class Output(Console):
    """Rich's console for what the commands print: to a file or a pipe it cuts and wraps
    nothing (Rich would at 80 columns: table headers became `flight_…`), and a closed pipe
    (`textrnn eval ... | head -1`) raises BrokenPipeError for the CLI to end quietly, where
    Rich would exit with status 1."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        return size if self.is_terminal else ConsoleDimensions(UNBOUNDED, size.height)

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


err = Output(stderr=True, highlight=False)
SLOT_STYLES = ("bold cyan", "bold magenta", "bold green", "bold yellow", "bold blue", "bold red")


def percent(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


class TrainingProgress:
    """A Rich progress bar per epoch: batches done, loss, accuracy, time left."""

    def __init__(self, console: Console = err):
        self.console = console
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"), BarColumn(),
            TextColumn("{task.completed}/{task.total}"), TextColumn("{task.fields[figures]}"),
            TimeRemainingColumn(), console=console, transient=False,
        )
        self.task = None
        self.epochs = 0
        self.steps = 0

    def start(self, epochs: int, steps: int) -> None:
        self.epochs, self.steps = epochs, steps
        self.progress.start()

    def epoch_start(self, epoch: int) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task("train", total=self.steps, figures="",
                                           epoch=f"{epoch}/{self.epochs}")

    def batch_end(self, step: int, logs: dict) -> None:
        self.progress.update(self.task, completed=step, figures=_figures(logs))

    def epoch_end(self, epoch: int, logs: dict) -> None:
        self.progress.update(self.task, completed=self.steps, figures=_figures(logs))
        self.console.print(f"epoch {epoch:>3}  {_figures(logs, validation=True)}")

    def finish(self) -> None:
        self.progress.stop()


class AutotuneProgress:
    """One line while --autotune searches: time spent of the budget, trials done and pruned,
    the best score and its trial, the trial and epoch running."""

    def __init__(self, console: Console = err):
        self.console = console
        self.progress = Progress(
            TextColumn("autotune {task.fields[clock]}/{task.fields[budget]}"),
            BarColumn(bar_width=12), TextColumn("{task.fields[status]}"),
            console=console, transient=False)
        self.task = None
        self.started = 0.0

    def start(self, seconds: float, started: float, fixed: dict) -> None:
        """`started`: time.monotonic() when the command started (the budget's start)."""
        if fixed:
            self.console.print("autotune: fixed as given: " + ", ".join(
                f"{name} {value}" for name, value in fixed.items()))
        self.started = started
        self.progress.start()
        self.task = self.progress.add_task("autotune", total=seconds, status="starting",
                                           budget=duration(seconds), clock="0:00")
        self.tick()

    def tick(self) -> None:
        spent = time.monotonic() - self.started
        minutes, seconds = divmod(int(spent), 60)
        self.progress.update(self.task, completed=spent, clock=f"{minutes}:{seconds:02d}")

    def update(self, trial: int | None, done: int, pruned: int, best: tuple | None,
               epoch: int | None = None) -> None:
        parts = [f"{done} done ({pruned} pruned)"]
        if best is not None:
            parts.append(f"best {percent(best[0])} #{best[1]}")
        if trial is not None:
            parts.append(f"now #{trial}" + (f" epoch {epoch}" if epoch else ""))
        self.progress.update(self.task, status=", ".join(parts))
        self.tick()

    def finish(self) -> None:
        self.progress.stop()


def duration(seconds: float) -> str:
    """'20m', '1h30m', '45s': a budget as people write it."""
    seconds = round(seconds)
    hours, minutes, rest = seconds // 3600, seconds % 3600 // 60, seconds % 60
    return "".join(f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"),
                                                       (rest, "s")) if value) or "0s"


TOP_TRIALS = 5  # rows of the table after a search


def print_autotune(record: dict, command: str, console: Console = err) -> None:
    """The best trials of a search, what it cost, and the winner as a command to paste."""
    entries = record["trials"]
    ranked = sorted(entries, key=lambda entry: (entry["pruned"], -entry["score"]))
    table = Table(title=f"autotune: the best of {len(entries)} trials "
                  f"({sum(entry['pruned'] for entry in entries)} pruned) in "
                  f"{record['seconds']:.0f} s of {duration(record['budget_seconds'])}",
                  title_justify="left")
    for column in ("trial", f"valid {record['metric']}", "epochs", "seconds", "options"):
        table.add_column(column, justify="left" if column == "options" else "right")
    for entry in ranked[:TOP_TRIALS]:
        note = " (pruned)" if entry["pruned"] else " (stopped by the budget)" if entry["cut"] \
            else ""
        table.add_row(str(entry["trial"]), percent(entry["score"]), str(entry["epochs"]),
                      f"{entry['seconds']:.1f}", escape(options_text(entry["changes"]) + note))
    console.print(table)
    console.print(f"the winner, trial {record['best_trial']}, trains again with:")
    console.print(escape(command), soft_wrap=True)


def options_text(changes: dict) -> str:
    return ", ".join(f"{name} {value}" for name, value in changes.items()) or "the defaults"


def autotune_rows(record: dict) -> dict:
    """How --autotune chose a model, in a few rows for `textrnn info`."""
    entries = record["trials"]
    winner = next(entry for entry in entries if entry["trial"] == record["best_trial"])
    default = next((entry for entry in entries if entry["trial"] == 0), None)
    versus = f", the default model {percent(default['score'])}" if default else ""
    return {
        "chosen by": f"--autotune {duration(record['budget_seconds'])}: trial "
                     f"{winner['trial']} of {len(entries)} "
                     f"({sum(entry['pruned'] for entry in entries)} pruned) in "
                     f"{record['seconds']:.0f} s",
        f"autotune {record['metric']}": f"{percent(winner['score'])} (valid{versus})",
        "autotune options": options_text(winner["changes"]),
    }


def _figures(logs: dict, validation: bool = False) -> str:
    """The figures of a batch or (`validation`) an epoch; validation shows the score by name
    (val_frame_accuracy, val_slot_f1, ...), not val_score, which may add a tie-breaker."""
    parts = []
    for key, value in logs.items():
        if (key.startswith("val_") and not validation) or key == "val_score":
            continue
        if (key in ("loss", "val_loss", "val_slot_f1", "val_micro_f1")
                or key.endswith("accuracy") or key.endswith("perplexity")):
            parts.append(f"{key.replace('_accuracy', '_acc')} {value:.4f}")
    return "  ".join(parts)


def print_train_summary(meta: dict, out: str, console: Console = err) -> None:
    training = meta["training"]
    table = Table(title=f"Trained {meta['model']['encoder']} {meta['task']} model → {out}",
                  show_header=False, title_justify="left")
    table.add_row("rows (train / valid)", f"{training['train_rows']} / {training['valid_rows']}")
    table.add_row("vocabulary", str(len(meta["vocab"])))
    if training.get("workers"):
        table.add_row("workers", f"{training['workers']} (weights sha256 "
                      f"{training['weights_sha256'][:12]}, the same on every worker)")
    vectors = meta.get("embeddings")
    if vectors:
        table.add_row("word vectors", f"{vectors['found']}/{vectors['words']} words "
                      f"({percent(vectors['word_coverage'])}%), "
                      f"{percent(vectors['token_coverage'])}% of tokens, from {vectors['file']}")
    start = meta.get("pretrained")
    if start:
        table.add_row("pretrained", f"{', '.join(start['layers'])} from {start['directory']} "
                      f"({len(meta['vocab']) - start['words']} new words)")
    if meta["labels"]:
        table.add_row("labels", str(len(meta["labels"])))
    if meta["tags"]:
        table.add_row("tags", str(len(meta["tags"]) - 1))
    table.add_row("epochs (best)", f"{training['epochs_run']} ({training['best_epoch']})")
    if training.get("interrupted"):
        table.add_row("stopped", "by Ctrl-C; the best epoch so far was saved")
    table.add_row("time", f"{training['seconds']:.1f} s, "
                  f"{training['sentences_per_second']:.0f} sentences/s")
    for key, value in _headline(meta.get("metrics", {})).items():
        table.add_row(f"valid {key}", value)
    console.print(table)
    for note in training.get("notes", []):
        console.print(f"[yellow]note:[/] {note}")


def _headline(report: dict) -> dict:
    keys = ("accuracy", "macro_f1", "micro_f1", "intent_accuracy", "slot_f1", "frame_accuracy")
    return {key: percent(report[key]) for key in keys if key in report}


def print_eval(report: dict, console: Console) -> None:
    summary = Table(title="Evaluation", show_header=False, title_justify="left")
    summary.add_row("examples", str(report.get("examples", "")))
    for key, value in _headline(report).items():
        summary.add_row(key, value)
    for key in ("weighted_f1", "slot_precision", "slot_recall", "token_accuracy"):
        if key in report:
            summary.add_row(key, percent(report[key]))
    console.print(summary)
    if report.get("by_value"):
        console.print(_prf_table("slot values seen / never seen in training",
                                 report["by_value"]))
    per_class = report.get("per_class") or report.get("intent", {}).get("per_class")
    if per_class:
        console.print(_prf_table("per class", per_class))
    if report.get("per_slot"):
        console.print(_prf_table("per slot", report["per_slot"]))
    confusion = report.get("confusion") or report.get("intent", {}).get("confusion")
    if confusion and len(confusion["labels"]) <= 20:
        console.print(_confusion_table(confusion))
    for error in report.get("errors", []):
        console.print(_error_line(error))


def _prf_table(title: str, rows: dict) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if not column else "right")
    for name, row in rows.items():
        table.add_row(name, percent(row["precision"]), percent(row["recall"]),
                      percent(row["f1"]), str(row["support"]))
    return table


def _confusion_table(confusion: dict) -> Table:
    table = Table(title="confusion (rows gold, columns predicted)", title_justify="left")
    table.add_column("")
    for label in confusion["labels"]:
        table.add_column(label, justify="right")
    for i, (label, row) in enumerate(zip(confusion["labels"], confusion["matrix"])):
        table.add_row(label, *(f"[bold]{v}[/]" if i == j and v else str(v)
                               for j, v in enumerate(row)))
    return table


def _error_line(error: dict) -> str:
    unseen = (f"\n    unseen values: {'; '.join(error['unseen'])}" if error.get("unseen")
              else "")
    return (f"[red]✗[/] {error['text']}\n    gold: {error['gold']}\n    pred: {error['pred']}"
            + unseen)


def highlighted(result: dict) -> Text:
    """The input text with each predicted slot coloured and labelled."""
    text = Text()
    position = 0
    for number, slot in enumerate(result.get("slots", [])):
        text.append(result["text"][position: slot["start"]])
        style = SLOT_STYLES[number % len(SLOT_STYLES)]
        text.append(slot["text"], style=style)
        text.append(f"[{slot['slot']}]", style="dim")
        position = slot["end"]
    text.append(result["text"][position:])
    return text


def print_predictions_table(results: list[dict], console: Console) -> None:
    for result in results:
        if "slots" in result:
            console.print(highlighted(result))
        else:
            console.print(result["text"])
        for key, prob_key in (("label", "prob"), ("intent", "intent_prob")):
            if key in result:
                console.print(f"  {key}: [bold]{result[key]}[/] ({_prob(result[prob_key])})")
        for top in result.get("top", [])[1:]:
            name = top.get("label", top.get("intent"))
            console.print(f"  [dim]or {name} ({_prob(top['prob'])})[/]")
        if result.get("slots"):
            table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2))
            table.add_column("slot")
            table.add_column("text")
            table.add_column("chars", justify="right")
            for slot in result["slots"]:
                table.add_row(slot["slot"], slot["text"], f"{slot['start']}-{slot['end']}")
            console.print(table, style="")
        if result.get("truncated"):
            console.print("  [yellow](input truncated to the model's maximum length)[/]")


def _prob(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def prediction_line(result: dict, fmt: str) -> str:
    """One output line for one input line (jsonl, tsv, label or markup)."""
    if fmt == "jsonl":
        return json.dumps(result, ensure_ascii=False)
    label = result.get("label", result.get("intent"))
    if "labels" in result:
        label = ",".join(result["labels"])
    if fmt == "markup":
        if not result["text"].strip():
            return ""
        line = markup_line(result["text"], _slot_spans(result))
        has_label = "label" in result or "intent" in result
        return f"{'' if label is None else label}\t{line}" if has_label else line
    if fmt == "label":
        return "" if label is None else str(label)
    fields = []
    if "label" in result or "intent" in result:
        prob = result.get("prob", result.get("intent_prob"))
        fields += ["" if label is None else str(label), "" if prob is None else f"{prob:.4f}"]
    if "slots" in result:
        fields.append(" ".join(f"{s['slot']}={s['text']}" for s in result["slots"]))
    return "\t".join(field.replace("\t", " ") for field in fields)


def _slot_spans(result: dict) -> list[Span]:
    return [Span(slot["start"], slot["end"], slot["slot"], value=slot.get("value"))
            for slot in result.get("slots", [])]


def rasa_item(result: dict) -> tuple[str, float, str]:
    """(intent, its probability, markup) of one prediction, for `rasa_predictions`."""
    intent = ("+".join(result["labels"]) if result.get("labels")
              else result.get("intent", result.get("label")))
    prob = result.get("intent_prob", result.get("prob"))
    return (intent or FALLBACK_INTENT, 0.0 if prob is None else prob,
            markup_line(result["text"], _slot_spans(result)).strip())


def rasa_predictions(items: list[tuple[str, float, str]]) -> str:
    """A Rasa NLU file of predictions for review: grouped by intent, the least confident
    utterances first (and the groups by their least confident one), the confidence in each
    example's metadata."""
    from textrnn.data.rasa import rasa_yaml  # YAML: imported when asked for (start-up time)

    groups: dict[str, list[tuple[float, str]]] = {}
    for intent, prob, line in items:
        groups.setdefault(intent, []).append((prob, line))
    ordered = sorted(groups.items(), key=lambda group: min(prob for prob, _ in group[1]))
    return rasa_yaml([(intent, [(line, {"confidence": round(prob, 4)})
                                for prob, line in sorted(rows, key=lambda row: row[0])])
                      for intent, rows in ordered])


class HtmlPredictions:
    """`predict --format html`: the page's head and legend at once, then one `<div>` per input
    line as the batches come; `by_confidence`, every sentence at the end, the least confident
    first (blank lines left out)."""

    def __init__(self, sink, slot_types: list[str], title: str, by_confidence: bool = False):
        self.sink, self.types = sink, slot_types
        self.held = [] if by_confidence else None
        sink.write(page.head(slot_types, title))

    def add(self, results: list[dict]) -> None:
        if self.held is None:
            self._write(results)
        else:
            self.held += [result for result in results if result["text"].strip()]

    def close(self) -> None:
        if self.held is not None:
            self._write(sorted(self.held, key=page.confidence))
        self.sink.write(page.TAIL)

    def _write(self, results: list[dict]) -> None:
        self.sink.write("".join(page.sentence(result, self.types) + "\n" for result in results))


def print_info(meta: dict, rows: list[dict], console: Console, autotune: dict | None = None
               ) -> None:
    spec = meta["model"]
    head = Table(title="textrnn model", show_header=False, title_justify="left")
    head.add_row("task", meta["task"] + (" (multi-label)" if meta.get("multilabel") else ""))
    head.add_row("encoder", f"{spec['encoder']}{' bidirectional' if spec['bidirectional'] else ''}"
                 f", {spec['layers']} layer(s), {spec['units']} units"
                 f"{', CRF' if spec.get('crf') else ''}"
                 f"{', intent per token' if spec.get('token_intent') else ''}")
    head.add_row("embedding", f"{spec['vocab_size']} x {spec['embedding_dim']}")
    if spec.get("bigrams"):
        head.add_row("bigrams", f"{spec['num_bigrams']} x {spec['bigram_dim']}")
    head.add_row("max length", str(meta["tokenizer"]["max_len"]))
    engine = meta.get("engine", {})
    head.add_row("predicts with", "NumPy (no TensorFlow)" if engine.get("numpy")
                 else f"Keras ({engine.get('reason', 'no NumPy export')})")
    if meta["labels"]:
        head.add_row("labels", ", ".join(meta["labels"]))
    if meta["tags"]:
        head.add_row("slot tags", str(len(meta["tags"]) - 1))
    lookups = meta.get("lookups")
    if lookups:
        for item in lookups["lists"]:
            head.add_row(f"lookup {item['name']}", f"{item['entries']:,} entries"
                         f"{' (slot values)' if item['slot'] else ' (feature only)'}")
        if lookups["synonyms"]:
            head.add_row("synonyms", f"{lookups['synonyms']:,}")
    training = meta.get("training", {})
    if training:
        head.add_row("trained", f"{training.get('epochs_run')} epochs on "
                     f"{training.get('train_rows')} rows in {training.get('seconds')} s")
        for origin in ("given", "defaults"):
            if training.get(origin):
                head.add_row(f"options ({origin})", ", ".join(
                    f"{name} {value}" for name, value in training[origin].items()))
    for key, value in _headline(meta.get("metrics", {})).items():
        head.add_row(f"valid {key}", value)
    for key, value in (autotune_rows(autotune) if autotune else {}).items():
        head.add_row(key, escape(value))
    console.print(head)
    layers = Table(title="layers", title_justify="left")
    for column in ("layer", "type", "parameters", "textbook formula"):
        layers.add_column(column, justify="right" if column == "parameters" else "left")
    for row in rows:
        layers.add_row(row["name"], row["type"], f"{row['params']:,}", escape(row["formula"]))
    layers.add_row("total", "", f"{sum(row['params'] for row in rows):,}", "")
    console.print(layers)


def pretrained_summary(meta: dict) -> dict:
    """What `textrnn info` says of a pretrained directory, as plain data."""
    spec, corpus, training = meta["model"], meta["corpus"], meta.get("training", {})
    return {
        "encoder": f"{spec['encoder']} forward + backward language models, {spec['units']} "
                   f"units each",
        "embedding": f"{len(meta['vocab'])} x {spec['embedding_dim']} (tied to the output)",
        "features": ", ".join(name for name, on in (("characters", spec.get("char_features")),
                                                      ("bigrams", spec.get("bigrams"))) if on)
                    or "words only",
        "corpus": f"{corpus['rows']:,} sentences, {corpus['tokens']:,} tokens (+ "
                  f"{corpus['valid_rows']:,} held out) from {corpus['source']}",
        "perplexity": meta.get("perplexity", {}),
        "trained": f"{training.get('epochs_run')} epochs (best {training.get('best_epoch')}) "
                   f"in {training.get('seconds')} s, {training.get('tokens_per_second', 0):,.0f} "
                   "tokens/s" + (f", sampled softmax of {training['sampled_softmax']}"
                                 if training.get("sampled_softmax") else ""),
        "textrnn_version": meta.get("textrnn_version"),
    }


def print_pretrained_info(meta: dict, console: Console = err, title: str = "textrnn pretrained "
                          "directory") -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    for key, value in pretrained_summary(meta).items():
        if key == "perplexity":
            value = (f"{value.get('mean')} (forward {value.get('forward')}, backward "
                     f"{value.get('backward')}), held out")
        table.add_row(key, str(value))
    console.print(table)
    for note in meta["corpus"].get("notes", []):
        console.print(f"[yellow]note:[/] {note}")


def print_pretrain_summary(meta: dict, out: str) -> None:
    print_pretrained_info(meta, err, f"Pretrained → {out}")


def print_compare(rows: list[dict], console: Console, kept=None) -> None:
    table = Table(title="Encoders on the same data, split and seed (validation scores)",
                  title_justify="left")
    metric_names = list(rows[0]["metrics"]) if rows else []
    for column in ("encoder", *metric_names, "parameters", "train s", "epochs", "predict sent/s"):
        table.add_column(column, justify="left" if column == "encoder" else "right")
    best = max(rows, key=lambda row: row["score"])["encoder"] if rows else None
    for row in rows:
        name = f"[bold]{row['encoder']}[/] *" if row["encoder"] == best else row["encoder"]
        table.add_row(name, *(percent(row["metrics"][key]) for key in metric_names),
                      f"{row['parameters']:,}", f"{row['train_seconds']:.1f}",
                      str(row["epochs"]), f"{row['predict_sentences_per_second']:,}")
    console.print(table)
    if kept is not None:
        console.print(f"* best; kept in {kept}")


def write_json(data, stream=None) -> None:
    """Indented JSON to `stream` (stdout by default)."""
    (stream or sys.stdout).write(json.dumps(data, ensure_ascii=False, indent=1) + "\n")
