"""`predict`: prediction speed of the default SNIPS joint model on each engine (single
sentence, batch cold and warm, peak RSS of a long stream, share of FP32 peak), fastText beside
it."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import statistics
import sys
import time
from importlib.util import find_spec
from pathlib import Path

from fasttext_rows import FASTTEXT, FT_SCRIPT, ft_predict, ft_text, ft_train
from harness import (
    PREDICT_TIMEOUT,
    ROOT,
    SEED,
    SINGLE_RUNS,
    TRAIN_TIMEOUT,
    BenchError,
    attempt,
    cpu_peak,
    log,
    measured,
    one_line,
    read_csv,
    repeated,
    run,
    run_json,
    snips_files,
    source_state,
    textrnn_exe,
    write_lines,
)
from joint import time_ft_joint_predict, window_features

PREDICT_LINES = 100_000  # batch throughput: the SNIPS test sentences repeated to this many lines
STREAM_LINES = 1_000_000  # peak RSS: this many lines piped into one `textrnn predict`
STREAM_BUDGET = 600  # seconds: an engine too slow for STREAM_LINES in this time streams fewer
# --engine onnx when textrnn[onnx] is installed (the bench extra brings it)
PREDICT_ENGINES = ("numpy", "onnx", "keras") if find_spec("onnxruntime") else ("numpy", "keras")
PROFILE_LINES = 20_000  # warm lines for the per-layer profile (bench/profile_predict.py)
TARGETS = {"single_wall_seconds": 0.5, "sentences_per_second": 5_000, "peak_rss_mib": 300}

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
    ft_predict(model, many)
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


CHAR_CNN_DEFAULTS = {"width": 3, "dim": 32, "filters": 64}  # textrnn.nn.layers.CharCNN's


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
    cmd = [exe, "train", train, "--valid", dev, "--seed", str(SEED), "--out", model, "--quiet",
           "--json"]
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
    profiles = {}
    for engine in PREDICT_ENGINES[:-1]:  # the NumPy graph's layers (not Keras')
        try:
            profiles[engine] = run_json(
                [sys.executable, ROOT / "bench" / "profile_predict.py", "--model", model,
                 "--engine", engine, "--lines", str(PROFILE_LINES), "--data", test, "--json"],
                PREDICT_TIMEOUT)[1]
        except BenchError as error:
            profiles[engine] = {"error": str(error)}
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
            "flops": flops, "cpu": cpu, "targets": verdict, "test": str(test),
            "profiles": profiles}
