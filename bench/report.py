"""Benchmark textrnn's default models against fastText on TREC, SNIPS and TNEWS.

Every textrnn figure comes from the installed `textrnn` command run as a subprocess, the way a
user runs it; fastText runs through its Python module (fasttext-wheel). Writes a Markdown report
(`--out`, default docs/benchmarks.md) and every raw number beside it (same name, `.json`).
A dataset that fails is recorded in the report with its error; the others still run.
`predict` adds the "Prediction speed" section: the default SNIPS joint model on the NumPy and
Keras engines (single sentence, 100k-line batch, peak RSS of a 1M-line stream, share of FP32
peak) beside fastText. `encoders` trains every textrnn encoder with its defaults on TREC
(classification) and SNIPS (joint), scored on test; `typos` scores the default SNIPS joint model,
and the same without character features, on the clean test set and on one with seeded typos.

    .venv/bin/python bench/run.py --out docs/benchmarks.md
    .venv/bin/python bench/run.py --only trec --epochs 2      # a quick check
    .venv/bin/python bench/run.py --only snips-joint,predict --epochs 1 --out /tmp/b.md
    .venv/bin/python bench/run.py --only encoders,typos --epochs 1 --limit 200 --out /tmp/b.md
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the order they run in; encoders and typos reuse trec's and snips-joint's models when they ran
DATASETS = ("trec", "snips", "snips-joint", "tnews", "predict", "encoders", "typos")
SEED = 13
SINGLE_RUNS = 5  # single-sentence predict: median of this many cold runs
WARM_LINES = 10_000  # lines fed to the predictor to estimate warm (start-up free) throughput
FASTTEXT = {"epoch": 25, "lr": 0.5, "wordNgrams": 2, "verbose": 0, "thread": 2}
TRAIN_TIMEOUT = 4 * 3600
PREDICT_TIMEOUT = 1800

REFERENCES = [
    ("SNIPS", "slot F1 88.8, intent accuracy 97.0", "Slot-gated model (Goo et al., 2018)"),
    ("SNIPS", "slot F1 94.2, intent accuracy 98.0", "Stack-propagation (Qin et al., 2019)"),
    ("TREC (6 classes)", "accuracy 93.6", "CNN-static (Kim, 2014)"),
    ("TNEWS (CLUE dev)", "accuracy ~57", "BERT-base (CLUE baseline)"),
]


class BenchError(RuntimeError):
    """A benchmark step failed; the message says which command and why."""


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- subprocesses


def textrnn_exe() -> str:
    beside = Path(sys.executable).parent / "textrnn"
    if beside.exists():
        return str(beside)
    found = shutil.which("textrnn")
    if not found:
        raise BenchError("the `textrnn` command is not installed (pip install -e .)")
    return found


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("PYTHONHASHSEED", str(SEED))
    return env


def run(cmd: list[str], timeout: float, stdin=None) -> tuple[float, str]:
    """Run a command; returns (wall seconds, stdout). Raises BenchError on failure."""
    shown = shlex.join(str(c) for c in cmd)
    started = time.perf_counter()
    try:
        done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                              timeout=timeout, env=_env(), stdin=stdin or subprocess.DEVNULL,
                              cwd=ROOT)
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"timed out after {timeout:.0f} s: {shown}") from error
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise BenchError(f"exit code {done.returncode}: {shown}\n{tail}")
    return wall, done.stdout


def run_json(cmd: list[str], timeout: float) -> tuple[float, dict]:
    wall, out = run(cmd, timeout)
    try:
        return wall, json.loads(out)
    except json.JSONDecodeError as error:
        raise BenchError(f"no JSON from {shlex.join(cmd)}: {out[:500]!r}") from error


# ----------------------------------------------------------------------------- data


def read_csv(path: Path) -> list[dict]:
    if not path.exists():
        raise BenchError(f"missing data file {path}")
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def data_file(args, work: Path, folder: str, split: str) -> Path:
    """DATA_DIR/FOLDER/SPLIT.csv; with --limit N, a seeded sample of N of its rows (kept in
    file order) written under WORK, for quick checks."""
    path = args.data_dir / folder / f"{split}.csv"
    if not args.limit:
        return path
    rows = read_csv(path)
    if len(rows) <= args.limit:
        return path
    keep = sorted(random.Random(SEED).sample(range(len(rows)), args.limit))
    return write_csv(work / f"limit{args.limit}-{folder}-{split}.csv", [rows[i] for i in keep])


def snips_files(args, work: Path) -> tuple[Path, Path, Path]:
    """SNIPS train, dev and test."""
    return tuple(data_file(args, work, "snips", split) for split in ("train", "dev", "test"))


def write_lines(path: Path, lines: list[str]) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(one_line(line) + "\n" for line in lines)
    return path


def one_line(text: str) -> str:
    return " ".join(text.split())


def repeated(lines: list[str], at_least: int) -> list[str]:
    times = max(1, -(-at_least // max(1, len(lines))))
    return lines * times


_CJK = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")


def ft_text(text: str) -> str:
    """fastText's input: lowercased, whitespace-separated, each CJK character its own word."""
    return one_line(_CJK.sub(r" \1 ", text.lower()))


# ----------------------------------------------------------------------------- textrnn


def bench_textrnn(name: str, work: Path, train: Path, test: Path, train_args: list[str],
                  args, dev: Path | None = None, epochs: int | None = None) -> dict:
    """Train with the CLI, evaluate on test (and dev), time batch and single predictions.
    `epochs` (default: --epochs) goes to `textrnn train --epochs`. A model this run has already
    trained with the same command, and scored on the same test file, is reused as it is."""
    exe = textrnn_exe()
    epochs = args.epochs if epochs is None else epochs
    epoch_args = [] if epochs is None else ["--epochs", str(epochs)]
    key = shlex.join(str(c) for c in [train, *train_args, *epoch_args, "test", test])
    if key in args.trained:
        return reused_row(name, args.trained[key], exe, dev)
    model = work / f"textrnn-{name}"
    if model.exists():
        shutil.rmtree(model)
    cmd = [exe, "train", train, *train_args, "--out", model, "--quiet", "--json", *epoch_args]
    log(f"{name}: textrnn train ({shlex.join(str(c) for c in cmd[1:])})")
    source = source_state()
    train_wall, summary = run_json(cmd, TRAIN_TIMEOUT)
    training = summary.get("training", {})
    log(f"{name}: trained in {train_wall:.1f} s wall, {training.get('epochs_run')} epochs "
        f"(best {training.get('best_epoch')})")
    result = {
        "name": name,
        "command": shlex.join(["textrnn", *(str(c) for c in cmd[1:])]),
        "model_dir": str(model),
        "train_wall_seconds": train_wall,
        "training": {k: v for k, v in training.items() if k != "history"},
        "history": training.get("history"),
        "model": summary.get("model"),
        "valid_metrics": _slim(summary.get("metrics") or {}),
    }
    result.update(model_info(exe, model))
    result["test"] = textrnn_eval(exe, test, model)
    log(f"{name}: test {_headline(result['test'])}")
    if dev is not None:
        result["dev"] = textrnn_eval(exe, dev, model)
        log(f"{name}: dev {_headline(result['dev'])}")
    result["predict"] = time_textrnn_predict(name, exe, model, work, test)
    result["source"] = source
    after = source_state()
    if after["source_sha256"] != source["source_sha256"]:
        result["source_after"] = after
        log(f"{name}: warning: textrnn's source changed while this row ran")
    args.trained[key] = result
    return result


def reused_row(name: str, row: dict, exe: str, dev: Path | None) -> dict:
    """A row this run already has (same training command and test file), for another table;
    scored on dev too if asked and not yet done."""
    log(f"{name}: the same model as the {row['name']} row of this run ({row['model_dir']}); "
        "not trained again")
    out = {**row, "reused_from": row["name"]}
    if dev is not None and "dev" not in out:
        out["dev"] = textrnn_eval(exe, dev, Path(row["model_dir"]))
    return out


def textrnn_eval(exe: str, data: Path, model: Path) -> dict:
    """`textrnn eval DATA --json`, without the per-class tables."""
    return _slim(run_json([exe, "eval", data, "--model", model, "--json"], PREDICT_TIMEOUT)[1])


def model_info(exe: str, model: Path) -> dict:
    """Parameter count (the sum of `textrnn info --json`'s layer table) and the engines the
    saved model has."""
    _, info = run_json([exe, "info", "--model", model, "--json"], PREDICT_TIMEOUT)
    return {"parameters": sum(int(layer.get("params") or 0) for layer in info.get("layers", [])),
            "engine": info.get("engine")}


def time_textrnn_predict(name: str, exe: str, model: Path, work: Path, test: Path) -> dict:
    texts = [one_line(row["text"]) for row in read_csv(test)]
    texts_file = write_lines(work / f"{name}-test-texts.txt", texts)
    base = [exe, "predict", "--format", "jsonl", "--output", os.devnull, "--model", model]
    batch_wall, _ = run(base[:2] + ["--input", texts_file] + base[2:], PREDICT_TIMEOUT)
    single = []
    for _ in range(SINGLE_RUNS):
        wall, _ = run([exe, "predict", texts[0], "--format", "jsonl", "--model", model],
                      PREDICT_TIMEOUT)
        single.append(wall)
    many = repeated(texts, WARM_LINES)
    many_file = write_lines(work / f"{name}-many-texts.txt", many)
    many_wall, _ = run(base[:2] + ["--input", many_file] + base[2:], PREDICT_TIMEOUT)
    single_median = statistics.median(single)
    net = many_wall - single_median
    out = {
        "sentences": len(texts),
        "batch_wall_seconds": batch_wall,
        "batch_sentences_per_second": len(texts) / batch_wall,
        "single_wall_seconds": single,
        "single_wall_median": single_median,
        "warm_sentences": len(many),
        "warm_wall_seconds": many_wall,
        # Throughput with the start-up (Python, TensorFlow, model load) taken out: the time
        # for many lines minus the median time for one line.
        "warm_sentences_per_second": len(many) / net if net > 0 else None,
    }
    log(f"{name}: predict {out['batch_sentences_per_second']:.0f} sent/s cold, "
        f"~{out['warm_sentences_per_second'] or 0:.0f} sent/s warm, "
        f"single {single_median:.2f} s")
    return out


_HELP: list[str] = []


def train_help() -> str:
    """`textrnn train --help`, to see which options this version has."""
    if not _HELP:
        try:
            _HELP.append(run([textrnn_exe(), "train", "--help"], 120)[1])
        except BenchError:
            _HELP.append("")
    return _HELP[0]


def source_state() -> dict:
    """Which textrnn code a row ran: git HEAD, uncommitted changes, a hash of textrnn/*.py.
    textrnn is installed editable, so code edited during a run changes later rows."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((ROOT / "textrnn").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    state = {"source_sha256": digest.hexdigest()[:12], "commit": None, "dirty": None}
    try:
        state["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                         text=True, capture_output=True,
                                         check=True).stdout.strip()
        state["dirty"] = bool(subprocess.run(["git", "status", "--porcelain", "--", "textrnn"],
                                             cwd=ROOT, text=True, capture_output=True,
                                             check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    return state


def _slim(metrics: dict) -> dict:
    """Metrics without the bulky per-class tables and confusion matrices."""
    drop = {"per_class", "per_slot", "confusion", "errors"}
    out = {k: v for k, v in metrics.items() if k not in drop}
    if isinstance(out.get("intent"), dict):
        out["intent"] = {k: v for k, v in out["intent"].items() if k not in drop}
    return out


def _headline(metrics: dict) -> str:
    keys = ("accuracy", "macro_f1", "intent_accuracy", "slot_f1", "frame_accuracy")
    return ", ".join(f"{k} {metrics[k]:.4f}" for k in keys if isinstance(metrics.get(k), float))


# ----------------------------------------------------------------------------- fastText


def _ft_predict(model, texts: list[str]) -> list[str]:
    try:
        labels, _ = model.predict(texts)
    except ValueError:  # fasttext 0.9.2 with numpy 2 (np.array(copy=False)); call the binding
        labels, _ = model.f.multilinePredict(texts, 1, 0.0, "strict")
    return [lab[0][len("__label__"):] if lab else "" for lab in labels]


def ft_train(name: str, work: Path, examples: list[tuple[str, str]]):
    """Train fastText on (text, label) pairs, shuffled; returns (model, seconds, file)."""
    import fasttext

    rows = list(examples)
    random.Random(SEED).shuffle(rows)
    path = work / f"fasttext-{name}.train.txt"
    with open(path, "w", encoding="utf-8") as handle:
        for text, label in rows:
            handle.write(f"__label__{label} {text}\n")
    started = time.perf_counter()
    model = fasttext.train_supervised(input=str(path), **FASTTEXT)
    seconds = time.perf_counter() - started
    log(f"{name}: fastText trained in {seconds:.1f} s on {len(rows)} examples")
    return model, seconds, len(rows)


# A cold fastText process: load the model, label one text (argv[2]) or a file's lines
# (argv[2] == "-f", the file in argv[3]), write the labels to argv[-1].
FT_SCRIPT = ("import sys, fasttext\n"
             "m = fasttext.load_model(sys.argv[1])\n"
             "if sys.argv[2] == '-f':\n"
             "    lines = open(sys.argv[3], encoding='utf-8').read().splitlines()\n"
             "else:\n"
             "    lines = [sys.argv[2]]\n"
             "labels, _ = m.f.multilinePredict(lines, 1, 0.0, 'strict')\n"
             "with open(sys.argv[-1], 'w') as out:\n"
             "    out.writelines(' '.join(x) + '\\n' for x in labels)\n")


def time_ft_predict(name: str, model, work: Path, texts: list[str]) -> dict:
    """Warm (in-process) batch throughput, cold batch and single-sentence via a subprocess."""
    started = time.perf_counter()
    _ft_predict(model, texts)
    warm = time.perf_counter() - started
    many = repeated(texts, WARM_LINES)
    started = time.perf_counter()
    _ft_predict(model, many)
    warm_many = time.perf_counter() - started
    path = work / f"fasttext-{name}.bin"
    model.save_model(str(path))
    texts_file = write_lines(work / f"fasttext-{name}-test-texts.txt", texts)
    batch_wall, _ = run([sys.executable, "-c", FT_SCRIPT, path, "-f", texts_file, os.devnull],
                        PREDICT_TIMEOUT)
    single = [run([sys.executable, "-c", FT_SCRIPT, path, texts[0], os.devnull],
                  PREDICT_TIMEOUT)[0] for _ in range(SINGLE_RUNS)]
    size = path.stat().st_size
    path.unlink()  # with wordNgrams the .bin holds 2M hash buckets (~800 MB); do not keep it
    out = {
        "sentences": len(texts),
        "batch_wall_seconds": batch_wall,
        "batch_sentences_per_second": len(texts) / batch_wall,
        "single_wall_seconds": single,
        "single_wall_median": statistics.median(single),
        "warm_sentences": len(many),
        "warm_wall_seconds": warm_many,
        "warm_sentences_per_second": len(many) / warm_many if warm_many > 0 else None,
        "warm_test_wall_seconds": warm,
        "model_bytes": size,
    }
    log(f"{name}: fastText predict {out['batch_sentences_per_second']:.0f} sent/s cold, "
        f"{out['warm_sentences_per_second'] or 0:.0f} sent/s warm, "
        f"single {out['single_wall_median']:.2f} s")
    return out


def bench_fasttext_classify(name: str, work: Path, train_rows: list[dict],
                            test_rows: list[dict], label_key: str) -> dict:
    from textrnn.metrics import classification_report

    model, seconds, n = ft_train(name, work, [(ft_text(r["text"]), r[label_key])
                                              for r in train_rows])
    texts = [ft_text(r["text"]) for r in test_rows]
    pred = _ft_predict(model, texts)
    report = classification_report([r[label_key] for r in test_rows], pred)
    result = {
        "settings": FASTTEXT,
        "train_rows": n,
        "train_seconds": seconds,
        "train_sentences_per_second": FASTTEXT["epoch"] * n / seconds,
        "test": _slim(report),
    }
    log(f"{name}: fastText test {_headline(result['test'])}")
    result["predict"] = time_ft_predict(name, model, work, texts)
    return result


# ----------------------------------------------------------------------------- datasets


def describe_error(error: Exception) -> str:
    detail = str(error) if isinstance(error, BenchError) else traceback.format_exc()
    return f"{type(error).__name__}: {detail}".strip()


def attempt(rows: dict, kind: str, function, *args, **kwargs) -> None:
    """rows[kind] = function(...), or {"error": ...} if it fails: one model failing leaves the
    dataset's other rows standing."""
    try:
        rows[kind] = function(*args, **kwargs)
    except KeyboardInterrupt:
        raise
    except Exception as error:
        rows[kind] = {"error": describe_error(error)}
        log(f"{kind} FAILED: {rows[kind]['error']}")


def bench_classification(args, work: Path, name: str, folder: str, evaluate_on: str,
                         validation: list, label: str = "label") -> dict:
    """textrnn and fastText on one classification set: train on train.csv, score on
    `evaluate_on` (test.csv, or dev.csv where the test labels are not public)."""
    train, test = data_file(args, work, folder, "train"), data_file(args, work, folder, evaluate_on)
    rows: dict = {}
    attempt(rows, "textrnn", bench_textrnn, name, work, train, test, validation, args)
    attempt(rows, "fastText", bench_fasttext_classify, name, work, read_csv(train),
            read_csv(test), label)
    return {"rows": rows, "metrics": ["accuracy", "macro_f1"], "eval_split": evaluate_on,
            "train": str(train), "test": str(test)}


def bench_trec(args, work: Path) -> dict:
    return bench_classification(args, work, "trec", "trec", "test", ["--valid-split", "0.1"])


def bench_snips(args, work: Path) -> dict:
    dev = data_file(args, work, "snips", "dev")
    return bench_classification(args, work, "snips", "snips", "test",
                                ["--valid", dev, "--task", "classify"], label="intent")


def bench_tnews(args, work: Path) -> dict:
    return bench_classification(args, work, "tnews", "tnews", "dev", ["--valid-split", "0.1"])


def window_features(words: list[str], width: int = 2) -> list[str]:
    padded = ["<s>"] * width + words + ["</s>"] * width
    return [" ".join(f"w{offset:+d}={padded[i + width + offset]}".replace("w+0=", "w0=")
                     for offset in range(-width, width + 1))
            for i in range(len(words))]


def bench_fasttext_joint(work: Path, train_rows, dev_rows, test_rows) -> dict:
    """fastText peer for joint SLU: intent classifier + per-token window tagger."""
    from textrnn.metrics import joint_report

    def split(rows):
        words = [r["text"].split() for r in rows]
        tags = [r["tags"].split() for r in rows]
        for i, (w, t) in enumerate(zip(words, tags)):
            if len(w) != len(t):
                raise BenchError(f"row {i + 2}: {len(t)} tags for {len(w)} words")
        return words, tags

    train_words, train_tags = split(train_rows)
    token_examples = [(feature, tag) for words, tags in zip(train_words, train_tags)
                      for feature, tag in zip(window_features(words), tags)]
    tagger, tagger_seconds, n_tokens = ft_train("snips-joint-tagger", work, token_examples)
    intent_model, intent_seconds, n = ft_train(
        "snips-joint-intent", work, [(ft_text(r["text"]), r["intent"]) for r in train_rows])

    def score(rows):
        words, gold_tags = split(rows)
        features = [window_features(w) for w in words]
        flat = _ft_predict(tagger, [f for sentence in features for f in sentence])
        pred_tags, at = [], 0
        for sentence in features:
            pred_tags.append(flat[at: at + len(sentence)])
            at += len(sentence)
        intents = _ft_predict(intent_model, [ft_text(r["text"]) for r in rows])
        return _slim(joint_report([r["intent"] for r in rows], intents, gold_tags, pred_tags))

    result = {
        "settings": FASTTEXT,
        "tagger": "per-token fastText over a +-2 word window (w-2 .. w+2), no BIO repair",
        "train_rows": n,
        "train_tokens": n_tokens,
        "train_seconds": tagger_seconds + intent_seconds,
        "train_seconds_tagger": tagger_seconds,
        "train_seconds_intent": intent_seconds,
        "train_sentences_per_second": FASTTEXT["epoch"] * n / (tagger_seconds + intent_seconds),
        "test": score(test_rows),
        "dev": score(dev_rows),
    }
    log(f"snips-joint: fastText test {_headline(result['test'])}")
    # Prediction timing: one sentence = its intent plus one tagger call per token.
    texts = [one_line(r["text"]) for r in test_rows]
    result["predict"] = time_ft_joint_predict(tagger, intent_model, texts)
    return result


def time_ft_joint_predict(tagger, intent_model, texts: list[str],
                          lines: int | None = None) -> dict:
    """In-process: the texts repeated to at least WARM_LINES lines, or to exactly `lines`."""
    def label(batch):
        features = [f for text in batch for f in window_features(text.split())]
        _ft_predict(tagger, features)
        _ft_predict(intent_model, [ft_text(t) for t in batch])

    many = repeated(texts, lines)[:lines] if lines else repeated(texts, WARM_LINES)
    started = time.perf_counter()
    label(many)
    warm = time.perf_counter() - started
    return {"warm_sentences": len(many), "warm_wall_seconds": warm,
            "warm_sentences_per_second": len(many) / warm if warm > 0 else None,
            "note": "in-process only (two models, features built in Python)"}


def bench_snips_joint(args, work: Path) -> dict:
    train, dev, test = snips_files(args, work)
    rows: dict = {}
    attempt(rows, "textrnn", bench_textrnn, "snips-joint", work, train, test, ["--valid", dev],
            args, dev=dev)
    # The other tag decoder, whichever the default is not: softmax vs CRF, measured on dev.
    default_crf = bool((rows["textrnn"].get("model") or {}).get("crf"))
    if default_crf and "--no-crf" not in train_help():
        log("snips-joint: the default uses a CRF and there is no --no-crf; no softmax row")
    else:
        flag = "--no-crf" if default_crf else "--crf"
        attempt(rows, f"textrnn {flag}", bench_textrnn, f"snips-joint{flag[1:]}", work, train,
                test, ["--valid", dev, flag], args, dev=dev)
    attempt(rows, "fastText", bench_fasttext_joint, work, read_csv(train), read_csv(dev),
            read_csv(test))
    return {"rows": rows, "metrics": ["intent_accuracy", "slot_f1", "frame_accuracy"],
            "dev_metric": "slot_f1", "eval_split": "test", "train": str(train),
            "test": str(test), "dev": str(dev)}


# ----------------------------------------------------------------------------- prediction speed

PREDICT_LINES = 100_000  # batch throughput: the SNIPS test sentences repeated to this many lines
STREAM_LINES = 1_000_000  # peak RSS: this many lines piped into one `textrnn predict`
STREAM_BUDGET = 600  # seconds: an engine too slow for STREAM_LINES in this time streams fewer
PREDICT_ENGINES = ("numpy", "keras")
TARGETS = {"single_wall_seconds": 0.5, "sentences_per_second": 5_000, "peak_rss_mib": 300}
GNU_TIME = "/usr/bin/time"

# A fastText process that labels stdin in batches, as `textrnn predict` does (argv[2] lines).
FT_STREAM_SCRIPT = ("import sys, fasttext\n"
                    "m = fasttext.load_model(sys.argv[1])\n"
                    "size = int(sys.argv[2])\n"
                    "sys.stdin.reconfigure(encoding='utf-8', errors='replace')\n"
                    "def flush(batch):\n"
                    "    labels, _ = m.f.multilinePredict(batch, 1, 0.0, 'strict')\n"
                    "    sys.stdout.write(''.join((x[0][9:] if x else '') + '\\n' "
                    "for x in labels))\n"
                    "batch = []\n"
                    "for line in sys.stdin:\n"
                    "    batch.append(line.rstrip('\\n'))\n"
                    "    if len(batch) == size:\n"
                    "        flush(batch)\n"
                    "        batch = []\n"
                    "if batch:\n"
                    "    flush(batch)\n")


def gnu_time() -> str | None:
    """GNU time (Debian's `time` package) if installed and it takes -f/-o."""
    if not os.access(GNU_TIME, os.X_OK):
        return None
    try:
        done = subprocess.run([GNU_TIME, "-f", "%M", "-o", os.devnull, "true"],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return GNU_TIME if done.returncode == 0 else None


def _feed(pipe, lines: list[str], count: int) -> None:
    """Write `count` lines to `pipe`, cycling through `lines` one block at a time (never the
    whole stream in memory), then close it."""
    block_lines = [one_line(line) + "\n" for line in lines]
    block = "".join(block_lines).encode("utf-8")
    whole, rest = divmod(count, len(block_lines))
    try:
        for _ in range(whole):
            pipe.write(block)
        if rest:
            pipe.write("".join(block_lines[:rest]).encode("utf-8"))
    except OSError:  # the child has gone (BrokenPipeError): its exit status says why
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def measured(cmd: list, timeout: float, work: Path,
             feed: tuple[list[str], int] | None = None) -> dict:
    """Run `cmd` with stdout to /dev/null and, with `feed` = (lines, count), `count` lines
    streamed into its stdin from a writer thread; wall seconds, peak RSS and CPU seconds of
    that one process. Peak RSS comes from GNU time's %M when installed, else from polling the
    process's VmHWM in /proc. Not from rusage: a child forked from this (large) process and
    then exec'd records this process's RSS as its own high-water mark."""
    cmd = [str(c) for c in cmd]
    shown = shlex.join(cmd)
    tool = gnu_time()
    timed_out = threading.Event()
    with tempfile.TemporaryDirectory(dir=work) as scratch, \
            tempfile.TemporaryFile(dir=work) as stderr:
        stats = Path(scratch) / "time.txt"
        full = [tool, "-f", "%M %U %S", "-o", str(stats), *cmd] if tool else cmd
        started = time.perf_counter()
        proc = subprocess.Popen(full, stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=stderr, env=_env(), cwd=ROOT,
                                start_new_session=True)

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, 9)  # the group: GNU time's child too
            except OSError:
                pass

        writer = None
        if feed:
            writer = threading.Thread(target=_feed, args=(proc.stdin, *feed), daemon=True)
            writer.start()
        timer = threading.Timer(timeout, kill)
        timer.start()
        hwm: list[int] = []
        poller = None
        if not tool:
            poller = threading.Thread(target=_poll_hwm, args=(proc.pid, hwm), daemon=True)
            poller.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        for thread in (writer, poller):
            if thread is not None:
                thread.join(timeout=60)
        stderr.seek(0)
        tail = "\n".join(stderr.read().decode("utf-8", "replace").strip().splitlines()[-15:])
        report = stats.read_text(encoding="utf-8", errors="replace") if stats.exists() else ""
    if timed_out.is_set():
        raise BenchError(f"timed out after {timeout:.0f} s: {shown}")
    if proc.returncode != 0:
        raise BenchError(f"exit code {proc.returncode}: {shown}\n{tail}")
    out = {"command": shown, "wall_seconds": wall}
    figures = report.strip().splitlines()[-1].split() if report.strip() else []
    if tool and len(figures) == 3:
        out.update(peak_rss_mib=int(figures[0]) / 1024, cpu_user_seconds=float(figures[1]),
                   cpu_system_seconds=float(figures[2]), rss_method="GNU time %M")
    else:
        out.update(peak_rss_mib=max(hwm) / 1024 if hwm else None,
                   cpu_user_seconds=usage.ru_utime, cpu_system_seconds=usage.ru_stime,
                   rss_method=f"VmHWM in /proc/<pid>/status, polled every {HWM_POLL} s")
    return out


HWM_POLL = 0.05  # seconds between reads of VmHWM when GNU time is not installed


def _poll_hwm(pid: int, into: list[int]) -> None:
    """Append the process's VmHWM (KiB) until it exits; the last read is the peak so far."""
    path = f"/proc/{pid}/status"
    while True:
        try:
            with open(path, encoding="utf-8") as handle:
                found = [int(line.split()[1]) for line in handle if line.startswith("VmHWM:")]
        except (OSError, ValueError, IndexError):
            return
        if not found:  # a zombie: its memory is gone
            return
        into.append(found[0])
        time.sleep(HWM_POLL)


def time_predict_engine(exe: str, model: Path, engine: str, texts: list[str], lines_file: Path,
                        n_lines: int, work: Path) -> dict:
    """One engine: single sentence (median of cold runs), the batch file cold and warm, and
    the peak RSS of a long stream on stdin."""
    source = source_state()
    base = [exe, "predict", "--model", model, "--engine", engine]
    single, out = [], ""
    for _ in range(SINGLE_RUNS):
        wall, out = run([*base, texts[0], "--format", "jsonl"], PREDICT_TIMEOUT)
        single.append(wall)
    try:
        answer = json.loads(out.splitlines()[0])
    except (IndexError, json.JSONDecodeError) as error:
        raise BenchError(f"textrnn predict --engine {engine}: no JSON line: {out[:300]!r}") \
            from error
    single_median = statistics.median(single)
    log(f"predict: {engine}: single sentence {single_median:.2f} s (median of {SINGLE_RUNS})")
    batch = measured([*base, "--input", lines_file, "--output", os.devnull, "--format", "jsonl"],
                     PREDICT_TIMEOUT, work)
    net = batch["wall_seconds"] - single_median
    warm = n_lines / net if net > 0 else None
    log(f"predict: {engine}: {n_lines:,} lines in {batch['wall_seconds']:.1f} s "
        f"({n_lines / batch['wall_seconds']:.0f} sent/s cold, ~{warm or 0:.0f} warm)")
    stream_lines = STREAM_LINES
    if warm and STREAM_LINES / warm > STREAM_BUDGET:
        stream_lines = max(n_lines, int(warm * STREAM_BUDGET) // 10_000 * 10_000)
        log(f"predict: {engine}: {STREAM_LINES:,} lines would take ~{STREAM_LINES / warm:.0f} s;"
            f" streaming {stream_lines:,}")
    stream = measured([*base, "--format", "label"], PREDICT_TIMEOUT, work,
                      feed=(texts, stream_lines))
    stream.update(lines=stream_lines, lines_per_second=stream_lines / stream["wall_seconds"])
    log(f"predict: {engine}: {stream_lines:,}-line stream {stream['wall_seconds']:.1f} s "
        f"({stream['lines_per_second']:.0f} lines/s), peak RSS {stream['peak_rss_mib']:.0f} MiB")
    return {
        "engine": engine,
        "sentence": texts[0],
        "answer": {k: answer.get(k) for k in ("intent", "intent_prob", "tags", "label")
                   if k in answer},
        "single_wall_seconds": single,
        "single_wall_median": single_median,
        "batch_lines": n_lines,
        "batch": batch,
        "batch_sentences_per_second": n_lines / batch["wall_seconds"],
        # start-up (Python, the engine, model loading) taken out: the batch minus one sentence
        "warm_sentences_per_second": warm,
        "stream": stream,
        "source": source,
    }


def ft_flops(model, texts: list[str]) -> float:
    """Rough FLOPs per text of a fastText classifier: sum the input rows (words, the
    end-of-line word and as many bigram buckets) and one dense layer onto the labels."""
    dim, labels = model.get_dimension(), len(model.labels)
    words = statistics.mean(len(t.split()) for t in texts) + 1
    bigrams = words - 1 if FASTTEXT.get("wordNgrams", 1) > 1 else 0
    return (words + bigrams) * dim + 2 * dim * labels


def ft_predict_speed(work: Path, train_rows: list[dict], texts: list[str], n_lines: int,
                     keep: dict) -> dict:
    """fastText's SNIPS intent classifier timed like textrnn: cold single sentence, the batch
    lines cold (a process) and warm (predict(list) in-process), a stream's peak RSS."""
    model, seconds, n = ft_train("predict-intent", work,
                                 [(ft_text(r["text"]), r["intent"]) for r in train_rows])
    keep["intent"] = model
    ft_texts = [ft_text(t) for t in texts]
    many = repeated(ft_texts, n_lines)[:n_lines]
    started = time.perf_counter()
    _ft_predict(model, many)
    warm = time.perf_counter() - started
    path = work / "fasttext-predict-intent.bin"
    try:
        model.save_model(str(path))
        size = path.stat().st_size
        single = [run([sys.executable, "-c", FT_SCRIPT, path, ft_texts[0], os.devnull],
                      PREDICT_TIMEOUT)[0] for _ in range(SINGLE_RUNS)]
        many_file = write_lines(work / "fasttext-predict-lines.txt", many)
        batch = measured([sys.executable, "-c", FT_SCRIPT, path, "-f", many_file, os.devnull],
                         PREDICT_TIMEOUT, work)
        stream = measured([sys.executable, "-c", FT_STREAM_SCRIPT, path, "256"],
                          PREDICT_TIMEOUT, work, feed=(ft_texts, STREAM_LINES))
    finally:
        path.unlink(missing_ok=True)  # ~800 MB (2M bigram buckets)
    stream.update(lines=STREAM_LINES, lines_per_second=STREAM_LINES / stream["wall_seconds"])
    out = {
        "model": "SNIPS intent classifier, " + ", ".join(f"{k}={v}" for k, v in
                                                        FASTTEXT.items()),
        "train_seconds": seconds,
        "model_bytes": size,
        "sentence": ft_texts[0],
        "single_wall_seconds": single,
        "single_wall_median": statistics.median(single),
        "batch_lines": n_lines,
        "batch": batch,
        "batch_sentences_per_second": n_lines / batch["wall_seconds"],
        "warm_wall_seconds": warm,
        "warm_sentences_per_second": n_lines / warm if warm > 0 else None,
        "stream": stream,
        "flops_per_sentence": ft_flops(model, ft_texts),
    }
    log(f"predict: fastText single {out['single_wall_median']:.2f} s, "
        f"{out['batch_sentences_per_second']:.0f} sent/s cold, "
        f"{out['warm_sentences_per_second'] or 0:.0f} warm, stream peak RSS "
        f"{stream['peak_rss_mib']:.0f} MiB")
    return out


def ft_joint_predict_speed(work: Path, train_rows: list[dict], texts: list[str], n_lines: int,
                           keep: dict) -> dict:
    """The joint peer (intent classifier + ±2-word window tagger), in-process only."""
    token_examples = [(feature, tag) for r in train_rows
                      for feature, tag in zip(window_features(r["text"].split()),
                                              r["tags"].split())]
    tagger, seconds, _ = ft_train("predict-tagger", work, token_examples)
    intent = keep.get("intent")
    if intent is None:
        intent, _, _ = ft_train("predict-intent", work,
                                [(ft_text(r["text"]), r["intent"]) for r in train_rows])
    out = time_ft_joint_predict(tagger, intent, texts, n_lines)
    words = [t.split() for t in texts]
    per_token = ft_flops(tagger, [" ".join(f) for w in words for f in window_features(w)])
    out["flops_per_sentence"] = (ft_flops(intent, [ft_text(t) for t in texts])
                                 + per_token * statistics.mean(len(w) for w in words))
    out["tagger_train_seconds"] = seconds
    log(f"predict: fastText joint peer {out['warm_sentences_per_second'] or 0:.0f} sent/s warm")
    return out


CHAR_CNN_DEFAULTS = {"width": 3, "dim": 32, "filters": 64}  # textrnn.layers.CharCNN's


def char_cnn_sizes(model_dir: Path | None) -> tuple[dict, str]:
    """The character CNN's (width, dim, filters): from its kernel in weights.npz (shape
    (1, width, dim, filters)), else CharCNN's defaults."""
    try:
        import numpy as np

        with np.load(Path(model_dir) / "weights.npz", allow_pickle=False) as weights:
            for name in weights.files:
                if name.endswith("char_conv/kernel"):
                    _, width, dim, filters = weights[name].shape
                    return ({"width": int(width), "dim": int(dim), "filters": int(filters)},
                            f"weights.npz {name}")
    except (OSError, TypeError, ValueError):
        pass
    return dict(CHAR_CNN_DEFAULTS), "CharCNN's defaults (no weights.npz kernel found)"


def model_flops(meta: dict, texts: list[str], model_dir: Path | None = None) -> dict:
    """Multiply-adds of the model's matmuls per token and per sentence, from the layer sizes in
    textrnn.json (and the character CNN's kernel in weights.npz), times the mean tokens (and
    characters) per sentence after truncation to max_len (and MAX_CHARS)."""
    from textrnn.text import MAX_CHARS, Tokenizer

    spec, settings = meta.get("model") or {}, meta.get("tokenizer") or {}
    tokenizer = Tokenizer(lowercase=settings.get("lowercase", True))
    max_len = settings.get("max_len") or 10**9
    sentences = [tokenizer.tokenize(t)[0][:max_len] for t in texts]
    out = {"tokens_per_sentence": statistics.mean(len(s) for s in sentences),
           "max_len": settings.get("max_len")}
    gates = {"lstm": 4, "gru": 3, "rnn": 1}.get(spec.get("encoder"))
    if gates is None:
        out["note"] = f"no FLOP count for encoder {spec.get('encoder')!r}"
        return out
    h, dirs = spec["units"], 2 if spec.get("bidirectional") else 1
    width, projection, recurrent, char_macs = spec["embedding_dim"], 0, 0, 0
    if spec.get("char_features"):
        sizes, source = char_cnn_sizes(model_dir)
        chars = statistics.mean(min(len(tok), MAX_CHARS) for s in sentences for tok in s)
        # a (1, width) convolution at every real character of the token
        char_macs = chars * sizes["width"] * sizes["dim"] * sizes["filters"]
        width += sizes["filters"]
        out["char_cnn"] = {**sizes, "source": source, "chars_per_token": chars,
                           "max_chars": MAX_CHARS}
    for _ in range(spec.get("layers", 1)):
        projection += dirs * width * gates * h  # x_t @ W for every gate
        recurrent += dirs * h * gates * h  # h_{t-1} @ U for every gate
        width = dirs * h
    task = spec.get("task")
    tag_dense = width * spec.get("num_tags", 0) if task in ("tag", "joint") else 0
    sentence = width * spec.get("num_labels", 0) if task in ("classify", "joint") else 0
    per_token = char_macs + projection + recurrent + tag_dense
    out.update({
        "macs_per_token": {"char_cnn": char_macs, "input_projection": projection,
                           "recurrent": recurrent, "tag_dense": tag_dense, "total": per_token},
        "macs_per_sentence_head": sentence,
        "crf_viterbi_ops_per_token": spec.get("num_tags", 0) ** 2 if spec.get("crf") else 0,
        "flops_per_sentence": 2 * (per_token * out["tokens_per_sentence"] + sentence),
        "counted": "2 FLOPs per multiply-add of the character convolution (real characters "
                   "only), input projections, recurrent matmuls and dense layers; gate "
                   "nonlinearities, embedding lookups, pooling and the CRF's Viterbi search "
                   "not counted",
        "spec": {k: spec.get(k) for k in ("encoder", "bidirectional", "layers", "units",
                                          "embedding_dim", "char_features", "num_tags",
                                          "num_labels", "crf")},
    })
    return out


def cpu_peak() -> dict:
    """FP32 peak of the cores this process may use, from /proc/cpuinfo's flags and clock."""
    flags, mhz, model = set(), [], "unknown"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "flags":
                flags.update(value.split())
            elif key == "cpu MHz":
                mhz.append(float(value))
            elif key == "model name":
                model = value.strip()
    except (OSError, ValueError):
        pass
    if "avx512f" in flags:
        per_cycle, simd = 64, "AVX-512 + FMA: 2 FMA units x 16 float32 lanes x 2 FLOPs"
    elif {"avx2", "fma"} <= flags:
        per_cycle, simd = 32, "AVX2 + FMA: 2 FMA units x 8 float32 lanes x 2 FLOPs"
    elif "avx" in flags:
        per_cycle, simd = 16, "AVX without FMA: one 8-lane add and one 8-lane multiply"
    else:
        per_cycle, simd = 8, "SSE: one 4-lane add and one 4-lane multiply"
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    out = {"cpu": model, "cores": cores, "mhz": max(mhz) if mhz else None,
           "flops_per_cycle_per_core": per_cycle, "simd": simd, "peak_flops": None}
    if mhz:
        out["peak_flops"] = cores * max(mhz) * 1e6 * per_cycle
    return out


def predict_model(args, work: Path, exe: str, train: Path, dev: Path) -> tuple[Path, str]:
    """The default SNIPS joint model: the snips-joint step's when it ran in this run; else an
    earlier run's in the work directory if it has the NumPy export; else trained here, with the
    snips-joint step's command."""
    model = work / "textrnn-snips-joint"
    meta_file = model / "textrnn.json"
    if meta_file.exists():
        if "snips-joint" in args.names:  # that step deletes the directory before training
            return model, "trained by the snips-joint step of this run"
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if (meta.get("engine") or {}).get("numpy"):
            when = dt.datetime.fromtimestamp(meta_file.stat().st_mtime, dt.timezone.utc)
            epochs = (meta.get("training") or {}).get("epochs_run")
            return model, (f"reused from an earlier run: saved {when:%Y-%m-%d %H:%M} UTC by "
                           f"textrnn {meta.get('textrnn_version')} after {epochs} "
                           f"epoch{'' if epochs == 1 else 's'}")
        log(f"predict: {model} has no NumPy export (an older textrnn saved it); training again")
    cmd = [exe, "train", train, "--valid", dev, "--out", model, "--quiet", "--json"]
    if args.epochs is not None:
        cmd += ["--epochs", str(args.epochs)]
    log(f"predict: textrnn train ({shlex.join(str(c) for c in cmd[1:])})")
    wall, _ = run_json(cmd, TRAIN_TIMEOUT)
    return model, (f"trained here in {wall:.0f} s (`"
                   + shlex.join(["textrnn", *(str(c) for c in cmd[1:])]) + "`)")


def target_verdict(row: dict | None) -> dict:
    """The issue's targets against the default (NumPy) engine's figures."""
    if not row or "error" in row:
        return {}
    single, warm = row.get("single_wall_median"), row.get("warm_sentences_per_second")
    rss = (row.get("stream") or {}).get("peak_rss_mib")
    return {
        "single_wall_seconds": {"target": f"<= {TARGETS['single_wall_seconds']}", "value": single,
                                "met": single is not None
                                and single <= TARGETS["single_wall_seconds"]},
        "sentences_per_second": {"target": f">= {TARGETS['sentences_per_second']} (warm)",
                                 "value": warm, "cold": row.get("batch_sentences_per_second"),
                                 "met": warm is not None
                                 and warm >= TARGETS["sentences_per_second"]},
        "peak_rss_mib": {"target": f"< {TARGETS['peak_rss_mib']}", "value": rss,
                         "lines": (row.get("stream") or {}).get("lines"),
                         "met": rss is not None and rss < TARGETS["peak_rss_mib"]},
    }


def bench_predict(args, work: Path) -> dict:
    """Prediction speed of the default SNIPS joint model, NumPy and Keras engines, beside
    fastText: single sentence, batch throughput, peak RSS of a long stream, share of FP32 peak."""
    train, dev, test = snips_files(args, work)
    exe = textrnn_exe()
    texts = [one_line(row["text"]) for row in read_csv(test)]
    train_rows = read_csv(train)
    model, origin = predict_model(args, work, exe, train, dev)
    meta = json.loads((model / "textrnn.json").read_text(encoding="utf-8"))
    log(f"predict: model {model}, {origin}")
    lines = repeated(texts, PREDICT_LINES)[:PREDICT_LINES]
    lines_file = write_lines(work / "predict-lines.txt", lines)
    rows: dict = {}
    for engine in PREDICT_ENGINES:
        attempt(rows, f"textrnn {engine}", time_predict_engine, exe, model, engine, texts,
                lines_file, len(lines), work)
    keep: dict = {}
    attempt(rows, "fastText", ft_predict_speed, work, train_rows, texts, len(lines), keep)
    attempt(rows, "fastText joint peer", ft_joint_predict_speed, work, train_rows, texts,
            len(lines), keep)
    keep.clear()
    flops, cpu = model_flops(meta, texts, model), cpu_peak()
    for kind, row in rows.items():
        if "error" in row:
            continue
        per_sentence = (flops.get("flops_per_sentence") if kind.startswith("textrnn")
                        else row.get("flops_per_sentence"))
        warm = row.get("warm_sentences_per_second")
        if per_sentence and warm and cpu.get("peak_flops"):
            row["flops_per_second_warm"] = warm * per_sentence
            row["fp32_peak_fraction"] = warm * per_sentence / cpu["peak_flops"]
    agree = [row.get("answer") for kind, row in rows.items()
             if kind.startswith("textrnn") and "error" not in row]
    verdict = target_verdict(rows.get("textrnn numpy"))
    if verdict:
        log("predict: targets " + ", ".join(f"{k} {'met' if v['met'] else 'MISSED'}"
                                            for k, v in verdict.items()))
    return {"rows": rows, "model_dir": str(model), "model_origin": origin,
            "model_spec": meta.get("model"), "model_engine": meta.get("engine"),
            "sentence": texts[0], "batch_lines": len(lines), "stream_lines": STREAM_LINES,
            "engines_agree_on_sentence": len(agree) < 2 or all(a == agree[0] for a in agree),
            "flops": flops, "cpu": cpu, "targets": verdict, "test": str(test)}


# ----------------------------------------------------------------------------- encoders

ENCODER_EPOCHS = None  # --epochs for the encoder table when none is given (None: textrnn's)
CLASSIFY_ONLY = {"tree"}  # encoders with no per-token output: no SNIPS (joint) row
DEFAULT_ENCODERS = ("lstm", "gru", "rnn", "jordan", "cnn")
# The installed textrnn's encoders (textrnn.models.ENCODERS, in its order) and `textrnn
# train`'s default one, asked in a fresh process: the code may have changed since this started.
ENCODER_PROBE = ("import inspect, json\n"
                 "from textrnn.cli import train\n"
                 "from textrnn.models import ENCODERS\n"
                 "default = inspect.signature(train).parameters['encoder'].default\n"
                 # None: decided from the data; lstm for these (English) sets.
                 "default = default or 'lstm'\n"
                 "print(json.dumps({'encoders': list(ENCODERS), 'default': default}))\n")


def installed_encoders() -> tuple[list[str], str]:
    """(encoder names, the default encoder) of the installed textrnn."""
    try:
        _, found = run_json([sys.executable, "-c", ENCODER_PROBE], 120)
        return list(found["encoders"]), str(found["default"])
    except (BenchError, KeyError, TypeError) as error:
        log(f"encoders: could not list textrnn's encoders ({str(error).splitlines()[0]}); "
            f"using {', '.join(DEFAULT_ENCODERS)}")
        return list(DEFAULT_ENCODERS), DEFAULT_ENCODERS[0]


def bench_encoders(args, work: Path) -> dict:
    """Every encoder with its defaults, through `textrnn train [--encoder E]` and `textrnn
    eval`: TREC classification and SNIPS joint intent + slots, scored on test. The default
    encoder's rows are the trec and snips-joint rows when this run has them."""
    encoders, default = installed_encoders()
    epochs = args.epochs if args.epochs is not None else ENCODER_EPOCHS
    snips_train, snips_dev, snips_test = snips_files(args, work)
    plans = {"trec": (data_file(args, work, "trec", "train"), data_file(args, work, "trec", "test"),
                      ["--valid-split", "0.1"]),
             "snips": (snips_train, snips_test, ["--valid", snips_dev])}
    rows: dict = {}
    skipped = {}
    for data, (train, test, base) in plans.items():
        for encoder in encoders:
            if data == "snips" and encoder in CLASSIFY_ONLY:
                skipped[encoder] = "classification only"
                continue
            train_args = base + ([] if encoder == default else ["--encoder", encoder])
            attempt(rows, f"{data} {encoder}", bench_textrnn, f"encoders-{data}-{encoder}", work,
                    train, test, train_args, args, epochs=epochs)
    return {"rows": rows, "encoders": encoders, "default_encoder": default,
            "skipped_on_snips": skipped, "epochs": epochs,
            "epochs_from": "--epochs" if args.epochs is not None else "ENCODER_EPOCHS",
            "metrics": {"trec": ["accuracy", "macro_f1"],
                        "snips": ["intent_accuracy", "slot_f1", "frame_accuracy"]},
            "data": {data: {"train": str(train), "test": str(test)}
                     for data, (train, test, _) in plans.items()}}


# ----------------------------------------------------------------------------- typos

TYPO_RATE = 0.1  # chance that an eligible word gets one typo
TYPO_MIN_LETTERS = 4  # eligible: a word of at least this many letters a-z and nothing else
TYPO_KINDS = ("swap", "delete", "substitute", "insert")
KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def keyboard_neighbours() -> dict[str, str]:
    """For each letter, the letters on the keys around it on a QWERTY keyboard (each row sits
    half a key to the right of the one above)."""
    where = {key: (r, c) for r, row in enumerate(KEYBOARD) for c, key in enumerate(row)}
    near = {}
    for key, (r, c) in where.items():
        spots = [(r, c - 1), (r, c + 1), (r - 1, c), (r - 1, c + 1), (r + 1, c - 1), (r + 1, c)]
        near[key] = "".join(KEYBOARD[i][j] for i, j in spots
                            if 0 <= i < len(KEYBOARD) and 0 <= j < len(KEYBOARD[i]))
    return near


NEIGHBOURS = keyboard_neighbours()


def add_typo(word: str, rng: random.Random) -> tuple[str, str]:
    """One typo in a word of letters a-z: swap two adjacent (different) letters, delete a
    letter, replace one by a neighbouring key's, or insert a neighbouring key's letter after
    one. Letters only, so the word stays one word (and one textrnn token)."""
    kind = rng.choice(TYPO_KINDS)
    pairs = [i for i in range(len(word) - 1) if word[i] != word[i + 1]]
    if kind == "swap" and not pairs:
        kind = "substitute"
    if kind == "swap":
        i = rng.choice(pairs)
        return word[:i] + word[i + 1] + word[i] + word[i + 2:], kind
    i = rng.randrange(len(word))
    if kind == "delete":
        return word[:i] + word[i + 1:], kind
    letter = rng.choice(NEIGHBOURS[word[i]])
    if kind == "substitute":
        return word[:i] + letter + word[i + 1:], kind
    return word[:i + 1] + letter + word[i + 1:], kind


def with_typos(rows: list[dict], train_words: set[str]) -> tuple[list[dict], dict]:
    """The rows with seeded typos in their text (tags and intent untouched), and counts."""
    rng = random.Random(SEED)
    eligible = re.compile(rf"[a-z]{{{TYPO_MIN_LETTERS},}}")
    out, kinds, examples = [], dict.fromkeys(TYPO_KINDS, 0), []
    words = candidates = changed = sentences = known = 0
    for row in rows:
        noisy = []
        for word in row["text"].split():
            words += 1
            if eligible.fullmatch(word):
                candidates += 1
                if rng.random() < TYPO_RATE:
                    word, kind = add_typo(word, rng)
                    kinds[kind] += 1
                    changed += 1
                    known += word in train_words
            noisy.append(word)
        text = " ".join(noisy)
        if text != one_line(row["text"]):
            sentences += 1
            if len(examples) < 5:
                examples.append({"clean": one_line(row["text"]), "typos": text})
        out.append({**row, "text": text})
    check_alignment(rows, out)
    stats = {"rate": TYPO_RATE, "min_letters": TYPO_MIN_LETTERS, "seed": SEED,
             "sentences": len(rows), "sentences_changed": sentences, "words": words,
             "eligible_words": candidates, "words_changed": changed,
             "fraction_of_words_changed": changed / words if words else None,
             "fraction_of_eligible_changed": changed / candidates if candidates else None,
             "kinds": kinds, "typos_that_are_training_words": known, "examples": examples}
    return out, stats


def check_alignment(clean: list[dict], noisy: list[dict]) -> None:
    """Each typo'd text has one word per tag, and textrnn's tokenizer maps its tokens onto the
    words exactly as it does the clean text's: the gold tags still line up."""
    from textrnn.text import Tokenizer, token_words

    tokenizer = Tokenizer()

    def mapping(text: str) -> list[int]:
        words = text.split()
        return token_words(words, tokenizer.tokenize(" ".join(words))[1])

    for line, (a, b) in enumerate(zip(clean, noisy), start=2):
        if len(b["text"].split()) != len(b["tags"].split()) or \
                mapping(a["text"]) != mapping(b["text"]):
            raise BenchError(f"typos broke the word/tag alignment of test row {line}: "
                             f"{a['text']!r} -> {b['text']!r}")


# row -> (model name under WORK, options after `--valid dev.csv`)
TYPO_MODELS = {"textrnn": ("typos", []),
               "textrnn --no-char-features": ("typos-no-char-features", ["--no-char-features"])}


def bench_typos(args, work: Path) -> dict:
    """The default SNIPS joint model (character features on) and the same without them, on the
    clean test set and on a copy with seeded typos. The default model is the snips-joint row's
    (or the encoder table's) when this run trained it with the same command."""
    train, dev, test = snips_files(args, work)
    train_words = {word for row in read_csv(train) for word in row["text"].split()}
    noisy, stats = with_typos(read_csv(test), train_words)
    noisy_test = write_csv(work / "snips-test-typos.csv", noisy)
    log(f"typos: {stats['words_changed']} of {stats['words']} test words changed "
        f"({100 * stats['fraction_of_words_changed']:.1f}%), {noisy_test}")
    exe = textrnn_exe()
    rows: dict = {}
    for kind, (name, extra) in TYPO_MODELS.items():
        attempt(rows, kind, typo_row, name, exe, work, train, dev, test, noisy_test, extra, args)
    return {"rows": rows, "typos": stats, "test": str(test), "typo_test": str(noisy_test),
            "metrics": ["slot_f1", "intent_accuracy", "frame_accuracy"]}


def typo_row(name: str, exe: str, work: Path, train: Path, dev: Path, test: Path,
             noisy_test: Path, extra: list[str], args) -> dict:
    row = bench_textrnn(name, work, train, test, ["--valid", dev, *extra], args)
    row = {**row, "typo_test": textrnn_eval(exe, noisy_test, Path(row["model_dir"]))}
    log(f"{name}: test with typos {_headline(row['typo_test'])}")
    return row


BENCHES = {"trec": bench_trec, "snips": bench_snips, "snips-joint": bench_snips_joint,
           "tnews": bench_tnews, "predict": bench_predict, "encoders": bench_encoders,
           "typos": bench_typos}
TITLES = {
    "trec": "TREC question classification (6 coarse classes; train 5452, test 500)",
    "snips": "SNIPS intent classification (7 intents; train 13084, dev 700, test 700)",
    "snips-joint": "SNIPS joint intent detection and slot filling (39 slot types)",
    "tnews": "TNEWS Chinese news titles (CLUE, 15 classes; train 53360, evaluated on dev 10000)",
    "predict": "Prediction speed (default SNIPS joint model)",
    "encoders": "Encoders on TREC and SNIPS (test set)",
    "typos": "Typos in the SNIPS test sentences (character features on and off)",
}
SETUP = {
    "trec": "textrnn holds out a stratified 10% of train for early stopping (`--valid-split "
            "0.1`); fastText trains on all of train. Scored on test.",
    "snips": "Intent only: textrnn `--task classify`, early stopping on dev; scored on test.",
    "snips-joint": "Default joint model (one encoder, intent and slot heads), and the same with "
                   "the other tag decoder (`--no-crf` or `--crf`, whichever is not the default); "
                   "early stopping on dev, scored on dev and test. The fastText row is "
                   "a fastText intent classifier plus a per-token fastText tagger whose input "
                   "is the ±2-word window (`w-2=… w-1=… w0=… w+1=… w+2=…`), tags taken as "
                   "predicted (no BIO repair), scored with `textrnn.metrics`.",
    "tnews": "textrnn holds out 10% of train for early stopping (`--valid-split 0.1`); both "
             "models are scored on dev, never used for training or stopping. fastText sees "
             "each Chinese character as a word.",
}
METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro F1",
                "intent_accuracy": "intent acc.", "slot_f1": "slot F1",
                "frame_accuracy": "frame acc."}


# ----------------------------------------------------------------------------- report


def machine() -> dict:
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemTotal"):
                ram = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"cpu": model, "cores": os.cpu_count(), "ram_bytes": ram,
            "os": platform.platform(), "loadavg": load}


def versions() -> dict:
    def version(*names):
        for name in names:
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        return None

    commit = None
    dirty = False
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                                capture_output=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "textrnn"],
                                    cwd=ROOT, text=True, capture_output=True,
                                    check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    return {"python": platform.python_version(),
            "tensorflow": version("tensorflow-cpu", "tensorflow"),
            "keras": version("keras"), "numpy": version("numpy"),
            "fasttext": version("fasttext-wheel", "fasttext"),
            "textrnn": version("textrnn"), "textrnn_commit": commit,
            "textrnn_dirty": dirty}


def pct(value) -> str:
    return f"{100 * value:.2f}" if isinstance(value, (int, float)) else "–"


def num(value, digits: int = 1) -> str:
    if not isinstance(value, (int, float)):
        return "–"
    return f"{value:,.{digits}f}"


def row_figures(kind: str, row: dict) -> dict:
    """The table's figures of one row, textrnn or fastText."""
    predict = row.get("predict", {})
    if kind.startswith("textrnn"):
        training = row.get("training", {})
        return {"train_wall": row.get("train_wall_seconds"),
                "fit_seconds": training.get("seconds"),
                "train_sps": training.get("sentences_per_second"),
                "epochs": f"{training.get('epochs_run')} (best {training.get('best_epoch')})",
                "cold_sps": predict.get("batch_sentences_per_second"),
                "warm_sps": predict.get("warm_sentences_per_second"),
                "single": predict.get("single_wall_median")}
    return {"train_wall": row.get("train_seconds"), "fit_seconds": row.get("train_seconds"),
            "train_sps": row.get("train_sentences_per_second"),
            "epochs": str(FASTTEXT["epoch"]),
            "cold_sps": predict.get("batch_sentences_per_second"),
            "warm_sps": predict.get("warm_sentences_per_second"),
            "single": predict.get("single_wall_median")}


def row_label(kind: str, row: dict) -> str:
    """textrnn rows name their architecture, from the model spec the run reported."""
    spec = row.get("model")
    if not kind.startswith("textrnn") or not isinstance(spec, dict):
        return kind
    return f"{kind} ({architecture(spec)})"


def architecture(spec: dict) -> str:
    """BiLSTM+CRF, CNN, JORDAN, softmax tags, ... from a model spec."""
    arch = ("Bi" if spec.get("bidirectional") else "") + str(spec.get("encoder", "?")).upper()
    if spec.get("task") in ("tag", "joint"):
        arch += "+CRF" if spec.get("crf") else ", softmax tags"
    return arch


def crf_pair(rows: dict) -> tuple[dict, dict] | None:
    """(softmax row, CRF row) among the textrnn rows, if both ran."""
    found = {}
    for kind, row in rows.items():
        if kind.startswith("textrnn") and "error" not in row and isinstance(row.get("model"),
                                                                           dict):
            found.setdefault(bool(row["model"].get("crf")), row)
    return (found[False], found[True]) if len(found) == 2 else None


def dataset_table(name: str, result: dict) -> list[str]:
    metrics = result["metrics"]
    split = result.get("eval_split", "test")
    dev_metric = result.get("dev_metric")
    head = [f"{METRIC_NAMES[m]} ({split}, %)" for m in metrics]
    if dev_metric:
        head.append(f"{METRIC_NAMES[dev_metric]} (dev, %)")
    head += ["training wall (s)", "fit (s)", "epochs", "training sent/s",
             "predict sent/s (batch, CLI)", "predict sent/s (warm)", "single-sentence wall (s)"]
    lines = ["| model | " + " | ".join(head) + " |", "|" + " --- |" * (len(head) + 1)]
    for kind, row in result["rows"].items():
        if "error" in row:
            lines.append(f"| {kind} | failed: {row['error'].splitlines()[0]} |")
            continue
        f = row_figures(kind, row)
        kind = row_label(kind, row)
        cells = [pct(row.get("test", {}).get(m)) for m in metrics]
        if dev_metric:
            cells.append(pct(row.get("dev", {}).get(dev_metric)))
        cells += [num(f["train_wall"]), num(f["fit_seconds"]), f["epochs"], num(f["train_sps"], 0),
                  num(f["cold_sps"], 0), num(f["warm_sps"], 0), num(f["single"], 2)]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return lines


def ratio_text(a, b, what_faster: str) -> str:
    if not (isinstance(a, (int, float)) and isinstance(b, (int, float))) or a <= 0 or b <= 0:
        return ""
    return f"{max(a, b) / min(a, b):.0f}× {what_faster}" if max(a, b) / min(a, b) >= 2 else (
        f"{max(a, b) / min(a, b):.1f}× {what_faster}")


PREDICT_LABELS = {
    "textrnn numpy": "textrnn, `--engine numpy` (the default)",
    "textrnn keras": "textrnn, `--engine keras`",
    "fastText": "fastText intent classifier",
    "fastText joint peer": "fastText joint peer (intent + window tagger), in-process only",
}


def predict_section(result: dict) -> list[str]:
    """The "Prediction speed" section: a table per engine and fastText, targets, FLOP count."""
    rows, flops, cpu = result["rows"], result.get("flops") or {}, result.get("cpu") or {}
    n, stream_n = result.get("batch_lines", PREDICT_LINES), result.get("stream_lines")
    spec = result.get("model_spec") or {}
    methods = {(row.get("stream") or {}).get("rss_method") for row in rows.values()} - {None}
    rss_method = " / ".join(f"`{m}`" for m in sorted(methods)) or "not measured"
    arch = (("Bi" if spec.get("bidirectional") else "") + str(spec.get("encoder", "?")).upper()
            + ("+CRF" if spec.get("crf") else ""))
    lines = [
        f"The default joint model ({arch}, {spec.get('units')} units, embedding "
        f"{spec.get('embedding_dim')}; `{result.get('model_dir')}`, "
        f"{result.get('model_origin')}) labelling SNIPS test sentences with `textrnn predict`, "
        "on each engine; fastText beside it, timed the same way.",
        "",
        f"- *Single sentence*: `textrnn predict \"{result.get('sentence')}\"` (a SNIPS test "
        f"sentence), median of {SINGLE_RUNS} cold processes; fastText: a fresh `python -c` that "
        "loads the model and predicts the line.",
        f"- *Batch*: the SNIPS test sentences repeated to {n:,} lines through `textrnn "
        "predict --input FILE --output /dev/null --format jsonl` (*cold*: start-up "
        "included; *warm*: minus the single-sentence time); fastText: *cold* is a process "
        "that loads the model and predicts the file, *warm* `model.predict(list)` on the same "
        "lines in-process.",
        f"- *Stream*: {stream_n:,} lines (the test sentences cycled, written into the child's "
        "stdin by a writer thread) through `textrnn predict --format label` with stdout to "
        f"/dev/null; peak RSS of that process ({rss_method}); fastText: a Python process "
        "reading stdin in batches of 256 lines.",
        "",
    ]
    head = ["engine", f"single-sentence wall (s, median of {SINGLE_RUNS})",
            f"batch sent/s, cold ({n:,} lines)", "batch sent/s, warm",
            "peak RSS of the stream (MiB)", "stream lines/s", "% of FP32 peak (warm)"]
    lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for kind, row in rows.items():
        label = PREDICT_LABELS.get(kind, kind)
        if "error" in row:
            lines.append(f"| {label} | failed: {row['error'].splitlines()[0]} |")
            continue
        stream = row.get("stream") or {}
        rss = num(stream.get("peak_rss_mib"), 0)
        if stream and stream.get("lines") != stream_n:
            rss += f" ({stream.get('lines'):,} lines)"
        fraction = row.get("fp32_peak_fraction")
        cells = [label, num(row.get("single_wall_median"), 2),
                 num(row.get("batch_sentences_per_second"), 0),
                 num(row.get("warm_sentences_per_second"), 0), rss,
                 num(stream.get("lines_per_second"), 0),
                 f"{100 * fraction:.2f}" if isinstance(fraction, float) else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    verdict = result.get("targets") or {}
    if verdict:
        s, t, r = (verdict["single_wall_seconds"], verdict["sentences_per_second"],
                   verdict["peak_rss_mib"])

        def word(item):
            return "**met**" if item["met"] else "**missed**"

        lines += [
            f"Targets of the issue, for the default engine: single sentence <= "
            f"{TARGETS['single_wall_seconds']} s {word(s)} ({num(s['value'], 2)} s); >= "
            f"{TARGETS['sentences_per_second']:,} sentences/s {word(t)} ({num(t['value'], 0)} "
            f"warm, {num(t['cold'], 0)} cold over {n:,} lines); peak RSS < "
            f"{TARGETS['peak_rss_mib']} MB {word(r)} ({num(r['value'], 0)} MiB over "
            f"{(r.get('lines') or 0):,} lines).",
            "",
        ]
    elif "textrnn numpy" in rows:
        lines += ["The NumPy engine failed, so the targets are not judged.", ""]
    if not result.get("engines_agree_on_sentence", True):
        lines += ["**The engines gave different answers for the single sentence** (see "
                  "`answer` in benchmarks.json).", ""]
    macs, chars = flops.get("macs_per_token"), flops.get("char_cnn")
    if macs and cpu.get("peak_flops"):
        lines += [
            "*% of FP32 peak* = warm sentences/s × FLOPs per sentence / peak. FLOPs: per token "
            + (f"{macs['char_cnn']:,.0f} multiply-adds of the character CNN "
               f"({chars['chars_per_token']:.2f} characters × width {chars['width']} × "
               f"{chars['dim']} × {chars['filters']} filters), " if chars else "")
            + f"{macs['input_projection']:,} of input projections, {macs['recurrent']:,} of "
            f"recurrent matmuls and {macs['tag_dense']:,} of the tag layer "
            f"({macs['total']:,.0f} in all), times {flops['tokens_per_sentence']:.2f} tokens "
            f"per SNIPS test sentence, plus {flops['macs_per_sentence_head']:,} for the intent "
            f"layer, × 2 FLOPs = {flops['flops_per_sentence'] / 1e6:.2f} MFLOP per sentence "
            "(gate nonlinearities, embedding lookups, pooling and the CRF's Viterbi search, "
            f"{flops.get('crf_viterbi_ops_per_token', 0):,} operations per token, not counted). "
            f"Peak: {cpu['cores']} cores × {cpu['mhz']:,.0f} MHz (`cpu MHz` in /proc/cpuinfo) × "
            f"{cpu['flops_per_cycle_per_core']} FLOP/cycle ({cpu['simd']}) = "
            f"{cpu['peak_flops'] / 1e9:,.0f} GFLOP/s. This assumes each logical core is a whole "
            "core with two full-width FMA units at the listed clock; hyperthreads sharing a "
            "core, 512-bit operations split over 256-bit units, or turbo clocks move the true "
            "peak, so read the percentage as an order of magnitude. fastText's figures count "
            "the summed input rows (words, end of line, bigram buckets) plus its output layer; "
            "its work is memory lookups, not FLOPs.",
            "",
        ]
    elif flops.get("note"):
        lines += [f"% of FP32 peak: {flops['note']}.", ""]
    for kind, row in rows.items():
        if "error" in row:
            lines += [f"{PREDICT_LABELS.get(kind, kind)} failed:", "", "```", row["error"], "```",
                      ""]
    return lines


ENCODER_DATA = {
    "trec": ("TREC", "classification, 6 classes: `textrnn train trec/train.csv --valid-split "
                     "0.1 [--encoder E]`, scored on `trec/test.csv`"),
    "snips": ("SNIPS", "joint intent + slots: `textrnn train snips/train.csv --valid "
                       "snips/dev.csv [--encoder E]`, scored on `snips/test.csv`"),
}
ENCODER_KEYS = {"trec": "accuracy", "snips": "slot_f1"}  # the figure the reading ranks by


def ok_rows(rows: dict, prefix: str = "") -> dict:
    return {kind: row for kind, row in rows.items()
            if kind.startswith(prefix) and "error" not in row}


def engine_name(row: dict) -> str:
    engine = row.get("engine") or {}
    return "NumPy" if engine.get("numpy") else f"Keras ({engine.get('reason', 'no NumPy export')})"


def encoders_section(result: dict) -> list[str]:
    """The encoder table: one block of rows per dataset, on the test set."""
    rows, default = result["rows"], result.get("default_encoder")
    maxima = sorted({(row.get("training") or {}).get("epochs") for row in ok_rows(rows).values()}
                    - {None})
    most = "/".join(str(m) for m in maxima) or "?"
    capped = {None: " (textrnn's default)",
              "--epochs": f" (`--epochs {result.get('epochs')}` given to bench/run.py)",
              "ENCODER_EPOCHS": f" (`--epochs {result.get('epochs')}`: capped for this table "
                                "to bound its run time; the default is 40)"}
    capped = capped[result.get("epochs_from") if result.get("epochs") is not None else None]
    lines = [
        f"Every encoder of the installed textrnn (`textrnn.models.ENCODERS`: "
        f"{', '.join(result.get('encoders', []))}) trained with textrnn's defaults for it, "
        "nothing else changed: recurrent encoders read both ways, and slot filling adds "
        "character features and a CRF (the Jordan tagger decodes left to right with softmax "
        "tags), as each row's *model* column says. Seed 13, early stopping (patience 4) on the "
        f"validation data, at most {most} epoch(s){capped}. Every figure is `textrnn eval` on "
        "the **test** set, like the rest of this report (`textrnn compare` would score on the "
        f"validation data). The `{default}` rows are textrnn's default model: the trec and "
        "snips-joint rows above when they ran in the same run (same command; not trained "
        "again). *Parameters*: the sum of `textrnn info --json`'s layer table; *fit*: Keras "
        "`fit` seconds; *predict sent/s*: as in the tables above (*warm*: 10,000 lines through "
        "`textrnn predict` minus the one-sentence time; *batch*: the test sentences in one cold "
        "process), on the engine `textrnn predict` picks.",
        "",
    ]
    for data, (title, how) in ENCODER_DATA.items():
        block = {kind: row for kind, row in rows.items() if kind.split()[0] == data}
        if not block:
            continue
        metrics = result["metrics"][data]
        head = ["encoder", "model", *(f"{METRIC_NAMES[m]} (test, %)" for m in metrics),
                "parameters", "fit (s)", "training wall (s)", "epochs", "predict sent/s (warm)",
                "predict sent/s (batch, CLI)", "engine"]
        sizes = {row["predict"].get("sentences") for row in ok_rows(block).values()} - {None}
        how += f" ({'/'.join(str(n) for n in sizes)} sentences)" if sizes else ""
        lines += [f"**{title}** ({how})", "", "| " + " | ".join(head) + " |",
                  "|" + " --- |" * len(head)]
        for kind, row in block.items():
            encoder = kind.split(maxsplit=1)[1]
            if "error" in row:
                lines.append(f"| {encoder} | failed: {row['error'].splitlines()[0]} |")
                continue
            if encoder == default:
                encoder += (f" (default; the {row['reused_from']} row's model)"
                            if row.get("reused_from") else " (default)")
            f = row_figures("textrnn", row)
            cells = [encoder, architecture(row.get("model") or {}),
                     *(pct(row.get("test", {}).get(m)) for m in metrics),
                     num(row.get("parameters"), 0), num(f["fit_seconds"]), num(f["train_wall"]),
                     f["epochs"], num(f["warm_sps"], 0), num(f["cold_sps"], 0), engine_name(row)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    for encoder, why in (result.get("skipped_on_snips") or {}).items():
        lines += [f"`{encoder}`: no SNIPS row ({why}).", ""]
    return lines + failures(rows)


def failures(rows: dict, labels: dict | None = None) -> list[str]:
    """Each failed row's error in full."""
    lines = []
    for kind, row in rows.items():
        if "error" in row:
            lines += [f"{(labels or {}).get(kind, kind)} failed:", "", "```", row["error"], "```",
                      ""]
    return lines


def encoders_reading(result: dict) -> str:
    """Best and worst encoder per dataset, the default's place, and the cost figures."""
    default, parts = result.get("default_encoder"), []
    for data, (title, _) in ENCODER_DATA.items():
        rows = ok_rows(result["rows"], data + " ")
        key = ENCODER_KEYS[data]
        ranked = sorted(((row["test"].get(key), kind.split()[1], row) for kind, row in rows.items()
                         if isinstance(row.get("test", {}).get(key), float)),
                        key=lambda item: -item[0])
        if not ranked:
            continue
        order = [name for _, name, _ in ranked]
        text = (f"on {title}, {METRIC_NAMES[key]} runs from {pct(ranked[0][0])} "
                f"({ranked[0][1]}) down to {pct(ranked[-1][0])} ({ranked[-1][1]})")
        if default in order:
            text += (f", the default {default} {'first' if order[0] == default else ''}"
                     f"{'' if order[0] == default else 'ranked ' + str(order.index(default) + 1)}"
                     f" of {len(order)}")
        if data == "snips":
            intents = [(row["test"].get("intent_accuracy"), name) for _, name, row in ranked]
            intents = sorted(i for i in intents if isinstance(i[0], float))
            if intents:
                text += (f" (intent accuracy {pct(intents[0][0])} for {intents[0][1]} to "
                         f"{pct(intents[-1][0])} for {intents[-1][1]})")
        warm = sorted((row["predict"].get("warm_sentences_per_second") or 0, name)
                      for _, name, row in ranked)
        size = sorted((row.get("parameters") or 0, name) for _, name, row in ranked)
        fit = sorted(((row.get("training") or {}).get("seconds") or 0, name)
                     for _, name, row in ranked)
        text += (f"; warm prediction {num(warm[0][0], 0)} ({warm[0][1]}) to "
                 f"{num(warm[-1][0], 0)} sent/s ({warm[-1][1]}), {num(size[0][0], 0)} "
                 f"({size[0][1]}) to {num(size[-1][0], 0)} parameters ({size[-1][1]}), "
                 f"{num(fit[0][0])} ({fit[0][1]}) to {num(fit[-1][0])} s of fitting "
                 f"({fit[-1][1]})")
        parts.append(text)
    if not parts:
        return "- **encoders**: no encoder finished; see the table."
    skipped = ", ".join(result.get("skipped_on_snips") or {})
    return ("- **encoders**: " + "; ".join(parts) + ". "
            + (f"{skipped} classifies only, so it has no SNIPS row. " if skipped else "")
            + "One seed per encoder, and test sets of a few hundred sentences (one TREC "
            "question of 500 is 0.2 points): gaps of a point or less are within what another "
            "seed would move, so read the table for large differences and for cost "
            "(parameters, time).")


def typo_label(kind: str, row: dict) -> str:
    spec = row.get("model") or {}
    chars = "character features" if spec.get("char_features") else "no character features"
    label = f"{kind} ({architecture(spec)}, {chars})" if spec else kind
    if row.get("reused_from"):
        label += f"; the {row['reused_from']} row's model"
    return label


def typos_section(result: dict) -> list[str]:
    """How the typos were made and applied, then clean vs typos for both models."""
    s = result.get("typos") or {}
    kinds = ", ".join(f"{k} {v}" for k, v in (s.get("kinds") or {}).items())
    example = (s.get("examples") or [{}])[0]
    lines = [
        f"Typos in the SNIPS test sentences only (`{result.get('typo_test')}`); training and "
        f"dev stay clean. Seeded (`random.Random({s.get('seed')})`, in file order): every word "
        f"of at least {s.get('min_letters')} letters a-z (words with digits, apostrophes or "
        f"accents are left alone) gets, with probability {s.get('rate')}, one typo of four "
        "equally likely kinds: two adjacent different letters swapped, a letter deleted, a "
        "letter replaced by one on a neighbouring QWERTY key, or a neighbouring key's letter "
        "inserted after a letter. Only letters change, so no word is split or merged: every "
        "sentence keeps one word per gold tag, and textrnn's tokenizer maps its tokens onto the "
        "words exactly as for the clean sentence (checked for every row).",
        "",
        f"Applied: {s.get('words_changed')} of {s.get('words')} words changed "
        f"(**{pct(s.get('fraction_of_words_changed'))}%** of all words, "
        f"{pct(s.get('fraction_of_eligible_changed'))}% of the {s.get('eligible_words')} "
        f"eligible ones), in {s.get('sentences_changed')} of {s.get('sentences')} sentences; "
        f"{kinds}; {s.get('typos_that_are_training_words')} of the changed words happen to be "
        "other words of the training set. E.g. "
        f"\"{example.get('clean')}\" → \"{example.get('typos')}\".",
        "",
        "Both models are the default joint model's command (`textrnn train snips/train.csv "
        "--valid snips/dev.csv`), the second with `--no-char-features`; the same model is "
        "scored by `textrnn eval` on the clean and the typo test file.",
        "",
    ]
    head = ["model", "slot F1 clean (%)", "slot F1 typos (%)", "change", "intent acc. clean (%)",
            "intent acc. typos (%)", "change", "frame acc. clean (%)", "frame acc. typos (%)"]
    lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for kind, row in result["rows"].items():
        if "error" in row:
            lines.append(f"| {kind} | failed: {row['error'].splitlines()[0]} |")
            continue
        clean, noisy = row.get("test") or {}, row.get("typo_test") or {}
        cells = [typo_label(kind, row)]
        for key in ("slot_f1", "intent_accuracy"):
            cells += [pct(clean.get(key)), pct(noisy.get(key)), points(noisy.get(key),
                                                                      clean.get(key))]
        cells += [pct(clean.get("frame_accuracy")), pct(noisy.get("frame_accuracy"))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""] + failures(result["rows"])


def points(a, b) -> str:
    """a - b in percentage points, signed."""
    if not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return "–"
    return f"{100 * (a - b):+.2f}"


def typos_reading(result: dict) -> str:
    rows, s = ok_rows(result["rows"]), result.get("typos") or {}
    chars, plain = rows.get("textrnn"), rows.get("textrnn --no-char-features")
    if not chars or not plain:
        return "- **typos**: a model failed; see the table."

    def score(row, split, key="slot_f1"):
        return (row.get(split) or {}).get(key)

    def hit(row, key):  # typos minus clean
        return points(score(row, "typo_test", key), score(row, "test", key))

    def lead(split):  # character features minus none
        return points(score(chars, split), score(plain, split))

    text = (f"- **typos**: with {pct(s.get('fraction_of_words_changed'))}% of the test words "
            f"misspelt, slot F1 moves by {hit(chars, 'slot_f1')} points with character "
            f"features and by {hit(plain, 'slot_f1')} without them; intent accuracy by "
            f"{hit(chars, 'intent_accuracy')} and {hit(plain, 'intent_accuracy')}. The "
            f"character features' lead in slot F1 is {lead('test')} points on clean test and "
            f"{lead('typo_test')} with typos")
    changed = s.get("words_changed") or 0
    unknown = changed - (s.get("typos_that_are_training_words") or 0)
    gaps = [(score(chars, split) or 0) - (score(plain, split) or 0)
            for split in ("test", "typo_test")]
    if gaps[1] > gaps[0] + 0.005:
        text += ", so they do make the tagger more robust to misspelt words"
    elif gaps[1] < gaps[0] - 0.005:
        text += ", so here they do not help with misspelt words"
    else:
        text += ", about the same gap: no sign here that they help with misspelt words"
    return (text + f". One seed per model and one draw of typos over {s.get('sentences')} "
            "sentences: differences under about half a point are noise. "
            f"{unknown} of the {changed} misspelt words are not training words, so the word "
            "embedding sees `<unk>` for them and only the character CNN sees the rest of the "
            "word.")


SECTIONS = {"predict": predict_section, "encoders": encoders_section, "typos": typos_section}
READINGS = {"encoders": encoders_reading, "typos": typos_reading}


def reading(results: dict) -> list[str]:
    """A paragraph per dataset written from the numbers."""
    out = []
    for name, result in results.items():
        if name == "predict":  # its own section says what its figures mean
            continue
        if "error" in result:
            out.append(f"- **{name}**: failed, no figures ({result['error'].splitlines()[0]}).")
            continue
        if name in READINGS:
            out.append(READINGS[name](result))
            continue
        rows = result["rows"]
        tr, ft = rows.get("textrnn", {}), rows.get("fastText", {})
        if "error" in tr or "error" in ft:
            out.append(f"- **{name}**: one model failed; see the table.")
            continue
        key = result["metrics"][0] if name != "snips-joint" else "slot_f1"
        a, b = tr["test"].get(key), ft["test"].get(key)
        split = result.get("eval_split", "test")
        if not isinstance(a, float) or not isinstance(b, float):
            continue
        diff = 100 * (a - b)
        leader = "textrnn" if diff > 0 else "fastText"
        verdict = (f"{leader} ahead by {abs(diff):.2f} points" if round(diff, 2) else "a tie")
        text = (f"- **{name}**: {METRIC_NAMES[key]} on {split} {pct(a)} (textrnn) vs {pct(b)} "
                f"(fastText): {verdict}")
        if name == "snips-joint":
            ia, ib = tr["test"].get("intent_accuracy"), ft["test"].get("intent_accuracy")
            fa, fb = tr["test"].get("frame_accuracy"), ft["test"].get("frame_accuracy")
            text += (f"; intent accuracy {pct(ia)} vs {pct(ib)}, frame accuracy {pct(fa)} vs "
                     f"{pct(fb)}")
        fr, ff = row_figures("textrnn", tr), row_figures("fastText", ft)
        text += (f". fastText trains {ratio_text(fr['train_wall'], ff['train_wall'], 'faster')} "
                 f"({num(ff['train_wall'])} s against {num(fr['train_wall'])} s of textrnn wall "
                 f"time)")
        if fr["warm_sps"] and ff["warm_sps"]:
            faster = "fastText" if ff["warm_sps"] > fr["warm_sps"] else "textrnn"
            text += (f"; warm, {faster} predicts "
                     f"{ratio_text(fr['warm_sps'], ff['warm_sps'], 'faster')} "
                     f"({num(ff['warm_sps'], 0)} sent/s for fastText, {num(fr['warm_sps'], 0)} "
                     "for textrnn)")
        text += (f"; a one-sentence `textrnn predict` takes {num(fr['single'], 2)} s, almost all "
                 "of it Python start-up and model loading.")
        if name == "trec":
            verdict = "meets" if a >= 0.93 else "misses"
            text += f" The 93% TREC target: textrnn {verdict} it ({pct(a)}%)."
        pair = crf_pair(rows) if name == "snips-joint" else None
        if pair:
            soft, crf = pair
            d0, d1 = soft.get("dev", {}).get("slot_f1"), crf.get("dev", {}).get("slot_f1")
            t0, t1 = soft["test"].get("slot_f1"), crf["test"].get("slot_f1")
            if isinstance(d0, float) and isinstance(d1, float):
                better = "the CRF" if d1 > d0 else "the softmax tagger"
                default = "the CRF" if tr["model"].get("crf") else "the softmax tagger"
                text += (f" Softmax tags vs CRF: dev slot F1 {pct(d0)} vs {pct(d1)} "
                         f"(test {pct(t0)} vs {pct(t1)}), so by the dev measurement {better} is "
                         f"the better default (difference {abs(100 * (d1 - d0)):.2f} points; "
                         "one seed, so differences under ~0.5 points are within noise); the "
                         f"current default is {default}. The CRF took "
                         f"{num(crf['training'].get('seconds'))} s of fitting against "
                         f"{num(soft['training'].get('seconds'))} s.")
        out.append(text)
    return out


def render(results: dict, info: dict) -> str:
    m, v = info["machine"], info["versions"]
    ram = f"{m['ram_bytes'] / 2**30:.1f} GiB" if m.get("ram_bytes") else "unknown"
    commit = v.get("textrnn_commit") or "unknown"
    if v.get("textrnn_dirty"):
        commit += " (with uncommitted changes in textrnn/)"
    sources = {}
    for name, result in results.items():
        for kind, row in result.get("rows", {}).items():
            for key in ("source", "source_after"):
                if isinstance(row.get(key), dict):
                    state = row[key]
                    sources.setdefault(state["source_sha256"], (state, []))[1].append(
                        f"{name}/{kind}")
    if len(sources) == 1:
        state = next(iter(sources.values()))[0]
        commit = (f"{state['commit']}" + (" + uncommitted changes" if state["dirty"] else "")
                  + f" (textrnn/*.py sha256 {state['source_sha256']}, the same for every row)")
    source_note = []
    if len(sources) > 1:
        source_note = ["", "**Warning: textrnn's source changed during this run**, so the rows "
                       "below were not all produced by the same code (textrnn is installed "
                       "editable). Code versions seen:", ""]
        for sha, (state, where) in sources.items():
            source_note.append(f"- `{sha}` (commit {state['commit']}"
                               + (" + uncommitted changes" if state["dirty"] else "")
                               + f"): {', '.join(sorted(set(where)))}")
    load = ", ".join(f"{x:.2f}" for x in m["loadavg"]) if m.get("loadavg") else "n/a"
    lines = [
        "# Benchmarks",
        "",
        "textrnn's default model against fastText on the same splits. Written by "
        "`bench/run.py` (`make bench`); raw numbers in `benchmarks.json` beside this file.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} logical cores (os.cpu_count()), {ram} RAM, "
        "no GPU; " + m["os"],
        f"- Date: {info['started']} UTC; total benchmark time {info.get('total_minutes', 0):.1f} "
        f"min; load average at start {load}",
        f"- Versions: Python {v['python']}, TensorFlow {v['tensorflow']}, Keras {v['keras']}, "
        f"NumPy {v['numpy']}, fastText (fasttext-wheel) {v['fasttext']}, textrnn {v['textrnn']} "
        f"at commit {commit}",
        f"- Command: `{info['command']}`",
        "- fastText settings: `train_supervised(epoch=25, lr=0.5, wordNgrams=2, thread=2)`, "
        "shuffled training file, input lowercased (Chinese split into characters); textrnn: "
        "its defaults (seed 13, early stopping; each row names the architecture), run through "
        "its CLI" + (f" with `--epochs {info['epochs']}`" if info.get("epochs") else "") + "."
        + (f" **Quick check with `--limit {info['limit']}`**: a sample of {info['limit']} rows "
           "of every data file, so no figure here is comparable to a full run."
           if info.get("limit") else ""),
        *source_note,
        "",
        "Columns: *training wall* is the whole `textrnn train` process (start-up, reading, "
        "fitting, validation scoring, saving) or fastText's `train_supervised` call; *fit* is "
        "textrnn's own `training.seconds` (Keras `fit` only); *training sent/s* is epochs × "
        "training sentences / fit seconds. *Predict sent/s (batch, CLI)* times one cold process "
        "labelling the evaluation texts (`textrnn predict --input FILE --format jsonl`, or a "
        "Python process that loads the fastText model and predicts the list), start-up "
        "included. *Warm* takes start-up out: for textrnn, 10,000 lines (the evaluation texts "
        "repeated) through the CLI minus the single-sentence time; for fastText, "
        "`model.predict(list)` in-process. *Single-sentence wall* is the median of 5 cold "
        "`textrnn predict \"TEXT\"` runs (fastText: a process that loads the model and predicts "
        "one text).",
        "",
    ]
    for name, result in results.items():
        lines += [f"## {TITLES.get(name, name)}", ""]
        if "error" in result:
            lines += ["**Failed:**", "", "```", result["error"], "```", ""]
            continue
        if name in SECTIONS:
            lines += SECTIONS[name](result)
            continue
        lines += [SETUP.get(name, ""), ""]
        lines += dataset_table(name, result)
        lines.append("")
        for kind, row in result["rows"].items():
            if "error" in row:
                lines += [f"{kind} failed:", "", "```", row["error"], "```", ""]
    if any(name != "predict" for name in results):
        lines += ["## Reading the figures", ""]
        lines += reading(results) or ["No dataset finished."]
        lines.append("")
    lines += [
        "Timings are from one run on a shared 2-core machine, one seed each; treat differences "
        "of a few percent in time, and a few tenths of a point in accuracy, as noise.",
        "",
        "## Published references",
        "",
        "Not run here; quoted for scale (other preprocessing, tuning and, for TNEWS, a "
        "pretrained transformer).",
        "",
        "| data | result | model |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in REFERENCES]
    lines.append("")
    return "\n".join(lines)


SCALE_BEGIN, SCALE_END = "<!-- scale:begin -->", "<!-- scale:end -->"  # bench/scale.py's


def write_outputs(out: Path, results: dict, info: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    report = render(results, info)
    old = out.read_text(encoding="utf-8") if out.exists() else ""
    if SCALE_BEGIN in old and SCALE_END in old:  # measured separately: keep it
        kept = SCALE_BEGIN + old.split(SCALE_BEGIN, 1)[1].split(SCALE_END, 1)[0] + SCALE_END
        report = report.rstrip("\n") + "\n\n" + kept + "\n"
    out.write_text(report, encoding="utf-8")
    raw = out.with_suffix(".json")
    raw.write_text(json.dumps({"info": info, "results": results}, indent=1,
                              ensure_ascii=False) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------- main


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
    args.names = sorted(dict.fromkeys(names), key=DATASETS.index)  # predict after snips-joint
    args.data_dir = args.data_dir.resolve()
    args.trained = {}  # the textrnn rows trained in this run, by command (see bench_textrnn)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    python = os.path.relpath(sys.executable, Path.cwd()) if sys.executable else "python"
    shown_argv = list(sys.argv if argv is None else ["bench/run.py", *argv])
    info = {
        "started": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "command": shlex.join([python, *shown_argv]),
        "cwd": str(Path.cwd()),
        "machine": machine(),
        "versions": versions(),
        "epochs": args.epochs,
        "limit": args.limit,
        "data_dir": str(args.data_dir),
    }
    log(f"datasets {', '.join(args.names)}; data {args.data_dir}; work {work}")
    results: dict = {}
    failed = 0
    for name in args.names:
        log(f"=== {name}")
        t0 = time.perf_counter()
        try:
            results[name] = BENCHES[name](args, work)
        except KeyboardInterrupt:
            results[name] = {"error": "interrupted"}
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
        info["total_minutes"] = (time.perf_counter() - started) / 60
        write_outputs(args.out, results, info)  # partial results survive a later failure
    info["finished"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    info["total_minutes"] = (time.perf_counter() - started) / 60
    write_outputs(args.out, results, info)
    log(f"wrote {args.out} and {args.out.with_suffix('.json')} "
        f"({info['total_minutes']:.1f} min, {failed} failed)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
