"""Issue 23: which pruner finds the better model within the same `--autotune` budget.

`textrnn train --autotune D` on SNIPS-500 joint (500 training rows drawn by intent, seeded;
SNIPS dev validates, as in the autotune section), once with each pruner. Each winner is scored
on 2,000 other SNIPS training rows: rows the search never saw, so the comparison leaves the
test set to the autotune section, which scores it once. The pruner is swapped inside the
command's own process (textrnn.train.autotune.make_pruner); everything else runs as a user's
`textrnn train`, and the wall time is the whole command's.

Results go to docs/benchmarks-pruners.json and the `pruners` section of docs/benchmarks.md.

    .venv/bin/python bench/pruners.py --seeds 13,14 --duration 10m
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
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

from textrnn.train.autotune import PRUNE_AFTER  # noqa: E402

BEGIN, END = "<!-- pruners:begin -->", "<!-- pruners:end -->"
HELD_OUT = 2000  # SNIPS training rows outside the 500, scored by each winner


# name -> a function of optuna making the pruner; None: textrnn's own (autotune.make_pruner)
PRUNERS = {
    "median, 2 epochs' warm-up (textrnn's)": None,
    "median, 5 epochs' warm-up": lambda optuna, after=PRUNE_AFTER: optuna.pruners.MedianPruner(
        n_startup_trials=PRUNE_AFTER, n_warmup_steps=5),
    "successive halving (epochs 2, 6, 18, 54; a third goes on)": lambda optuna, after=PRUNE_AFTER: (
        optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=3)),
}


def child(name: str, argv: list[str]) -> None:
    """`textrnn ARGV` in this process, with the pruner `name`."""
    from textrnn.cli import main
    from textrnn.train import autotune

    if PRUNERS[name] is not None:
        autotune.make_pruner = PRUNERS[name]
    sys.argv = ["textrnn", *argv]
    main()


def files(seed: int, args) -> dict:
    rows = {split: read_csv(args.data_dir / "snips" / f"{split}.csv") for split in ("train", "dev")}
    train, rest = stratified(rows["train"], "intent", 500, seed)
    held_out = random.Random(seed).sample(rest, HELD_OUT)
    return {name: write_csv(args.work / f"snips-500-{seed}-{name}.csv", data)
            for name, data in (("train", train), ("valid", rows["dev"]), ("held-out", held_out))}


def one_run(name: str, seed: int, data: dict, duration: str, work: Path) -> dict:
    out = work / f"snips-500-{seed}-{duration}-pruner{list(PRUNERS).index(name)}"
    wall, trained = run_json(
        [sys.executable, __file__, "--child", name, "--", "train", data["train"], "--valid",
         data["valid"], "--out", out, "--seed", str(seed), "--autotune", duration, "--quiet",
         "--json"], TRAIN_TIMEOUT)
    _, scored = run_json([textrnn_exe(), "eval", data["held-out"], "--model", out, "--json"],
                         TRAIN_TIMEOUT)
    trials = trained["autotune"]["trials"]
    return {"wall": round(wall, 1), "valid": trained["metrics"]["frame_accuracy"],
            "held_out": scored["frame_accuracy"], "held_out_slot_f1": scored["slot_f1"],
            "trials": len(trials), "pruned": sum(entry["pruned"] for entry in trials),
            "best_trial": trained["autotune"]["best_trial"],
            "epochs": sum(entry["epochs"] for entry in trials)}


def render(saved: dict) -> str:
    info, runs = saved["info"], saved["runs"]
    lines = [BEGIN, "### Autotune: which pruner (issue 23)", "",
             run_header("pruners.py", info) + f"). `textrnn train --autotune "
             f"{info['duration']}` on SNIPS-500 joint (SNIPS dev validates) with each pruner; "
             f"the winner's frame accuracy on {HELD_OUT:,} SNIPS training rows outside the 500 "
             "(not the test set), the validation score it was chosen by, trials (pruned) and "
             "epochs trained in all; mean ± std over the seeds.", "",
             "| pruner | seeds | held-out frame acc. | held-out slot F1 | valid | "
             "trials (pruned) | epochs | wall (s) | started (UTC), load |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in PRUNERS:  # the runs of other budgets stay in the JSON
        mine = [run for run in runs if run["pruner"] == name and "error" not in run
                and run["duration"] == info["duration"]]
        if not mine:
            continue
        trials = ", ".join(f"{r['trials']} ({r['pruned']})" for r in mine)
        epochs = ", ".join(str(r["epochs"]) for r in mine)
        started = "; ".join(f"{r['started']}, {r['load']:.2f}" for r in mine)
        lines.append(
            f"| {name} | {', '.join(str(r['seed']) for r in mine)} | "
            f"{mean_std_text([100 * r['held_out'] for r in mine])} | "
            f"{mean_std_text([100 * r['held_out_slot_f1'] for r in mine])} | "
            f"{mean_std_text([100 * r['valid'] for r in mine])} | {trials} | {epochs} | "
            f"{mean_std_text([r['wall'] for r in mine], 0)} | {started} |")
    lines += [f"\n{run['pruner']} seed {run['seed']} failed: {run['error']}"
              for run in runs if "error" in run]
    return "\n".join([*lines, END]) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(argv[1], argv[3:])  # --child NAME -- ARGS
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="13,14")
    parser.add_argument("--duration", default="10m")
    parser.add_argument("--pruners", default=None,
                        help="numbers of the pruners to run, e.g. 0,2 (default: all)")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "pruners")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    store = args.out.with_name(args.out.stem + "-pruners.json")
    saved = json.loads(store.read_text(encoding="utf-8")) if store.exists() else {"runs": []}
    saved["info"] = {"date": dt.date.today().isoformat(), "machine": machine(),
                     "duration": args.duration}
    names = list(PRUNERS)
    chosen = [names[int(i)] for i in args.pruners.split(",")] if args.pruners else names
    for seed in (int(seed) for seed in args.seeds.split(",")):
        data = files(seed, args)
        for name in chosen:
            log(f"pruners bench: {name}, seed {seed}")
            result = {"pruner": name, "seed": seed, "duration": args.duration,
                      **stamped_attempt(one_run, name, seed, data, args.duration, args.work)}
            log(f"  {json.dumps(result)}")
            keep_run(saved, result, ("pruner", "seed", "duration"), store)
            replace_section(args.out, BEGIN, END, render(saved))
    return 0


if __name__ == "__main__":
    sys.exit(main())
