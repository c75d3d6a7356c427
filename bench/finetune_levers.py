"""Issue 15's fine-tuning schedule, chosen on validation data: each lever of `textrnn train
--pretrained` (how long the pretrained layers stay frozen, the rate they learn at, a warm-up)
beside training from scratch, on SNIPS with 500 labels (validated on snips/dev.csv) and TREC
(on its seeded 10% split), one seed. Scores are the validation figures `textrnn train --json`
reports; the test sets are not read.

The pretrained directories are bench/pretrain.py's (the same text, options and cache).

    .venv/bin/python bench/finetune_levers.py                       # both rows, seed 13
    .venv/bin/python bench/finetune_levers.py --only trec --epochs 1    # check the script
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, BenchError, log, machine, run_json, textrnn_exe  # noqa: E402
from pretrain import METRICS, TIMEOUT, pretrained_for, row_data, write_text  # noqa: E402
from scale import replace_section  # noqa: E402

BEGIN, END = "<!-- pretrain-levers:begin -->", "<!-- pretrain-levers:end -->"
ROWS = {row: METRICS[row] for row in ("snips-500", "trec")}
# (row label, train options, from the pretrained directory?)
LEVERS = (("from scratch (no `--pretrained`)", [], False),
          ("from scratch, `--epochs 120`", ["--epochs", "120"], False),
          ("default (`--freeze-epochs 1`)", [], True),
          *((f"`{' '.join(options)}`", options, True) for options in (
              ["--freeze-epochs", "0"], ["--freeze-epochs", "3"],
              ["--pretrained-lr-scale", "0.3"], ["--pretrained-lr-scale", "0.1"],
              ["--freeze-epochs", "3", "--pretrained-lr-scale", "0.3"],
              ["--warmup", "200"], ["--freeze-epochs", "0", "--warmup", "200"])))


def measure(row: str, seed: int, epochs: list[str], work: Path) -> list[dict]:
    data = row_data(row, seed, work)
    text = write_text(work / f"{row}-{seed}-unlabelled.txt", data["text"])
    pre, _ = pretrained_for(text, seed, data["pretrain"] + epochs, work)
    scores = []
    for index, (name, options, pretrained) in enumerate(LEVERS):
        log(f"{row} seed {seed}: {name}")
        start = ["--pretrained", pre] if pretrained else []
        _, trained = run_json([textrnn_exe(), "train", *data["train"], "--out",
                               work / f"{row}-{seed}-lever-{index}", "--seed", str(seed),
                               "--quiet", "--json", *start, *epochs, *options], TIMEOUT)
        scores.append({key: trained["metrics"][key] for key in ROWS[row]})
    return scores


def render(results: dict, info: dict) -> str:
    header = [f"{row} {metric}" for row, metrics in ROWS.items() if row in results
              for metric in metrics]
    lines = [BEGIN, "### Fine-tuning from a pretrained directory: what each lever gave "
             "(validation data)", "",
             f"`bench/finetune_levers.py`, {info['date']}, seed {info['seed']}, "
             f"{info['machine']['cpu']} {info['machine']['cores']} cores, load "
             f"{', '.join(f'{x:.2f}' for x in info['machine']['loadavg'])} at the start. "
             "SNIPS-500 is validated on snips/dev.csv (pretrained on the other 12,584 training "
             "sentences), TREC on its seeded 10% split (pretrained on its training text).", "",
             f"| fine-tuning | {' | '.join(header)} |", "| --- |" + " --- |" * len(header)]
    for index, (name, _, _) in enumerate(LEVERS):
        cells = [f"{100 * results[row][index][metric]:.2f}" for row, metrics in ROWS.items()
                 if row in results for metric in metrics]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join([*lines, END]) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(ROWS))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--epochs", type=int, help="Passed to pretrain and train (quick checks).")
    parser.add_argument("--work", default=str(ROOT / "bench" / "out" / "pretrain"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    epochs = ["--epochs", str(args.epochs)] if args.epochs else []
    info = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "seed": args.seed, "machine": machine()}
    try:
        results = {row: measure(row, args.seed, epochs, work)
                   for row in ROWS if row in args.only.split(",")}
    except BenchError as error:
        log(f"failed: {error}")
        return 1
    replace_section(Path(args.out), BEGIN, END, render(results, info))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
