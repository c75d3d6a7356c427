"""Issue 24, item 2: the old 40-epoch cap against today's (patience decides; at most
`textrnn.train.defaults.MAX_EPOCHS`), same seeds, same run.

Rows: TREC (the training file with textrnn's held-out split, scored on test) and SNIPS-500
(500 SNIPS training rows drawn by intent, as in the pretraining table, `--valid dev.csv`, scored
on test), each trained with `--epochs 40` and with the default. SNIPS with all its labels is read
from the lookups runs of the same day (the default model, cap 200): a run that stops before
epoch 40 is the run the old cap would have made.

Results go to docs/benchmarks-epoch-cap.json and the `epoch-cap` section of docs/benchmarks.md.

    .venv/bin/python bench/epoch_cap.py --seeds 13,14,15
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    ROOT,
    TRAIN_TIMEOUT,
    log,
    machine,
    mean_std_text,
    read_csv,
    run_header,
    run_json,
    textrnn_exe,  # noqa: E402
)
from pretrain import stratified, write_rows  # noqa: E402
from scale import replace_section  # noqa: E402

from textrnn.train.defaults import MAX_EPOCHS  # noqa: E402

BEGIN, END = "<!-- epoch-cap:begin -->", "<!-- epoch-cap:end -->"
OLD_CAP = 40
CAPS = {f"at most {OLD_CAP} epochs (old)": ["--epochs", str(OLD_CAP)],
        f"patience decides (at most {MAX_EPOCHS})": []}
METRIC = {"trec": "accuracy", "snips-500": "slot_f1"}


def files(name: str, seed: int, data: Path, work: Path) -> tuple[Path, list[str], Path]:
    """(training file, validation options, test file) of a row."""
    if name == "trec":
        return data / "trec" / "train.csv", [], data / "trec" / "test.csv"
    rows = read_csv(data / "snips" / "train.csv")
    chosen, _ = stratified(rows, "intent", 500, seed)
    train = write_rows(work / f"snips-500-{seed}.csv", list(rows[0]), chosen)
    return train, ["--valid", str(data / "snips" / "dev.csv")], data / "snips" / "test.csv"


def measure(name: str, cap: str, seed: int, data: Path, work: Path) -> dict:
    train, valid, test = files(name, seed, data, work)
    out = work / f"cap-{name}-{seed}-{'old' if CAPS[cap] else 'new'}"
    wall, trained = run_json([textrnn_exe(), "train", train, *valid, "--out", out, "--seed",
                              str(seed), "--quiet", "--json", *CAPS[cap]], TRAIN_TIMEOUT)
    _, scored = run_json([textrnn_exe(), "eval", test, "--model", out, "--json"], TRAIN_TIMEOUT)
    training = trained["training"]
    return {"row": name, "cap": cap, "seed": seed, "wall": round(wall, 1),
            "fit": training["seconds"], "epochs_run": training["epochs_run"],
            "best_epoch": training["best_epoch"], "score": scored[METRIC[name]]}


def render(saved: dict) -> str:
    info, runs = saved["info"], saved["runs"]
    lines = [BEGIN, "### The epoch cap: 40 against patience (issue 24)", "",
             run_header("epoch_cap.py", info)
             + "; other jobs ran beside it, so the walls compare only within a row pair). "
             "Test scores (TREC accuracy, SNIPS-500 slot F1), mean ± std over the seeds.", "",
             "| data | cap | seeds | test score | epochs run | best epoch | training wall (s) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name in METRIC:
        for cap in CAPS:
            mine = [run for run in runs if (run["row"], run["cap"]) == (name, cap)]
            if mine:
                lines.append(
                    f"| {name} | {cap} | {', '.join(str(r['seed']) for r in mine)} | "
                    f"{mean_std_text([100 * r['score'] for r in mine])} | "
                    f"{', '.join(str(r['epochs_run']) for r in mine)} | "
                    f"{', '.join(str(r['best_epoch']) for r in mine)} | "
                    f"{mean_std_text([r['wall'] for r in mine], 0)} |")
    return "\n".join([*lines, *saved.get("notes", []), END]) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="13,14,15")
    parser.add_argument("--rows", default=",".join(METRIC))
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "epoch-cap")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    store = args.out.with_name("benchmarks-epoch-cap.json")
    saved = json.loads(store.read_text(encoding="utf-8")) if store.exists() else {"runs": []}
    for name in args.rows.split(","):
        for seed in (int(seed) for seed in args.seeds.split(",")):
            for cap in CAPS:  # old and new in turn, so a change in load hits both alike
                log(f"epoch cap: {name}, {cap}, seed {seed}")
                result = measure(name, cap, seed, args.data_dir, args.work)
                log(f"  {json.dumps(result)}")
                saved["runs"] = [r for r in saved["runs"]
                                 if (r["row"], r["cap"], r["seed"]) != (name, cap, seed)]
                saved["runs"].append(result)
                saved["info"] = {"date": dt.date.today().isoformat(), "machine": machine()}
                store.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
                replace_section(args.out, BEGIN, END, render(saved))
    return 0


if __name__ == "__main__":
    sys.exit(main())
