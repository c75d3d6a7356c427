"""Issue 23: `textrnn train --autotune` against the defaults and against fastText's autotune
with the same budget, on the same splits, in the same run.

Rows: TREC and TNEWS (10% of the training file, seeded, held out as the validation file;
TNEWS is scored on its dev file, TREC on test), SNIPS intent (classification of the intent
column; SNIPS dev validates, test scores) and SNIPS-500 joint (500 training rows drawn by
intent, as in the pretraining table; fastText predicts its intent only). Each row trains:
textrnn's defaults; `--autotune D` for each duration; fastText with the settings of
docs/benchmarks.md; fastText's `-autotune-duration D` on the same validation file. Every
textrnn figure comes from the `textrnn` command run as a user runs it; the wall time is the
whole command's. Reported: the test score, the validation score the search chose by (the gap
says how much it overfits dev), trials, and the wall time against the budget.

Results go to docs/benchmarks-autotune.json and the `autotune` section of docs/benchmarks.md.

    .venv/bin/python bench/autotune.py --seeds 13,14,15                    # the measurement
    .venv/bin/python bench/autotune.py --rows trec --durations 30s --seeds 13 --limit 300 \\
        --out /tmp/autotune.md                                             # a quick check
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fasttext_rows import FASTTEXT, ft_predict, ft_text  # noqa: E402
from harness import (  # noqa: E402
    ROOT,
    TRAIN_TIMEOUT,
    keep_run,
    log,
    machine,
    mean_std_text,
    read_csv,
    run_header,
    run_json,
    stamped_attempt,
    textrnn_exe,
    write_csv,
)
from pretrain import stratified  # noqa: E402
from scale import replace_section  # noqa: E402

from textrnn.train.tuning import parse_duration  # noqa: E402

BEGIN, END = "<!-- autotune:begin -->", "<!-- autotune:end -->"
# row -> (the score compared, textrnn train's options for the row)
ROWS = {"trec": ("accuracy", []), "snips": ("accuracy", ["--task", "classify"]),
        "tnews": ("accuracy", []), "snips-500": ("frame_accuracy", [])}
HELD_OUT = 0.1  # of the training file, as the validation file of TREC and TNEWS


def splits(name: str, seed: int, data: Path, work: Path, limit: int | None):
    """(train, valid, test) rows of a row's data: lists of dicts with text, label or intent."""
    if name in ("trec", "tnews"):
        rows = read_csv(data / name / "train.csv")
        random.Random(seed).shuffle(rows)
        cut = round(HELD_OUT * len(rows))
        train, valid = rows[cut:], rows[:cut]
        test = read_csv(data / name / ("test.csv" if name == "trec" else "dev.csv"))
    else:
        train, valid, test = (read_csv(data / "snips" / f"{split}.csv")
                              for split in ("train", "dev", "test"))
        if name == "snips-500":
            train, _ = stratified(train, "intent", 500, seed)
    if limit:  # a quick check: a seeded sample of each file
        train, valid, test = (random.Random(seed).sample(rows, min(limit, len(rows)))
                              for rows in (train, valid, test))
    return train, valid, test


def textrnn_run(name: str, files: dict, budget: str | None, seed: int, work: Path) -> dict:
    """`textrnn train` (with --autotune when `budget`), then `textrnn eval` on test."""
    metric, options = ROWS[name]
    out = work / f"{name}-{seed}-{budget or 'defaults'}"
    search = ["--autotune", budget] if budget else []
    wall, trained = run_json([textrnn_exe(), "train", files["train"], "--valid", files["valid"],
                              "--out", out, "--seed", str(seed), "--quiet", "--json", *options,
                              *search], TRAIN_TIMEOUT)
    _, scored = run_json([textrnn_exe(), "eval", files["test"], "--model", out, "--json"],
                         TRAIN_TIMEOUT)
    record = trained.get("autotune")
    result = {"wall": round(wall, 1), "test": scored[metric],
              "test_intent": scored.get("intent_accuracy", scored.get("accuracy")),
              "valid": trained["metrics"][metric]}
    if record:
        result.update(trials=len(record["trials"]),
                      pruned=sum(entry["pruned"] for entry in record["trials"]),
                      best_trial=record["best_trial"],
                      budget_ratio=round(wall / parse_duration(budget), 3))
    return result


FASTTEXT_MEMORY = 20 * 2**30  # bytes of address space: fastText autotune can outgrow the machine


def fasttext_run(name: str, files: dict, budget: str | None, seed: int) -> dict:
    """fastText with the report's settings, or its autotune on the validation file for the
    same budget; scored on test (labels, or a joint row's intents). In a process of its own
    with its address space capped: the autotune can try models larger than the machine's
    memory (fastText issue #888), and then aborts on std::bad_alloc, which is reported as the
    run's error instead of taking the benchmark down."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        try:
            return pool.submit(_fasttext_in_child, name, files, budget, seed).result()
        except (BrokenProcessPool, MemoryError):
            raise RuntimeError(f"fastText's process died: out of memory past its "
                               f"{FASTTEXT_MEMORY / 2**30:.0f} GiB cap, or a crash") from None


def _fasttext_in_child(name: str, files: dict, budget: str | None, seed: int) -> dict:
    import resource

    import fasttext

    resource.setrlimit(resource.RLIMIT_AS, (FASTTEXT_MEMORY, FASTTEXT_MEMORY))
    started = time.perf_counter()
    if budget:
        model = fasttext.train_supervised(
            input=str(files["ft-train"]), autotuneValidationFile=str(files["ft-valid"]),
            autotuneDuration=int(parse_duration(budget)), seed=seed, verbose=0,
            thread=FASTTEXT["thread"])
    else:
        model = fasttext.train_supervised(input=str(files["ft-train"]), seed=seed, **FASTTEXT)
    wall = time.perf_counter() - started
    accuracy = {}
    for split in ("valid", "test"):
        texts, gold = files[f"ft-{split}-rows"]
        predicted = ft_predict(model, texts)
        accuracy[split] = sum(p == g for p, g in zip(predicted, gold)) / len(gold)
    labels = ROWS[name][0] == "accuracy"  # else a joint row: fastText has its intents only
    result = {"wall": round(wall, 1), "test": accuracy["test"] if labels else None,
              "valid": accuracy["valid"] if labels else None, "test_intent": accuracy["test"]}
    if budget:
        result["budget_ratio"] = round(wall / parse_duration(budget), 3)
    return result


def write_files(name: str, seed: int, args, work: Path) -> dict:
    """The row's splits as textrnn CSV files and fastText lines (the same rows)."""
    train, valid, test = splits(name, seed, args.data_dir, work, args.limit)
    label = "intent" if name.startswith("snips") else "label"
    files = {}
    for split, rows in (("train", train), ("valid", valid), ("test", test)):
        files[split] = write_csv(work / f"{name}-{seed}-{split}.csv", rows)
        lines = [f"__label__{row[label]} {ft_text(row['text'])}" for row in rows]
        files[f"ft-{split}"] = work / f"{name}-{seed}-{split}.ft.txt"
        files[f"ft-{split}"].write_text("\n".join(lines) + "\n", encoding="utf-8")
        files[f"ft-{split}-rows"] = ([ft_text(row["text"]) for row in rows],
                                     [row[label] for row in rows])
    return files


def variants(durations: list[str]) -> list[tuple[str, str, str | None]]:
    """(label, system, budget), in the order they run and are shown."""
    return ([("textrnn defaults", "textrnn", None)]
            + [(f"textrnn --autotune {d}", "textrnn", d) for d in durations]
            + [("fastText", "fasttext", None)]
            + [(f"fastText autotune {d}", "fasttext", d) for d in durations])


def percents(runs: list[dict], key: str) -> str:
    """Mean ± std of a figure in percent; a dash where a system has no such figure."""
    values = [run[key] for run in runs]
    return "–" if None in values else mean_std_text([100 * value for value in values])


def render(saved: dict) -> str:
    info, runs = saved["info"], saved["runs"]
    sample = f", a sample of {info['limit']} rows a file" if info["limit"] else ""
    lines = [BEGIN, "### Autotune: the best model within a budget (issue 23)", "",
             run_header("autotune.py", info) + f"){sample}. Test scores (TNEWS: its dev "
             "file, as CLUE scores it; accuracy; frame accuracy for SNIPS-500 joint, where "
             "fastText, which cannot tag, has its intent accuracy only), the validation "
             "score each model was chosen by, the whole command's wall time and its share of "
             "the budget; mean ± std over the seeds.", "",
             "| data | model | seeds | test | test intent | valid | trials (pruned) | wall (s) "
             "| wall / budget | started (UTC), load |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in ROWS:
        for label, _, _ in variants(info["durations"]):
            mine = [run for run in runs if (run["row"], run["variant"]) == (name, label)
                    and "error" not in run]
            if not mine:
                continue
            trials = (", ".join(f"{r['trials']} ({r['pruned']})" for r in mine)
                      if "trials" in mine[0] else "")
            ratio = (", ".join(f"{r['budget_ratio']:.2f}" for r in mine)
                     if "budget_ratio" in mine[0] else "")
            started = ", ".join(f"{r['started']}, {r['load']:.2f}" for r in mine
                                if "started" in r)  # runs of other days and loads share a table
            lines.append(
                f"| {name} | {label} | {', '.join(str(r['seed']) for r in mine)} | "
                f"{percents(mine, 'test')} | {percents(mine, 'test_intent')} | "
                f"{percents(mine, 'valid')} | {trials} | "
                f"{mean_std_text([r['wall'] for r in mine], 0)} | {ratio} | {started} |")
    failed = [run for run in runs if "error" in run]
    lines += [f"\n{run['row']} {run['variant']} seed {run['seed']} failed: {run['error']}"
              for run in failed]
    lines += [f"\n{run['row']} {run['variant']} seed {run['seed']}: {run['note']}"
              for run in runs if "note" in run]  # how a figure was taken, where it differs
    return "\n".join([*lines, END]) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="13,14,15")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--durations", default="10m,30m")
    parser.add_argument("--systems", default="textrnn,fasttext",
                        help="which systems' runs to make (the others' are kept from the JSON)")
    parser.add_argument("--budgets-only", action="store_true",
                        help="only the autotune runs (the defaults' are kept from the JSON)")
    parser.add_argument("--limit", type=int, default=None,
                        help="a seeded sample of this many rows per file (a quick check)")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "autotune")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    durations = args.durations.split(",")
    for duration in durations:
        parse_duration(duration)  # a typo fails now, not after hours
    args.work.mkdir(parents=True, exist_ok=True)
    store = args.out.with_name(args.out.stem + "-autotune.json")
    saved = json.loads(store.read_text(encoding="utf-8")) if store.exists() else {"runs": []}
    kept = saved.get("info", {}).get("durations", [])  # the rows of earlier runs stay shown
    shown = sorted(set(kept) | set(durations), key=parse_duration)
    saved["info"] = {"date": dt.date.today().isoformat(), "machine": machine(),
                     "durations": shown, "limit": args.limit}
    for name in args.rows.split(","):
        for seed in (int(seed) for seed in args.seeds.split(",")):
            files = write_files(name, seed, args, args.work)
            for label, system, budget in variants(durations):
                if system not in args.systems.split(",") or (args.budgets_only and not budget):
                    continue
                log(f"autotune bench: {name}, {label}, seed {seed}")
                result = (stamped_attempt(textrnn_run, name, files, budget, seed, args.work)
                          if system == "textrnn"
                          else stamped_attempt(fasttext_run, name, files, budget, seed))
                result = {"row": name, "variant": label, "seed": seed, **result}
                log(f"  {json.dumps(result)}")
                keep_run(saved, result, ("row", "variant", "seed"), store)
                replace_section(args.out, BEGIN, END, render(saved))
    return 0


if __name__ == "__main__":
    sys.exit(main())
