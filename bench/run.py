"""Benchmark textrnn's default models against fastText on TREC, SNIPS and TNEWS.

Every textrnn figure comes from the installed `textrnn` command run as a subprocess, the way a
user runs it; fastText runs through its Python module (fasttext-wheel). Writes a Markdown report
(`--out`, default docs/benchmarks.md) and every raw number beside it (same name, `.json`).
A dataset that fails is recorded in the report with its error; the others still run.
`predict` adds the "Prediction speed" section: the default SNIPS joint model on the NumPy and
Keras engines (single sentence, 100k-line batch, peak RSS of a 1M-line stream, share of FP32
peak) beside fastText. `cluster` labels 200,000 SNIPS lines (Parquet) on a local two-process
Dask cluster with `Model.predict_frame`, beside one `textrnn predict` process. `encoders` trains
every textrnn encoder with its defaults on TREC (classification) and SNIPS (joint), scored on
test; `typos` scores the default SNIPS joint model, and the same without character features, on
the clean test set and on one with seeded typos.
The trec and snips-joint rows are each trained over `--seeds` seeds (mean ± standard deviation).
Sections not run this time are kept from the JSON already beside --out, saying which run they
come from.
This file is the entry point (options, and the sections in a fixed order); each section is its
own module (classify.py, joint.py, speed.py, encoders.py, typos.py), on harness.py (commands,
timing, peak RSS, stamps), and report.py writes the report.

    .venv/bin/python bench/run.py --out docs/benchmarks.md
    .venv/bin/python bench/run.py --only trec --epochs 2      # a quick check
    .venv/bin/python bench/run.py --only snips-joint,predict --epochs 1 --out /tmp/b.md
    .venv/bin/python bench/run.py --only encoders,typos --epochs 1 --limit 200 --out /tmp/b.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
import time
from pathlib import Path

from classify import bench_snips, bench_tnews, bench_trec
from cluster import CLUSTER_LINES, bench_cluster
from encoders import bench_encoders
from harness import ROOT, describe_error, log, machine, versions
from joint import bench_snips_joint
from report import run_stamp, write_outputs
from speed import bench_predict
from typos import bench_typos

# the order they run in; encoders and typos reuse trec's and snips-joint's models when they ran
DATASETS = ("trec", "snips", "snips-joint", "tnews", "predict", "cluster", "encoders", "typos")
BENCHES = {"trec": bench_trec, "snips": bench_snips, "snips-joint": bench_snips_joint,
           "tnews": bench_tnews, "predict": bench_predict, "cluster": bench_cluster,
           "encoders": bench_encoders,
           "typos": bench_typos}
SEEDED = ("trec", "snips-joint")  # the sections whose rows --seeds applies to


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md",
                        help="Markdown report to write (raw numbers go to the same name .json)")
    parser.add_argument("--only", default=",".join(DATASETS),
                        help="comma-separated datasets, and `predict`, `encoders`, `typos` for "
                             f"those sections (default: all of {','.join(DATASETS)})")
    parser.add_argument("--data-dir", type=Path, default=(ROOT / ".." / "shared" / "data"),
                        help="directory holding trec/, snips/, tnews/ (default ../shared/data)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="passed to `textrnn train --epochs` (default: textrnn's own)")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="quick checks: use a seeded sample of N rows of every data file "
                             "(train, dev and test)")
    parser.add_argument("--baseline-seeds", type=int, default=None, metavar="N",
                        help="seeds of snips-joint's previous-default row (default: --seeds)")
    parser.add_argument("--seeds", type=int, default=3, metavar="N",
                        help=f"models per row in {' and '.join(SEEDED)}: textrnn `--seed 13`, "
                             "14, ..., fastText seed 0, 1, ...; figures are mean ± standard "
                             "deviation (default 3; the other sections train one)")
    parser.add_argument("--cluster-lines", type=int, default=CLUSTER_LINES, metavar="N",
                        help=f"lines the `cluster` section labels (default {CLUSTER_LINES:,})")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out",
                        help="directory for models and temporary files (default bench/out/)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHES]
    if unknown or not names:
        parser.error(f"unknown dataset(s) {', '.join(unknown) or '(none)'}; choose from "
                     f"{', '.join(DATASETS)}")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be positive")
    if args.seeds < 1:
        parser.error("--seeds must be positive")
    args.names = sorted(dict.fromkeys(names), key=DATASETS.index)  # predict after snips-joint
    args.data_dir = args.data_dir.resolve()
    args.trained = {}  # the textrnn rows trained in this run, by command (see bench_textrnn)
    return args


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def main(argv=None) -> int:
    args = parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    python = os.path.relpath(sys.executable, Path.cwd()) if sys.executable else "python"
    shown_argv = list(sys.argv if argv is None else ["bench/run.py", *argv])
    info = {
        "started": now(),
        "command": shlex.join([python, *shown_argv]),
        "cwd": str(Path.cwd()),
        "machine": machine(),
        "versions": versions(),
        "epochs": args.epochs,
        "limit": args.limit,
        "seeds": args.seeds,
        "data_dir": str(args.data_dir),
    }
    log(f"datasets {', '.join(args.names)}; data {args.data_dir}; work {work}")
    results: dict = {}
    failed = 0
    for name in args.names:
        log(f"=== {name}")
        t0 = time.perf_counter()
        run_of = run_stamp(info, now())
        try:
            results[name] = BENCHES[name](args, work)
        except KeyboardInterrupt:
            results[name] = {"error": "interrupted", "run": run_of}
            info["total_minutes"] = (time.perf_counter() - started) / 60
            write_outputs(args.out, results, info)
            raise
        except Exception as error:  # one dataset failing must not stop the others
            failed += 1
            results[name] = {"error": describe_error(error)}
            log(f"{name} FAILED: {results[name]['error']}")
        else:
            failed += sum("error" in row for row in results[name]["rows"].values())
            results[name]["seconds"] = time.perf_counter() - t0
            log(f"{name} done in {results[name]['seconds'] / 60:.1f} min")
        results[name]["run"] = run_of
        info["total_minutes"] = (time.perf_counter() - started) / 60
        write_outputs(args.out, results, info)  # partial results survive a later failure
    info["finished"] = now()
    info["total_minutes"] = (time.perf_counter() - started) / 60
    write_outputs(args.out, results, info)
    log(f"wrote {args.out} and {args.out.with_suffix('.json')} "
        f"({info['total_minutes']:.1f} min, {failed} failed)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
