"""`make bench-scale`: streaming training and multi-worker training, measured.

Not in CI (a few minutes and a gigabyte of scratch data). Three measurements, every one through
the installed `textrnn` command, with wall time and peak RSS per process:

1. Streaming a training file larger than the memory the run uses (SNIPS intents, resampled to
   >= 1 GiB): one vocabulary pass over the whole file, then --steps-per-epoch batches.
2. The same 200k-row file trained for one epoch in memory and streamed: throughput and RSS.
3. One worker against two workers on 127.0.0.1 (MultiWorkerMirroredStrategy, custom step),
   the same streamed file and global batch: throughput and RSS per worker.

The results replace the section between the markers in docs/benchmarks.md (bench/run.py
keeps that section when it rewrites the file) and go to docs/benchmarks-scale.json.

    .venv/bin/python bench/scale.py            # the full run (~15 min on 2 cores)
    .venv/bin/python bench/scale.py --quick    # small files, to check the script
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    ROOT,
    SEED,
    log,
    machine,
    measured,
    read_csv,
    textrnn_exe,
    versions,
)
from report import SCALE_BEGIN, SCALE_END  # noqa: E402

SNIPS = ROOT.parent / "shared" / "data" / "snips"
TIMEOUT = 3600


def snips_rows(name: str) -> list[tuple[str, str]]:
    return [(row["text"], row["intent"]) for row in read_csv(SNIPS / f"{name}.csv")]


def write_resampled(path: Path, rows: list[tuple[str, str]], *, count: int | None = None,
                    at_least_bytes: int | None = None) -> dict:
    """Write rows drawn at random (seeded) from `rows` until `count` rows or the size; the
    vocabulary stays SNIPS's, so memory is measured against data size alone."""
    rng = random.Random(SEED)
    written = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        while (count is not None and written < count) or (
                at_least_bytes is not None and handle.tell() < at_least_bytes):
            writer.writerows(rng.choice(rows) for _ in range(10_000))
            written += 10_000
    return {"path": str(path), "rows": written, "bytes": path.stat().st_size}


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def train(work: Path, name: str, data: Path, *options: str) -> dict:
    """One `textrnn train` measured; the figures it recorded in textrnn.json beside them."""
    out = work / name
    result = measured([textrnn_exe(), "train", data, "--out", out, "--quiet", *options],
                      TIMEOUT, work)
    training = json.loads((out / "textrnn.json").read_text(encoding="utf-8"))["training"]
    return {**result, "name": name, **{key: training[key] for key in (
        "seconds", "sentences_per_second", "train_rows", "valid_rows", "epochs_run",
        "batch_size", "steps_per_epoch") if key in training},
        "weights_sha256": training.get("weights_sha256")}


def train_workers(work: Path, data: Path, workers: int, *options: str) -> list[dict]:
    """`workers` processes on 127.0.0.1, started together; one measured row per worker."""
    addresses = ",".join(f"127.0.0.1:{port}" for port in free_ports(workers))
    results: list = [None] * workers

    def worker(index: int):
        out = work / f"workers{workers}-{index}"
        try:
            results[index] = measured(
                [textrnn_exe(), "train", data, "--out", out, "--quiet", "--workers", addresses,
                 "--worker-index", str(index), *options], TIMEOUT, work)
        except Exception as error:  # reported below, with the other worker's result
            results[index] = {"error": str(error)}

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = [result["error"] for result in results if "error" in result]
    if failed:
        raise RuntimeError("; ".join(failed))
    training = json.loads((work / f"workers{workers}-0" / "textrnn.json").read_text())["training"]
    for index, result in enumerate(results):
        result.update({key: training[key] for key in (
            "seconds", "sentences_per_second", "train_rows", "steps_per_epoch", "batch_size")},
            name=f"{workers} workers, worker {index}", workers=workers,
            weights_sha256=training["weights_sha256"])
    return results


def run(args) -> dict:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = snips_rows("train")
    valid = work / "valid.csv"
    write_resampled(valid, snips_rows("dev"), count=700)
    big_bytes = (64 << 20) if args.quick else (1100 << 20)
    small_rows = 20_000 if args.quick else 200_000
    steps = 30 if args.quick else 300
    log(f"writing >= {big_bytes >> 20} MiB and {small_rows}-row training files")
    big = write_resampled(work / "big.csv", rows, at_least_bytes=big_bytes)
    small = write_resampled(work / "small.csv", rows, count=small_rows)
    common = ["--valid", str(valid), "--epochs", "1", "--seed", str(SEED), "--batch-size", "64"]
    results: dict = {"files": {"big": big, "small": small}, "runs": []}

    def record(label: str, function, *call_args):
        log(label)
        started = time.perf_counter()
        try:
            found = function(*call_args)
        except Exception as error:
            results["runs"].append({"name": label, "error": str(error)})
            log(f"  failed: {error}")
            return
        for row in found if isinstance(found, list) else [found]:
            row["group"] = label
            results["runs"].append(row)
        log(f"  done in {time.perf_counter() - started:.0f} s")

    record("streaming, big file", train, work, "stream-big", Path(big["path"]), "--stream",
           "--steps-per-epoch", str(steps), *common)
    record("in memory, small file", train, work, "memory-small", Path(small["path"]),
           "--no-stream", *common)
    record("streaming, small file", train, work, "stream-small", Path(small["path"]),
           "--stream", *common)
    worker_options = ["--stream", "--steps-per-epoch", str(steps), *common]
    record("1 worker (model.fit)", train, work, "workers1", Path(small["path"]),
           *worker_options)
    record("2 workers", train_workers, work, Path(small["path"]), 2, *worker_options)
    return results


def mib(value) -> str:
    return "-" if value is None else f"{value:,.0f}"


def render(results: dict, info: dict) -> str:
    big, small = results["files"]["big"], results["files"]["small"]
    lines = [
        SCALE_BEGIN,
        "## Scale: streaming and multi-worker training (`make bench-scale`)",
        "",
        f"Measured {info['date']} on {info['machine']['cores']} cores "
        f"({info['machine']['cpu']}), TensorFlow {info['versions']['tensorflow']}, textrnn "
        f"commit {info['versions']['textrnn_commit']}. SNIPS training sentences with their "
        f"intents, resampled (seed {SEED}): a big file of {big['rows']:,} rows "
        f"({big['bytes'] / 2**30:.2f} GiB) and a small one of {small['rows']:,} rows "
        f"({small['bytes'] / 2**20:.0f} MiB); validation on 700 SNIPS dev rows; default BiLSTM "
        "classifier, batch 64. Peak RSS is per process (GNU time or /proc VmHWM). "
        "Throughput is training sentences per second of fitting, without the vocabulary pass; "
        "wall time includes it, start-up and saving.",
        "",
        "| run | rows trained | steps | wall s | fit s | sentences/s | peak RSS MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["runs"]:
        if "error" in row:
            lines.append(f"| {row['name']} | failed: {row['error'][:120]} | | | | | |")
            continue
        steps = row.get("steps_per_epoch") or "1 epoch"
        name = row["name"] if row.get("workers") else row["group"]
        lines.append(
            f"| {name} | {row.get('train_rows', 0):,} | {steps} | "
            f"{row['wall_seconds']:.0f} | {row.get('seconds', 0):.0f} | "
            f"{row.get('sentences_per_second', 0):,.0f} | {mib(row.get('peak_rss_mib'))} |")
    lines += ["", *reading(results), SCALE_END]
    return "\n".join(lines) + "\n"


def reading(results: dict) -> list[str]:
    runs = {row["name"]: row for row in results["runs"] if "error" not in row}
    notes = []
    big = runs.get("stream-big")
    if big and big.get("peak_rss_mib"):
        size = results["files"]["big"]["bytes"] / 2**20
        notes.append(f"- The {size:,.0f} MiB file trained at a peak of "
                     f"{big['peak_rss_mib']:,.0f} MiB: streaming memory does not grow with the "
                     "file (the vocabulary pass keeps counts, the input pipeline a 10,000-"
                     "sentence shuffle buffer).")
    memory, stream = runs.get("memory-small"), runs.get("stream-small")
    if memory and stream:
        notes.append(f"- The same {memory['train_rows']:,} rows, one epoch: in memory "
                     f"{memory['sentences_per_second']:,.0f} sentences/s at "
                     f"{mib(memory.get('peak_rss_mib'))} MiB, streamed "
                     f"{stream['sentences_per_second']:,.0f} sentences/s at "
                     f"{mib(stream.get('peak_rss_mib'))} MiB.")
    one = runs.get("workers1")
    two = [row for row in results["runs"] if row.get("workers") == 2 and "error" not in row]
    if one and two:
        notes.append(f"- One process: {one['sentences_per_second']:,.0f} sentences/s; two "
                     f"workers on the same 2 cores: {two[0]['sentences_per_second']:,.0f} "
                     "sentences/s in all (both share the cores, so no speed-up is possible "
                     "here; the figure shows the cost of the collectives and the custom step).")
    return notes


def replace_section(doc: Path, begin: str, end: str, section: str) -> None:
    """Put `section` (which starts with `begin` and ends with `end`) in place of the one
    between those markers in `doc`, or at its end."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        text = before + section + ("\n" + after if after else "")  # a blank line between
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text, encoding="utf-8")


def write_outputs(results: dict, info: dict, doc: Path) -> None:
    replace_section(doc, SCALE_BEGIN, SCALE_END, render(results, info))
    doc.with_name("benchmarks-scale.json").write_text(
        json.dumps({"info": info, "results": results}, indent=1) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/textrnn-bench-scale",
                        help="Scratch directory (about 1.5 GB).")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--quick", action="store_true", help="Small files: check the script.")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run(args)
    info = {"date": dt.date.today().isoformat(), "machine": machine(), "versions": versions(),
            "quick": args.quick, "minutes": round((time.perf_counter() - started) / 60, 1)}
    write_outputs(results, info, Path(args.out))
    log(f"wrote {args.out} ({info['minutes']} min)")
    return 1 if any("error" in row for row in results["runs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
