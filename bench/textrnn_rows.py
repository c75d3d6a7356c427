"""textrnn through its command line, as a user runs it: train a row's model, once per seed (or
reuse the one this run has already trained with the same command), score it with `textrnn
eval`, time `textrnn predict`."""

from __future__ import annotations

import os
import shlex
import shutil
import statistics
from pathlib import Path

from harness import (
    PREDICT_TIMEOUT,
    SEED,
    SINGLE_RUNS,
    TRAIN_TIMEOUT,
    WARM_LINES,
    headline,
    log,
    one_line,
    over_seeds,
    read_csv,
    repeated,
    run,
    run_json,
    slim,
    source_state,
    textrnn_exe,
    write_lines,
)

# The figures a row with several seeds gives as mean ± standard deviation (see over_seeds).
TEXTRNN_FIGURES = (("test",), ("dev",), ("train_wall_seconds",), ("training", "seconds"),
                   ("training", "sentences_per_second"))


def bench_textrnn(name: str, work: Path, train: Path, test: Path, train_args: list[str],
                  args, dev: Path | None = None, epochs: int | None = None,
                  seeds: int = 1) -> dict:
    """Train with the CLI (`--seed 13`, and with `seeds` > 1 once more for each of 14, 15, ...),
    evaluate each model on test (and dev); time batch and single predictions of the first
    seed's model. `epochs` (default: --epochs) goes to `textrnn train --epochs`. A model this
    run has already trained with the same command, and scored on the same test file, is
    reused as it is."""
    return over_seeds(lambda seed, first: train_seed(
        name if first else f"{name}-seed{seed}", work, train, test,
        [*train_args, "--seed", str(seed)], args, dev, epochs, timed=first),
        list(range(SEED, SEED + seeds)), TEXTRNN_FIGURES)


def train_seed(name: str, work: Path, train: Path, test: Path, train_args: list[str], args,
               dev: Path | None, epochs: int | None, timed: bool) -> dict:
    """One model of a row: trained (or this run's model for the same command reused), scored,
    and its prediction timed if `timed`."""
    exe = textrnn_exe()
    epochs = args.epochs if epochs is None else epochs
    epoch_args = [] if epochs is None else ["--epochs", str(epochs)]
    key = shlex.join(str(c) for c in [train, *train_args, *epoch_args, "test", test])
    if key in args.trained:
        return reused_row(name, args.trained[key], exe, dev)
    model = work / f"textrnn-{name}"
    if model.exists():
        shutil.rmtree(model)
    cmd = [exe, "train", train, *train_args, "--out", model, "--quiet", "--json", *epoch_args]
    log(f"{name}: textrnn train ({shlex.join(str(c) for c in cmd[1:])})")
    source = source_state()
    train_wall, summary = run_json(cmd, TRAIN_TIMEOUT)
    training = summary.get("training", {})
    log(f"{name}: trained in {train_wall:.1f} s wall, {training.get('epochs_run')} epochs "
        f"(best {training.get('best_epoch')})")
    result = {
        "name": name,
        "command": shlex.join(["textrnn", *(str(c) for c in cmd[1:])]),
        "model_dir": str(model),
        "train_wall_seconds": train_wall,
        "training": {k: v for k, v in training.items() if k != "history"},
        "history": training.get("history"),
        "model": summary.get("model"),
        "valid_metrics": slim(summary.get("metrics") or {}),
    }
    result.update(model_info(exe, model))
    result["test"] = textrnn_eval(exe, test, model)
    log(f"{name}: test {headline(result['test'])}")
    if dev is not None:
        result["dev"] = textrnn_eval(exe, dev, model)
        log(f"{name}: dev {headline(result['dev'])}")
    if timed:
        result["predict"] = time_textrnn_predict(name, exe, model, work, test)
    result["source"] = source
    after = source_state()
    if after["source_sha256"] != source["source_sha256"]:
        result["source_after"] = after
        log(f"{name}: warning: textrnn's source changed while this row ran")
    args.trained[key] = result
    return result


def reused_row(name: str, row: dict, exe: str, dev: Path | None) -> dict:
    """A row this run already has (same training command and test file), for another table;
    scored on dev too if asked and not yet done."""
    log(f"{name}: the same model as the {row['name']} row of this run ({row['model_dir']}); "
        "not trained again")
    out = {**row, "reused_from": row["name"]}
    if dev is not None and "dev" not in out:
        out["dev"] = textrnn_eval(exe, dev, Path(row["model_dir"]))
    return out


def textrnn_eval(exe: str, data: Path, model: Path) -> dict:
    """`textrnn eval DATA --json`, without the per-class tables."""
    return slim(run_json([exe, "eval", data, "--model", model, "--json"], PREDICT_TIMEOUT)[1])


def model_info(exe: str, model: Path) -> dict:
    """Parameter count (the sum of `textrnn info --json`'s layer table) and the engines the
    saved model has."""
    _, info = run_json([exe, "info", "--model", model, "--json"], PREDICT_TIMEOUT)
    return {"parameters": sum(int(layer.get("params") or 0) for layer in info.get("layers", [])),
            "engine": info.get("engine")}


def time_textrnn_predict(name: str, exe: str, model: Path, work: Path, test: Path) -> dict:
    texts = [one_line(row["text"]) for row in read_csv(test)]
    texts_file = write_lines(work / f"{name}-test-texts.txt", texts)
    base = [exe, "predict", "--format", "jsonl", "--output", os.devnull, "--model", model]
    batch_wall, _ = run(base[:2] + ["--input", texts_file] + base[2:], PREDICT_TIMEOUT)
    single = []
    for _ in range(SINGLE_RUNS):
        wall, _ = run([exe, "predict", texts[0], "--format", "jsonl", "--model", model],
                      PREDICT_TIMEOUT)
        single.append(wall)
    many = repeated(texts, WARM_LINES)
    many_file = write_lines(work / f"{name}-many-texts.txt", many)
    many_wall, _ = run(base[:2] + ["--input", many_file] + base[2:], PREDICT_TIMEOUT)
    single_median = statistics.median(single)
    net = many_wall - single_median
    out = {
        "sentences": len(texts),
        "batch_wall_seconds": batch_wall,
        "batch_sentences_per_second": len(texts) / batch_wall,
        "single_wall_seconds": single,
        "single_wall_median": single_median,
        "warm_sentences": len(many),
        "warm_wall_seconds": many_wall,
        # Throughput with the start-up (Python, TensorFlow, model load) taken out: the time
        # for many lines minus the median time for one line.
        "warm_sentences_per_second": len(many) / net if net > 0 else None,
    }
    log(f"{name}: predict {out['batch_sentences_per_second']:.0f} sent/s cold, "
        f"~{out['warm_sentences_per_second'] or 0:.0f} sent/s warm, "
        f"single {single_median:.2f} s")
    return out
