"""`cluster`: the Python API. One sentence from a cold process through `textrnn.load(d)
.predict` against `textrnn predict` (alternating runs, medians); then sentences/s of a local Dask
cluster labelling SNIPS-like lines stored as Parquet files
(`dd.read_parquet(...).map_partitions(model.predict_frame).to_parquet(...)`), against one
`textrnn predict` process labelling the same lines, in the same run, with the same model (the
default SNIPS joint model, as `predict` uses). A sample of the cluster's rows is checked against
the command's JSON lines.

Standalone, for a quick check: .venv/bin/python bench/cluster.py --lines 5000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from harness import (
    PREDICT_TIMEOUT,
    ROOT,
    SINGLE_RUNS,
    attempt,
    log,
    measured,
    one_line,
    read_csv,
    repeated,
    run,
    snips_files,
    textrnn_exe,
    write_lines,
)
from speed import predict_model

CLUSTER_LINES = 200_000  # the SNIPS training sentences repeated to this many lines
FILES = 8  # Parquet files the lines are split into (partitions of the Dask frame)
WORKERS = 2  # worker processes of one thread each: this machine's cores
CHECK_EVERY = 97  # every 97th row is compared with `textrnn predict`'s line
PROBABILITY_TOLERANCE = 1e-5
SINGLE, CLUSTER = "one textrnn predict process", f"Dask, {WORKERS} worker processes"
SENTENCE = "book a table for two at a cafe in Taipei on November 2nd"
API_SCRIPT = "import sys, textrnn; textrnn.load(sys.argv[1]).predict([sys.argv[2]])"


def bench_cluster(args, work: Path) -> dict:
    """The single process and the cluster on the same lines and model: sentences/s of each
    (the cluster's also with its start), and how many sampled rows agree."""
    train, dev, _ = snips_files(args, work)
    exe = textrnn_exe()
    model, origin = predict_model(args, work, exe, train, dev)
    count = getattr(args, "cluster_lines", CLUSTER_LINES)
    lines = repeated([one_line(row["text"]) for row in read_csv(train)], count)[:count]
    log(f"cluster: {count:,} lines, model {model} ({origin})")
    cli_out = work / "cluster-cli.jsonl"
    rows: dict = {}
    cold = cold_start(exe, model)
    attempt(rows, SINGLE, time_single, exe, model, write_lines(work / "cluster-lines.txt", lines),
            cli_out, work)
    attempt(rows, CLUSTER, label_on_cluster, model, lines, work)
    sample = rows[CLUSTER].pop("sample", None)
    result = {"lines": count, "files": FILES, "workers": WORKERS, "threads_per_worker": 1,
              "model_dir": str(model), "model_origin": origin, "rows": rows, "cold": cold}
    if sample is not None and "error" not in rows[SINGLE]:
        result["speedup"] = (rows[CLUSTER]["sentences_per_second"]
                             / rows[SINGLE]["sentences_per_second"])
        result["rows_checked"], result["rows_differing"] = compare(sample, cli_out)
    cli_out.unlink(missing_ok=True)
    return result


def cold_start(exe: str, model: Path) -> dict:
    """Seconds of one sentence from a fresh process: the command against the Python API,
    alternating so a change in load hits both alike (medians of SINGLE_RUNS)."""
    walls: dict[str, list[float]] = {"command": [], "api": []}
    for _ in range(SINGLE_RUNS):
        walls["command"].append(run([exe, "predict", SENTENCE, "--model", model, "--format",
                                     "jsonl"], PREDICT_TIMEOUT)[0])
        walls["api"].append(run([sys.executable, "-c", API_SCRIPT, model, SENTENCE],
                                PREDICT_TIMEOUT)[0])
    medians = {kind: statistics.median(values) for kind, values in walls.items()}
    log(f"cluster: one sentence cold: command {medians['command']:.3f} s, "
        f"API {medians['api']:.3f} s")
    return {"runs": SINGLE_RUNS, "seconds": walls, "median": medians,
            "ratio": medians["api"] / medians["command"]}


def time_single(exe: str, model: Path, lines_file: Path, cli_out: Path, work: Path) -> dict:
    """One `textrnn predict` process over the lines file, start-up included."""
    row = measured([exe, "predict", "--model", model, "--input", lines_file, "--output",
                    cli_out, "--format", "jsonl"], PREDICT_TIMEOUT, work)
    row["sentences_per_second"] = sum(1 for _ in open(cli_out, "rb")) / row["wall_seconds"]
    log(f"cluster: one `textrnn predict`: {row['wall_seconds']:.1f} s "
        f"({row['sentences_per_second']:,.0f} sent/s)")
    return row


def label_on_cluster(model: Path, lines: list[str], work: Path) -> dict:
    """Write the lines as FILES Parquet files, start a LocalCluster, label, write Parquet;
    the timings and a sample of the labelled rows (by line number)."""
    import dask.dataframe as dd
    import pandas as pd
    import pyarrow.parquet as pq
    from dask.distributed import Client, LocalCluster

    import textrnn

    source, target = work / "cluster-in", work / "cluster-out"
    for folder in (source, target):
        if folder.exists():
            for file in folder.iterdir():
                file.unlink()
    source.mkdir(exist_ok=True)
    size = -(-len(lines) // FILES)
    for part in range(FILES):
        rows = range(part * size, min(len(lines), (part + 1) * size))
        pd.DataFrame({"line": rows, "text": [lines[i] for i in rows]}).to_parquet(
            source / f"part-{part}.parquet")
    started = time.perf_counter()
    # OpenBLAS threads off in the workers, as the command line has them (textrnn.cli).
    with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                      dashboard_address=None, env={"OPENBLAS_NUM_THREADS": "1"}) as local, \
            Client(local):
        ready = time.perf_counter()
        labelled = dd.read_parquet(str(source)).map_partitions(
            textrnn.load(model).predict_frame)
        labelled.to_parquet(str(target), write_index=False)
        done = time.perf_counter()
    table = pq.read_table(target).to_pylist()
    sample = {row["line"]: row for row in table if row["line"] % CHECK_EVERY == 0}
    start, label = ready - started, done - ready
    log(f"cluster: {WORKERS} workers: start {start:.1f} s, labelling {label:.1f} s "
        f"({len(lines) / label:,.0f} sent/s)")
    return {"start_seconds": start, "label_seconds": label, "rows_written": len(table),
            "sentences_per_second": len(lines) / label,
            "sentences_per_second_with_start": len(lines) / (start + label), "sample": sample}


def compare(sample: dict[int, dict], cli_out: Path) -> tuple[int, int]:
    """(rows compared, rows whose prediction differs from the command's JSON line). A partition
    batches its sentences with others than the command does, so probabilities may differ in
    their last digits: they count as equal within PROBABILITY_TOLERANCE."""
    differ = 0
    with open(cli_out, encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number in sample:
                row, record = dict(sample[number]), json.loads(line)
                del row["line"]
                differ += (row.pop("truncated") != record.pop("truncated", False)
                           or not _close(row, record))
    return len(sample), differ


def _close(mine, theirs) -> bool:
    if isinstance(mine, float) or isinstance(theirs, float):
        return abs(mine - theirs) <= PROBABILITY_TOLERANCE
    if isinstance(mine, dict) and isinstance(theirs, dict):
        return mine.keys() == theirs.keys() and all(_close(mine[k], theirs[k]) for k in mine)
    if isinstance(mine, list) and isinstance(theirs, list):
        return len(mine) == len(theirs) and all(map(_close, mine, theirs))
    return mine == theirs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=CLUSTER_LINES)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".." / "shared" / "data")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--epochs", type=int, default=None,
                        help="when the model has to be trained: `textrnn train --epochs`")
    args = parser.parse_args()
    args.cluster_lines, args.limit, args.names = args.lines, None, ["cluster"]
    args.work.mkdir(parents=True, exist_ok=True)
    json.dump(bench_cluster(args, args.work.resolve()), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
