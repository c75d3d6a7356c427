"""Issue 23: does memory stay flat over a long search? The resident memory of one
`textrnn train --autotune` process after each of its trials, read from /proc while it runs.

Joint intent + slots (the largest graphs: character CNN, CRF, two heads) on a seeded sample of
SNIPS, one epoch a trial, so a hundred trials build and trace a hundred different models in a
few minutes. Keras' session is cleared between trials; a leak would show as memory growing
with the trial count.

Results go to docs/benchmarks-autotune-memory.json and the `autotune-memory` section of
docs/benchmarks.md.

    .venv/bin/python bench/autotune_memory.py --trials 100
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    ROOT,
    SEED,
    TRAIN_TIMEOUT,
    BenchError,
    child_env,
    log,
    machine,
    proc_status_kib,
    read_csv,
    run_header,
    textrnn_exe,
    write_csv,
)
from scale import replace_section  # noqa: E402

from textrnn.bundle import AUTOTUNE_FILE  # noqa: E402

BEGIN, END = "<!-- autotune-memory:begin -->", "<!-- autotune-memory:end -->"
POLL = 0.2  # seconds between looks at the trial count and the memory
SHOWN = (1, 10, 25, 50, 75, 100)  # trial counts the table shows (those reached)


def trials_done(record: Path) -> int:
    """Trials in the model's autotune.json so far (written in one step after each trial)."""
    try:
        return len(json.loads(record.read_text(encoding="utf-8"))["trials"])
    except (OSError, ValueError, KeyError):
        return 0


def search(args) -> dict:
    """One search; the process's VmRSS (MiB) as each trial's record appears, and its peak."""
    train = random.Random(SEED).sample(read_csv(args.data_dir / "snips" / "train.csv"), args.rows)
    valid = random.Random(SEED).sample(read_csv(args.data_dir / "snips" / "dev.csv"), 100)
    out = args.work / "model"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [textrnn_exe(), "train", write_csv(args.work / "train.csv", train), "--valid",
           write_csv(args.work / "valid.csv", valid), "--out", out, "--epochs", "1",
           "--seed", str(SEED), "--autotune", "3h", "--autotune-trials", str(args.trials),
           "--quiet"]
    started = time.monotonic()
    with open(args.work / "stderr.txt", "w+", encoding="utf-8") as stderr:
        process = subprocess.Popen([str(part) for part in cmd], stdout=subprocess.DEVNULL,
                                   stderr=stderr, env=child_env(), cwd=ROOT)
        after, seen, peak = [], 0, 0
        while process.poll() is None:
            if time.monotonic() - started > TRAIN_TIMEOUT:
                process.kill()
            done = trials_done(out / AUTOTUNE_FILE)
            rss = proc_status_kib(process.pid, "VmRSS")
            peak = max(peak, proc_status_kib(process.pid, "VmHWM") or 0)
            if done > seen and rss is not None:
                after.append({"trials": done, "rss_mib": round(rss / 1024, 1),
                              "seconds": round(time.monotonic() - started, 1)})
                seen = done
            time.sleep(POLL)
        if process.returncode != 0:
            stderr.seek(0)
            raise BenchError(f"exit code {process.returncode}: {stderr.read()[-2000:]}")
    return {"rows": args.rows, "trials": trials_done(out / AUTOTUNE_FILE), "after": after,
            "peak_mib": round(peak / 1024, 1), "wall": round(time.monotonic() - started, 1)}


def growth(after: list[dict], start: int) -> float | None:
    """MiB a trial, the least-squares slope of memory over trial count from trial `start` on."""
    points = [(point["trials"], point["rss_mib"]) for point in after if point["trials"] >= start]
    if len(points) < 3:
        return None
    return statistics.linear_regression(*zip(*points)).slope


def render(saved: dict) -> str:
    info, run = saved["info"], saved["run"]
    by_count = {point["trials"]: point for point in run["after"]}
    shown = [count for count in SHOWN if count in by_count]
    slope = growth(run["after"], 10)
    lines = [BEGIN, "### Autotune: memory over a long search (issue 23)", "",
             run_header("autotune_memory.py", info) + f"). `textrnn train --autotune 3h "
             f"--autotune-trials {info['trials']} --epochs 1` on {run['rows']} SNIPS training "
             "rows, joint (SNIPS dev, 100 rows, validates); the process's resident memory "
             "(VmRSS) as each trial's record is written, polled every "
             f"{POLL} s. {run['trials']} trials in {run['wall']:.0f} s from "
             f"{info['started']}; peak (VmHWM) "
             f"{run['peak_mib']:.0f} MiB.", "",
             "| trials done | " + " | ".join(str(count) for count in shown) + " |",
             "| --- |" + " --- |" * len(shown),
             "| resident memory (MiB) | " + " | ".join(
                 f"{by_count[count]['rss_mib']:.0f}" for count in shown) + " |", ""]
    quarters = [[point["rss_mib"] for point in run["after"]
                 if run["trials"] * k / 4 < point["trials"] <= run["trials"] * (k + 1) / 4]
                for k in range(4)]
    summary = []
    if all(quarters):
        summary.append("median of each quarter of the trials: " + ", ".join(
            f"{statistics.median(quarter):.0f}" for quarter in quarters) + " MiB")
    if slope is not None:
        summary.append(f"growth from trial 10 on (least squares): {slope:+.2f} MiB a trial")
    if summary:
        text = "; ".join(summary)
        lines.append(text[0].upper() + text[1:] + ".")
    return "\n".join([*lines, END]) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "autotune-memory")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    info = {"date": dt.date.today().isoformat(), "machine": machine(), "trials": args.trials,
            "started": dt.datetime.now(dt.timezone.utc).strftime("%H:%M UTC")}
    log(f"autotune memory bench: {args.trials} trials on {args.rows} rows")
    saved = {"info": info, "run": search(args)}
    log(f"  {json.dumps({k: v for k, v in saved['run'].items() if k != 'after'})}")
    args.out.with_name(args.out.stem + "-autotune-memory.json").write_text(
        json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    replace_section(args.out, BEGIN, END, render(saved))
    return 0


if __name__ == "__main__":
    sys.exit(main())
