"""Where warm prediction spends its time: each stage of `Model.predict` and each layer of the
NumPy graph, timed in-process over the SNIPS test sentences repeated to N lines.

    .venv/bin/python bench/profile_predict.py --model DIR [--engine numpy] [--lines 20000]

Prints a Markdown table (`--json` prints the figures). One thread for every layer unless
`--threads 2` (the two directions of a BiRNN then overlap, and their times with the rest): the
shares add up. Wrapping each step costs microseconds per batch, nothing against a layer.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the CLI sets it, before NumPy

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "snips" / "test.csv"


def layer_profile(model_dir: str, texts: list[str], engine: str = "numpy",
                  lines: int = 20_000, threads: int = 1) -> dict:
    """Seconds per stage and per graph node over `lines` lines, after a warm-up batch."""
    import textrnn
    from textrnn.predict import predictor as predictor_module

    model = textrnn.load(model_dir, engine)
    predictor, graph = model._predictor, model._predictor.model
    graph.threads = threads
    spent: Counter = Counter()

    def timed(name, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started
        return wrapper

    graph._steps = [(node, timed(f"layer {node}", run), refs, mask)
                    for node, run, refs, mask in graph._steps]
    graph.predict_on_batch = timed("forward pass", graph.predict_on_batch)
    predictor_module.viterbi_batch = timed("CRF Viterbi", predictor_module.viterbi_batch)
    predictor._run_batch = timed("batch", predictor._run_batch)
    predictor.analyze = timed("analyze", predictor.analyze)
    predictor.describe = timed("results (describe)", predictor.describe)
    many = (texts * (lines // len(texts) + 1))[:lines]
    model.predict(many[:512])
    spent.clear()
    started = time.perf_counter()
    model.predict(many)
    total = time.perf_counter() - started
    stages = {
        "tokenize and sort": spent.pop("analyze") - spent["batch"],
        "model inputs (ids, characters)": spent["batch"] - spent["forward pass"]
        - spent["CRF Viterbi"],
        "CRF Viterbi": spent.pop("CRF Viterbi"),
        "results (describe)": spent.pop("results (describe)"),
    }
    spent.pop("batch")
    forward = spent.pop("forward pass")
    layers = {name[len("layer "):]: seconds for name, seconds in spent.most_common()
              if seconds >= 0.0005 * total}
    return {"engine": engine, "lines": lines, "threads": threads, "total_seconds": total,
            "sentences_per_second": lines / total, "forward_seconds": forward,
            "stages": stages, "layers": layers, "fused": list(getattr(graph, "fused", []))}


def profile_table(profile: dict) -> list[str]:
    """Markdown rows: the stages, the forward pass's layers under it, largest first."""
    total = profile["total_seconds"]
    rows = ["| where | seconds | share |", "| --- | --- | --- |"]
    parts = [("forward pass (the layers below)", profile["forward_seconds"]),
             *profile["stages"].items()]
    for name, seconds in sorted(parts, key=lambda item: -item[1]):
        rows.append(f"| {name} | {seconds:.3f} | {seconds / total:.0%} |")
        if name.startswith("forward"):
            for layer, spent in profile["layers"].items():
                fused = " (ONNX Runtime)" if layer in profile.get("fused", []) else ""
                rows.append(f"| &nbsp;&nbsp;layer `{layer}`{fused} | {spent:.3f} | "
                            f"{spent / total:.0%} |")
    rows.append(f"| **all** ({profile['lines']:,} lines, {profile['sentences_per_second']:,.0f} "
                f"sent/s) | {total:.3f} | 100% |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--engine", default="numpy")
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DATA, help="CSV with a text column")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with open(args.data, encoding="utf-8", newline="") as handle:
        texts = [" ".join(row["text"].split()) for row in csv.DictReader(handle)]
    profile = layer_profile(args.model, [t for t in texts if t], args.engine, args.lines,
                            args.threads)
    sys.stdout.write(json.dumps(profile, indent=1) + "\n" if args.json
                     else "\n".join(profile_table(profile)) + "\n")


if __name__ == "__main__":
    main()
