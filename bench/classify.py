"""The classification sets: `trec`, `snips` (intents only) and `tnews`, textrnn against a
fastText classifier."""

from __future__ import annotations

from pathlib import Path

from fasttext_rows import FASTTEXT, ft_predict, ft_seeds, ft_text, ft_train, time_ft_predict
from harness import attempt, data_file, headline, log, over_seeds, read_csv, slim
from textrnn_rows import bench_textrnn

FASTTEXT_FIGURES = (("test",), ("train_seconds",), ("train_sentences_per_second",))


def bench_fasttext_classify(name: str, work: Path, train_rows: list[dict],
                            test_rows: list[dict], label_key: str, seeds: int = 1) -> dict:
    """A fastText classifier per seed, scored on the test rows; the first one's prediction
    timed."""
    from textrnn.metrics import classification_report

    def one(seed: int, first: bool) -> dict:
        model, seconds, n = ft_train(name, work, [(ft_text(r["text"]), r[label_key])
                                                  for r in train_rows], seed)
        texts = [ft_text(r["text"]) for r in test_rows]
        pred = ft_predict(model, texts)
        report = classification_report([r[label_key] for r in test_rows], pred)
        result = {
            "settings": {**FASTTEXT, "seed": seed},
            "train_rows": n,
            "train_seconds": seconds,
            "train_sentences_per_second": FASTTEXT["epoch"] * n / seconds,
            "test": slim(report),
        }
        log(f"{name}: fastText test {headline(result['test'])}")
        if first:
            result["predict"] = time_ft_predict(name, model, work, texts)
        return result

    return over_seeds(one, ft_seeds(seeds), FASTTEXT_FIGURES)


def bench_classification(args, work: Path, name: str, folder: str, evaluate_on: str,
                         validation: list, label: str = "label", seeds: int = 1) -> dict:
    """textrnn and fastText on one classification set: train on train.csv (each `seeds`
    times), score on `evaluate_on` (test.csv, or dev.csv where the test labels are not
    public)."""
    train, test = data_file(args, work, folder, "train"), data_file(args, work, folder, evaluate_on)
    rows: dict = {}
    attempt(rows, "textrnn", bench_textrnn, name, work, train, test, validation, args,
            seeds=seeds)
    attempt(rows, "fastText", bench_fasttext_classify, name, work, read_csv(train),
            read_csv(test), label, seeds)
    return {"rows": rows, "metrics": ["accuracy", "macro_f1"], "eval_split": evaluate_on,
            "train": str(train), "test": str(test)}


def bench_trec(args, work: Path) -> dict:
    return bench_classification(args, work, "trec", "trec", "test", ["--valid-split", "0.1"],
                                seeds=args.seeds)


def bench_snips(args, work: Path) -> dict:
    dev = data_file(args, work, "snips", "dev")
    return bench_classification(args, work, "snips", "snips", "test",
                                ["--valid", dev, "--task", "classify"], label="intent")


def bench_tnews(args, work: Path) -> dict:
    return bench_classification(args, work, "tnews", "tnews", "dev", ["--valid-split", "0.1"])
