"""`snips-joint`: SNIPS intent detection and slot filling, the default joint model, the previous
default (when it differs) and the default with the other tag decoder, against a fastText intent
classifier plus a ±2-word window tagger; each row over --seeds seeds."""

from __future__ import annotations

import time
from pathlib import Path

from fasttext_rows import FASTTEXT, ft_predict, ft_seeds, ft_text, ft_train
from harness import (
    WARM_LINES,
    BenchError,
    attempt,
    headline,
    log,
    one_line,
    over_seeds,
    read_csv,
    repeated,
    run,
    slim,
    snips_files,
    textrnn_exe,
)
from textrnn_rows import bench_textrnn

_HELP: list[str] = []


def train_help() -> str:
    """`textrnn train --help`, to see which options this version has."""
    if not _HELP:
        try:
            _HELP.append(run([textrnn_exe(), "train", "--help"], 120)[1])
        except BenchError:
            _HELP.append("")
    return _HELP[0]


def window_features(words: list[str], width: int = 2) -> list[str]:
    padded = ["<s>"] * width + words + ["</s>"] * width
    return [" ".join(f"w{offset:+d}={padded[i + width + offset]}".replace("w+0=", "w0=")
                     for offset in range(-width, width + 1))
            for i in range(len(words))]


def span_value(words: list[str]):
    """value(start, end) of a sentence's words, normalised as textrnn keeps slot values."""
    from textrnn.text import Tokenizer

    tokenizer = Tokenizer()
    return lambda start, end: " ".join(tokenizer.tokenize(" ".join(words[start:end]))[0])


def training_values(rows: list[dict]) -> set[str]:
    """Every slot value of the training rows (for the seen / unseen split)."""
    from textrnn.metrics import bio_spans

    known = set()
    for row in rows:
        value = span_value(row["text"].split())
        known.update(value(start, end) for _, start, end in bio_spans(row["tags"].split()))
    return known


FASTTEXT_JOINT_FIGURES = (("test",), ("dev",), ("train_seconds",), ("train_seconds_tagger",),
                          ("train_seconds_intent",), ("train_sentences_per_second",))


def bench_fasttext_joint(work: Path, train_rows, dev_rows, test_rows, seeds: int = 1) -> dict:
    """fastText peer for joint SLU: intent classifier + per-token window tagger, a pair per
    seed; the first pair's prediction timed."""
    from textrnn.metrics import joint_report, value_split_report

    known = training_values(train_rows)

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
    intent_examples = [(ft_text(r["text"]), r["intent"]) for r in train_rows]

    def one(seed: int, first: bool) -> dict:
        tagger, tagger_seconds, n_tokens = ft_train("snips-joint-tagger", work, token_examples,
                                                    seed)
        intent_model, intent_seconds, n = ft_train("snips-joint-intent", work, intent_examples,
                                                   seed)

        def score(rows):
            words, gold_tags = split(rows)
            features = [window_features(w) for w in words]
            flat = ft_predict(tagger, [f for sentence in features for f in sentence])
            pred_tags, at = [], 0
            for sentence in features:
                pred_tags.append(flat[at: at + len(sentence)])
                at += len(sentence)
            intents = ft_predict(intent_model, [ft_text(r["text"]) for r in rows])
            report = joint_report([r["intent"] for r in rows], intents, gold_tags, pred_tags)
            report["by_value"] = value_split_report(gold_tags, pred_tags,
                                                    [span_value(w) for w in words], known)
            return slim(report)

        seconds = tagger_seconds + intent_seconds
        result = {
            "settings": {**FASTTEXT, "seed": seed},
            "tagger": "per-token fastText over a +-2 word window (w-2 .. w+2), no BIO repair",
            "train_rows": n,
            "train_tokens": n_tokens,
            "train_seconds": seconds,
            "train_seconds_tagger": tagger_seconds,
            "train_seconds_intent": intent_seconds,
            "train_sentences_per_second": FASTTEXT["epoch"] * n / seconds,
            "test": score(test_rows),
            "dev": score(dev_rows),
        }
        log(f"snips-joint: fastText test {headline(result['test'])}")
        if first:  # one sentence = its intent plus one tagger call per token
            texts = [one_line(r["text"]) for r in test_rows]
            result["predict"] = time_ft_joint_predict(tagger, intent_model, texts)
        return result

    return over_seeds(one, ft_seeds(seeds), FASTTEXT_JOINT_FIGURES)


def time_ft_joint_predict(tagger, intent_model, texts: list[str],
                          lines: int | None = None) -> dict:
    """In-process: the texts repeated to at least WARM_LINES lines, or to exactly `lines`."""
    def label(batch):
        features = [f for text in batch for f in window_features(text.split())]
        ft_predict(tagger, features)
        ft_predict(intent_model, [ft_text(t) for t in batch])

    many = repeated(texts, lines)[:lines] if lines else repeated(texts, WARM_LINES)
    started = time.perf_counter()
    label(many)
    warm = time.perf_counter() - started
    return {"warm_sentences": len(many), "warm_wall_seconds": warm,
            "warm_sentences_per_second": len(many) / warm if warm > 0 else None,
            "note": "in-process only (two models, features built in Python)"}


# The options that reproduce textrnn's previous default joint model (the 2026-12-06 one,
# before slot-value substitution) on top of `--valid dev.csv`, for the baseline row (empty: no
# such row).
PREVIOUS_DEFAULT_ARGS: list[str] = ["--slot-substitution", "0"]
BASELINE = "textrnn, 2026-12-06 default"  # that row's label
TRAIN_BUDGET = 1.5  # the default may take at most this many times the baseline's training wall


def bench_snips_joint(args, work: Path) -> dict:
    train, dev, test = snips_files(args, work)
    rows: dict = {}
    attempt(rows, "textrnn", bench_textrnn, "snips-joint", work, train, test, ["--valid", dev],
            args, dev=dev, seeds=args.seeds)
    if PREVIOUS_DEFAULT_ARGS:  # the default's training budget is measured against this row
        attempt(rows, BASELINE, bench_textrnn, "snips-joint-previous-default", work, train,
                test, ["--valid", dev, *PREVIOUS_DEFAULT_ARGS], args, dev=dev,
                seeds=args.baseline_seeds or args.seeds)
    # The other tag decoder, whichever the default is not: softmax vs CRF, measured on dev. One
    # seed: it is a lever of the ablation, not a figure the default is judged by.
    default_crf = bool((rows["textrnn"].get("model") or {}).get("crf"))
    if default_crf and "--no-crf" not in train_help():
        log("snips-joint: the default uses a CRF and there is no --no-crf; no softmax row")
    else:
        flag = "--no-crf" if default_crf else "--crf"
        attempt(rows, f"textrnn {flag}", bench_textrnn, f"snips-joint{flag[1:]}", work, train,
                test, ["--valid", dev, flag], args, dev=dev, seeds=1)
    attempt(rows, "fastText", bench_fasttext_joint, work, read_csv(train), read_csv(dev),
            read_csv(test), args.seeds)
    return {"rows": rows, "metrics": ["intent_accuracy", "slot_f1", "slot_f1_seen",
                                      "slot_f1_unseen", "frame_accuracy"],
            "dev_metric": "slot_f1", "eval_split": "test", "train": str(train),
            "test": str(test), "dev": str(dev),
            "baseline": BASELINE if BASELINE in rows else None,
            "baseline_args": PREVIOUS_DEFAULT_ARGS}
