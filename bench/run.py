"""Benchmark textrnn's default models against fastText on TREC, SNIPS and TNEWS.

Every textrnn figure comes from the installed `textrnn` command run as a subprocess, the way a
user runs it; fastText runs through its Python module (fasttext-wheel). Writes a Markdown report
(`--out`, default docs/benchmarks.md) and every raw number beside it (same name, `.json`).
A dataset that fails is recorded in the report with its error; the others still run.

    .venv/bin/python bench/run.py --out docs/benchmarks.md
    .venv/bin/python bench/run.py --only trec --epochs 2      # a quick check
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
import time
import traceback
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ("trec", "snips", "snips-joint", "tnews")
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
                  args, dev: Path | None = None) -> dict:
    """Train with the CLI, evaluate on test (and dev), time batch and single predictions."""
    exe = textrnn_exe()
    model = work / f"textrnn-{name}"
    if model.exists():
        shutil.rmtree(model)
    cmd = [exe, "train", train, *train_args, "--out", model, "--quiet", "--json"]
    if args.epochs is not None:
        cmd += ["--epochs", str(args.epochs)]
    log(f"{name}: textrnn train ({shlex.join(str(c) for c in cmd[1:])})")
    source = source_state()
    train_wall, summary = run_json(cmd, TRAIN_TIMEOUT)
    training = summary.get("training", {})
    log(f"{name}: trained in {train_wall:.1f} s wall, {training.get('epochs_run')} epochs "
        f"(best {training.get('best_epoch')})")
    result = {
        "command": shlex.join(["textrnn", *(str(c) for c in cmd[1:])]),
        "train_wall_seconds": train_wall,
        "training": {k: v for k, v in training.items() if k != "history"},
        "history": training.get("history"),
        "model": summary.get("model"),
        "valid_metrics": _slim(summary.get("metrics") or {}),
    }
    _, test_metrics = run_json([exe, "eval", test, "--model", model, "--json"], PREDICT_TIMEOUT)
    result["test"] = _slim(test_metrics)
    log(f"{name}: test {_headline(result['test'])}")
    if dev is not None:
        _, dev_metrics = run_json([exe, "eval", dev, "--model", model, "--json"],
                                  PREDICT_TIMEOUT)
        result["dev"] = _slim(dev_metrics)
        log(f"{name}: dev {_headline(result['dev'])}")
    result["predict"] = time_textrnn_predict(name, exe, model, work, test)
    result["source"] = source
    after = source_state()
    if after["source_sha256"] != source["source_sha256"]:
        result["source_after"] = after
        log(f"{name}: warning: textrnn's source changed while this row ran")
    return result


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
    script = ("import sys, fasttext\n"
              "m = fasttext.load_model(sys.argv[1])\n"
              "if sys.argv[2] == '-f':\n"
              "    lines = open(sys.argv[3], encoding='utf-8').read().splitlines()\n"
              "else:\n"
              "    lines = [sys.argv[2]]\n"
              "labels, _ = m.f.multilinePredict(lines, 1, 0.0, 'strict')\n"
              "with open(sys.argv[-1], 'w') as out:\n"
              "    out.writelines(' '.join(x) + '\\n' for x in labels)\n")
    batch_wall, _ = run([sys.executable, "-c", script, path, "-f", texts_file, os.devnull],
                        PREDICT_TIMEOUT)
    single = [run([sys.executable, "-c", script, path, texts[0], os.devnull],
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


def bench_trec(args, work: Path) -> dict:
    data = args.data_dir / "trec"
    train, test = data / "train.csv", data / "test.csv"
    rows: dict = {}
    attempt(rows, "textrnn", bench_textrnn, "trec", work, train, test, ["--valid-split", "0.1"],
            args)
    attempt(rows, "fastText", bench_fasttext_classify, "trec", work, read_csv(train),
            read_csv(test), "label")
    return {"rows": rows, "metrics": ["accuracy", "macro_f1"], "eval_split": "test",
            "train": str(train), "test": str(test)}


def bench_snips(args, work: Path) -> dict:
    data = args.data_dir / "snips"
    train, dev, test = data / "train.csv", data / "dev.csv", data / "test.csv"
    rows: dict = {}
    attempt(rows, "textrnn", bench_textrnn, "snips", work, train, test,
            ["--valid", dev, "--task", "classify"], args)
    attempt(rows, "fastText", bench_fasttext_classify, "snips", work, read_csv(train),
            read_csv(test), "intent")
    return {"rows": rows, "metrics": ["accuracy", "macro_f1"], "eval_split": "test",
            "train": str(train), "test": str(test)}


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


def time_ft_joint_predict(tagger, intent_model, texts: list[str]) -> dict:
    def label(batch):
        features = [f for text in batch for f in window_features(text.split())]
        _ft_predict(tagger, features)
        _ft_predict(intent_model, [ft_text(t) for t in batch])

    many = repeated(texts, WARM_LINES)
    started = time.perf_counter()
    label(many)
    warm = time.perf_counter() - started
    return {"warm_sentences": len(many), "warm_wall_seconds": warm,
            "warm_sentences_per_second": len(many) / warm if warm > 0 else None,
            "note": "in-process only (two models, features built in Python)"}


def bench_snips_joint(args, work: Path) -> dict:
    data = args.data_dir / "snips"
    train, dev, test = data / "train.csv", data / "dev.csv", data / "test.csv"
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


def bench_tnews(args, work: Path) -> dict:
    data = args.data_dir / "tnews"
    train, dev = data / "train.csv", data / "dev.csv"
    rows: dict = {}
    attempt(rows, "textrnn", bench_textrnn, "tnews", work, train, dev, ["--valid-split", "0.1"],
            args)
    attempt(rows, "fastText", bench_fasttext_classify, "tnews", work, read_csv(train),
            read_csv(dev), "label")
    return {"rows": rows, "metrics": ["accuracy", "macro_f1"], "eval_split": "dev",
            "train": str(train), "test": str(dev)}


BENCHES = {"trec": bench_trec, "snips": bench_snips, "snips-joint": bench_snips_joint,
           "tnews": bench_tnews}
TITLES = {
    "trec": "TREC question classification (6 coarse classes; train 5452, test 500)",
    "snips": "SNIPS intent classification (7 intents; train 13084, dev 700, test 700)",
    "snips-joint": "SNIPS joint intent detection and slot filling (39 slot types)",
    "tnews": "TNEWS Chinese news titles (CLUE, 15 classes; train 53360, evaluated on dev 10000)",
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
    arch = ("Bi" if spec.get("bidirectional") else "") + str(spec.get("encoder", "?")).upper()
    if spec.get("task") in ("tag", "joint"):
        arch += "+CRF" if spec.get("crf") else ", softmax tags"
    return f"{kind} ({arch})"


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


def reading(results: dict) -> list[str]:
    """A paragraph per dataset written from the numbers."""
    out = []
    for name, result in results.items():
        if "error" in result:
            out.append(f"- **{name}**: failed, no figures ({result['error'].splitlines()[0]}).")
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
        text = (f"- **{name}**: {METRIC_NAMES[key]} on {split} {pct(a)} (textrnn) vs {pct(b)} "
                f"(fastText): {leader} ahead by {abs(diff):.2f} points")
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
                 "of it Python and TensorFlow start-up and model loading.")
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
        "its CLI" + (f" with `--epochs {info['epochs']}`" if info.get("epochs") else "") + ".",
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
        lines += [SETUP.get(name, ""), ""]
        lines += dataset_table(name, result)
        lines.append("")
        for kind, row in result["rows"].items():
            if "error" in row:
                lines += [f"{kind} failed:", "", "```", row["error"], "```", ""]
    lines += ["## Reading the figures", ""]
    lines += reading(results) or ["No dataset finished."]
    lines += [
        "",
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


def write_outputs(out: Path, results: dict, info: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(results, info), encoding="utf-8")
    raw = out.with_suffix(".json")
    raw.write_text(json.dumps({"info": info, "results": results}, indent=1,
                              ensure_ascii=False) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md",
                        help="Markdown report to write (raw numbers go to the same name .json)")
    parser.add_argument("--only", default=",".join(DATASETS),
                        help=f"comma-separated datasets (default: all of {','.join(DATASETS)})")
    parser.add_argument("--data-dir", type=Path, default=(ROOT / ".." / "shared" / "data"),
                        help="directory holding trec/, snips/, tnews/ (default ../shared/data)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="passed to `textrnn train --epochs` (default: textrnn's own)")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out",
                        help="directory for models and temporary files (default bench/out/)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHES]
    if unknown or not names:
        parser.error(f"unknown dataset(s) {', '.join(unknown) or '(none)'}; choose from "
                     f"{', '.join(DATASETS)}")
    args.names = names
    args.data_dir = args.data_dir.resolve()
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
