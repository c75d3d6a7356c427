"""Issue 15's measurement: pretraining on unlabelled text, against training from scratch and
against the control the field tries first.

For each row and seed, three models trained and scored through the installed `textrnn`
command, with the same labels, validation data and seed:

- scratch: `textrnn train TRAIN ... --seed S`;
- pretrained: `textrnn pretrain UNLABELLED --seed S --out P` first, then the same train
  command with `--pretrained P`;
- skip-gram: fastText `train_unsupervised(model="skipgram", dim=128, minCount=1, thread=1)`
  on the same unlabelled text, tokenized as textrnn tokenizes it, written as a .vec file and
  given to the same train command as `--embeddings` (fasttext-wheel 0.9.2 takes no seed
  here; one thread makes it deterministic, so only the textrnn side varies with the seed).

Rows (the unlabelled text is never the evaluation text):

| row | labelled | validation | unlabelled text | scored on |
| --- | --- | --- | --- | --- |
| snips-500 | 500 of SNIPS train, by intent (seed S) | dev.csv | the other 12,584 | test.csv |
| snips | all of SNIPS train | dev.csv | train.csv's text | test.csv |
| trec | TREC train, `--valid-split 0.1` | 10% of train | train.csv's text | test.csv |
| tnews | TNEWS train, `--valid-split 0.1` | 10% of train | train.csv's text | dev.csv |

SNIPS pretrains with `--char-features` (slot filling uses them; fine-tuning follows the
pretrained directory's features so the encoder carries over); TREC and TNEWS with the
defaults (no character features; bigrams for TNEWS, which is mostly CJK). With `--pretrained`
the encoder is the pretrained cell (the BiLSTM), also for TNEWS, whose from-scratch default
is the CNN. Mean and standard deviation over the seeds (default 13,14,15).

`throughput`: `textrnn pretrain` on 1,000,000 SNIPS training sentences resampled (seed 13)
into one text file, streamed (`--stream`: one vocabulary pass over every line, then
`--steps-per-epoch 300` batches), with the wall time and peak RSS of the process (bench/run.py's
`measured`) and the tokens/s the pretrained directory records.

The section goes between `<!-- pretrain:begin -->` and `<!-- pretrain:end -->` in
docs/benchmarks.md; raw numbers in docs/benchmarks-pretrain.json. A run measures the rows of
--only and keeps the others from the JSON, so rows can be measured in separate runs (side by
side, too: the write is locked).

    .venv/bin/python bench/pretrain.py                               # everything, 3 seeds
    .venv/bin/python bench/pretrain.py --only trec --seeds 13        # one row, one seed
    .venv/bin/python bench/pretrain.py --only throughput --quick     # check the script
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import fcntl
import hashlib
import json
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    ROOT,
    SEED,
    BenchError,
    log,
    machine,
    measured,
    run_json,
    textrnn_exe,
    versions,
)
from scale import replace_section  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
ROWS = ("snips-500", "snips", "trec", "tnews")
CONDITIONS = ("scratch", "pretrained", "skipgram")
BEGIN, END = "<!-- pretrain:begin -->", "<!-- pretrain:end -->"
TIMEOUT = 4 * 3600
SKIPGRAM = {"model": "skipgram", "dim": 128, "minCount": 1, "thread": 1, "verbose": 0}
METRICS = {"snips-500": ("slot_f1", "intent_accuracy", "frame_accuracy"),
           "snips": ("slot_f1", "intent_accuracy", "frame_accuracy"),
           "trec": ("accuracy",), "tnews": ("accuracy",)}
# Slot filling uses character features, so SNIPS pretrains them; TNEWS has 4x SNIPS' text:
# fewer passes over it (each takes minutes).
PRETRAIN_OPTIONS = {"snips-500": ["--char-features"], "snips": ["--char-features"],
                    "trec": [], "tnews": ["--epochs", "8"]}
GOALS = {"snips-500": "+4 slot F1 over scratch, ahead of skip-gram",
         "snips": "no loss (ideally a gain)", "trec": "+1.5 accuracy",
         "tnews": ">= 57.0 dev accuracy"}


def read_rows(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def write_rows(path: Path, header: list[str], rows: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_text(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(text.replace("\n", " ") + "\n" for text in texts), encoding="utf-8")
    return path


def stratified(rows: list[dict], key: str, count: int, seed: int) -> tuple[list, list]:
    """`count` rows with each class's share (largest remainders), and the rest, seeded."""
    rng = random.Random(seed)
    by_class = defaultdict(list)
    for row in rows:
        by_class[row[key]].append(row)
    quotas = {name: count * len(members) / len(rows) for name, members in by_class.items()}
    taken = {name: int(quota) for name, quota in quotas.items()}
    for name in sorted(quotas, key=lambda n: taken[n] - quotas[n])[: count - sum(taken.values())]:
        taken[name] += 1
    chosen, rest = [], []
    for name in sorted(by_class):
        members = by_class[name][:]
        rng.shuffle(members)
        chosen += members[: taken[name]]
        rest += members[taken[name]:]
    return chosen, rest


def row_data(row: str, seed: int, work: Path) -> dict:
    """The files one row trains, validates and scores on, and its unlabelled text."""
    if row.startswith("snips"):
        header, rows = read_rows(DATA / "snips" / "train.csv")
        labelled, unlabelled = ((DATA / "snips" / "train.csv"), rows)
        if row == "snips-500":
            chosen, unlabelled = stratified(rows, "intent", 500, seed)
            labelled = write_rows(work / f"snips-500-{seed}.csv", header, chosen)
        return {"train": [labelled, "--valid", DATA / "snips" / "dev.csv"],
                "test": DATA / "snips" / "test.csv",
                "text": [r["text"] for r in unlabelled], "pretrain": PRETRAIN_OPTIONS[row]}
    train = DATA / row / "train.csv"
    test = DATA / row / ("test.csv" if row == "trec" else "dev.csv")
    return {"train": [train, "--valid-split", "0.1"], "test": test,
            "text": [r["text"] for r in read_rows(train)[1]], "pretrain": PRETRAIN_OPTIONS[row]}


def skipgram_vectors(text_file: Path, out: Path) -> Path:
    """fastText skip-gram vectors on the text, tokenized as textrnn does (lowercased, CJK
    characters apart)."""
    import fasttext

    from textrnn.text import Tokenizer

    tokenizer = Tokenizer()
    tokenized = text_file.with_suffix(".tokens.txt")
    lines = text_file.read_text(encoding="utf-8").splitlines()
    write_text(tokenized, [" ".join(tokenizer.tokenize(line)[0]) for line in lines])
    model = fasttext.train_unsupervised(str(tokenized), **SKIPGRAM)
    with open(out, "w", encoding="utf-8") as handle:
        words = model.get_words()
        handle.write(f"{len(words)} {model.get_dimension()}\n")
        for word in words:
            vector = model.get_word_vector(word)
            handle.write(word + " " + " ".join(f"{v:.5g}" for v in vector) + "\n")
    return out


def pretrained_for(text: Path, seed: int, options: list[str], work: Path) -> tuple[Path, Path]:
    """The pretrained directory and skip-gram vectors of this text: made once per text and
    options (rows whose unlabelled text does not change with the seed pretrain with the first
    seed, and their seeds vary the fine-tuning only)."""
    key = hashlib.sha256("\0".join([text.read_text(encoding="utf-8"), *options])
                         .encode()).hexdigest()[:12]
    pre, vec = work / f"pretrained-{key}", work / f"skipgram-{key}.vec"
    if not (pre / "pretrain.json").exists():
        started = time.perf_counter()
        _, figures = run_json([textrnn_exe(), "pretrain", text, "--out", pre, "--seed",
                               str(seed), "--json", *options], TIMEOUT)
        figures.update(wall_seconds=time.perf_counter() - started, seed=seed)
        (pre / "pretrain.json").write_text(json.dumps(figures), encoding="utf-8")
    if not vec.exists():
        skipgram_vectors(text, vec)
    return pre, vec


def one_seed(row: str, seed: int, args, work: Path) -> dict:
    exe = textrnn_exe()
    epochs = ["--epochs", str(args.epochs)] if args.epochs else []
    data = row_data(row, seed, work)
    text = write_text(work / f"{row}-{seed}-unlabelled.txt", data["text"])
    pre, vec = pretrained_for(text, seed, data["pretrain"] + epochs, work)
    result = {"seed": seed,
              "pretrain": json.loads((pre / "pretrain.json").read_text(encoding="utf-8")),
              "pretrained_dir": pre.name, "unlabelled_sentences": len(data["text"])}
    extra = {"scratch": [], "pretrained": ["--pretrained", pre], "skipgram": ["--embeddings", vec]}
    for condition in CONDITIONS:
        model = work / f"{row}-{seed}-{condition}"
        log(f"{row} seed {seed}: {condition}")
        wall, trained = run_json([exe, "train", *data["train"], "--out", model, "--seed",
                                  str(seed), "--quiet", "--json", *extra[condition], *epochs],
                                 TIMEOUT)
        _, scores = run_json([exe, "eval", data["test"], "--model", model, "--json"], TIMEOUT)
        result[condition] = {"scores": {key: scores[key] for key in METRICS[row]},
                             "encoder": trained["model"]["encoder"],
                             "epochs_run": trained["training"]["epochs_run"],
                             "train_wall_seconds": wall}
    return result


def throughput(args, work: Path) -> dict:
    """Pretraining on >= 1M sentences streamed from disk: wall, peak RSS, tokens/s."""
    count = 20_000 if args.quick else 1_000_000
    texts = [row["text"] for row in read_rows(DATA / "snips" / "train.csv")[1]]
    rng = random.Random(SEED)
    path = work / f"throughput-{count}.txt"
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(count):
            handle.write(rng.choice(texts) + "\n")
    out = work / "throughput-pretrained"
    steps = 20 if args.quick else 300
    figures = measured([textrnn_exe(), "pretrain", path, "--out", out, "--stream", "--epochs",
                        "1", "--steps-per-epoch", str(steps), "--valid-split", "0.005",
                        "--quiet"], TIMEOUT, work)
    meta = json.loads((out / "textrnn.json").read_text(encoding="utf-8"))
    return {**figures, "sentences": count, "steps": steps, "bytes": path.stat().st_size,
            "tokens_per_second": meta["training"]["tokens_per_second"],
            "fit_seconds": meta["training"]["seconds"], "vocabulary": len(meta["vocab"]),
            "sampled_softmax": meta["training"]["sampled_softmax"]}


def summary(runs: list[dict], condition: str, metric: str) -> str:
    values = [100 * run[condition]["scores"][metric] for run in runs]
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def render(parts: dict) -> str:
    """The section from every part measured so far (a row, or "throughput"), each with the
    run that measured it."""
    lines = [BEGIN, "## Pretraining on the task's own text (`bench/pretrain.py`)", "",
             "Runs (each row comes from one run; machine, and its load average at the start):", ""]
    for name, part in parts.items():
        info = part["info"]
        lines.append(f"- {name}: {info['date']}, seeds {', '.join(map(str, info['seeds']))}, "
                     f"{info['minutes']} min, {info['machine']['cpu']} {info['machine']['cores']}"
                     f" cores, load {', '.join(f'{x:.2f}' for x in info['machine']['loadavg'])}"
                     f"; `{info['command']}`")
    lines += ["", "| data | measure | scratch | --pretrained | skip-gram --embeddings | goal |",
              "| --- | --- | --- | --- | --- | --- |"]
    for row in (name for name in ROWS if name in parts):
        runs = parts[row]["results"]
        if "error" in runs[-1]:
            lines.append(f"| {row} | failed: {runs[-1]['error'].splitlines()[0]} | | | | |")
            continue
        for metric in METRICS[row]:
            cells = [summary(runs, condition, metric) for condition in CONDITIONS]
            lines.append(f"| {row} | {metric} | {' | '.join(cells)} | {GOALS[row]} |")
    done = parts.get("throughput", {}).get("results")
    if done and "error" not in done:
        lines += ["", f"Pretraining throughput, {done['sentences']:,} sentences streamed from "
                  f"disk ({done['bytes'] / 2**20:.0f} MiB, vocabulary {done['vocabulary']:,}, "
                  f"{done['steps']} steps): {done['tokens_per_second']:,.0f} tokens/s in fit, "
                  f"{done['wall_seconds']:.0f} s wall with the vocabulary pass, peak RSS "
                  f"{done['peak_rss_mib']:.0f} MiB ({done['rss_method']})."]
    lines += ["", "Raw figures (perplexities, epochs, walls): `docs/benchmarks-pretrain.json`.",
              END]
    return "\n".join(lines) + "\n"


def write_outputs(measured_now: dict, doc: Path) -> None:
    """Merge the parts measured now into the JSON beside `doc` (kept parts: rows this run did
    not measure) and rewrite the section; under a lock, for runs of different rows side by
    side."""
    raw = doc.with_name("benchmarks-pretrain.json")
    with open(doc.with_name(".benchmarks-pretrain.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        parts = {}
        if raw.exists():
            parts = json.loads(raw.read_text(encoding="utf-8")).get("parts", {})
        parts.update(measured_now)
        parts = {name: parts[name] for name in (*ROWS, "throughput") if name in parts}
        replace_section(doc, BEGIN, END, render(parts))
        raw.write_text(json.dumps({"parts": parts}, indent=1, ensure_ascii=False) + "\n",
                       encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join((*ROWS, "throughput")))
    parser.add_argument("--seeds", default="13,14,15")
    parser.add_argument("--epochs", type=int, help="Passed to pretrain and train (quick checks).")
    parser.add_argument("--quick", action="store_true", help="A small throughput corpus.")
    parser.add_argument("--work", default=str(ROOT / "bench" / "out" / "pretrain"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    only = args.only.split(",")
    info = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "seeds": seeds, "machine": machine(), "versions": versions(),
            "command": " ".join(["bench/pretrain.py", *(argv or sys.argv[1:])])}
    started = time.perf_counter()
    results: dict = {}
    failed = False
    for row in (name for name in ROWS if name in only):
        results[row] = []
        for seed in seeds:
            try:
                results[row].append(one_seed(row, seed, args, work))
            except BenchError as error:
                log(f"{row} seed {seed} failed: {error}")
                results[row].append({"seed": seed, "error": str(error)})
                failed = True
                break
            finally:  # every seed is written as it ends: a long run stopped keeps its seeds
                if results[row]:  # (empty when the first seed stopped with an exception)
                    done = {**info, "seeds": [run["seed"] for run in results[row]],
                            "minutes": round((time.perf_counter() - started) / 60, 1)}
                    write_outputs({row: {"info": done, "results": results[row]}},
                                  Path(args.out))
    if "throughput" in only:
        try:
            results["throughput"] = throughput(args, work)
        except BenchError as error:
            results["throughput"] = {"error": str(error)}
            failed = True
    info["minutes"] = round((time.perf_counter() - started) / 60, 1)
    if "throughput" in results:  # the rows were written seed by seed
        write_outputs({"throughput": {"info": info, "results": results["throughput"]}},
                      Path(args.out))
    log(f"wrote {args.out} ({info['minutes']} min)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
