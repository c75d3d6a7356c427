"""The fastText peer (fasttext-wheel, in-process): its settings and input text, training on
(text, label) pairs, prediction, and its timing (in-process and in cold processes)."""

from __future__ import annotations

import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

from harness import (
    PREDICT_TIMEOUT,
    SEED,
    SINGLE_RUNS,
    WARM_LINES,
    log,
    one_line,
    repeated,
    run,
    write_lines,
)

FASTTEXT = {"epoch": 25, "lr": 0.5, "wordNgrams": 2, "verbose": 0, "thread": 2}
FT_SEED = 0  # train_supervised's default seed; with --seeds N the rows use 0, 1, ...

_CJK = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")


def ft_text(text: str) -> str:
    """fastText's input: lowercased, whitespace-separated, each CJK character its own word."""
    return one_line(_CJK.sub(r" \1 ", text.lower()))


def ft_predict(model, texts: list[str]) -> list[str]:
    try:
        labels, _ = model.predict(texts)
    except ValueError:  # fasttext 0.9.2 with numpy 2 (np.array(copy=False)); call the binding
        labels, _ = model.f.multilinePredict(texts, 1, 0.0, "strict")
    return [lab[0][len("__label__"):] if lab else "" for lab in labels]


def ft_seeds(seeds: int) -> list[int]:
    return list(range(FT_SEED, FT_SEED + seeds))


def ft_train(name: str, work: Path, examples: list[tuple[str, str]], seed: int = FT_SEED):
    """Train fastText on (text, label) pairs, shuffled (always the same way; `seed` is
    train_supervised's); returns (model, seconds, rows)."""
    import fasttext

    rows = list(examples)
    random.Random(SEED).shuffle(rows)
    path = work / f"fasttext-{name}.train.txt"
    with open(path, "w", encoding="utf-8") as handle:
        for text, label in rows:
            handle.write(f"__label__{label} {text}\n")
    started = time.perf_counter()
    model = fasttext.train_supervised(input=str(path), seed=seed, **FASTTEXT)
    seconds = time.perf_counter() - started
    log(f"{name}: fastText (seed {seed}) trained in {seconds:.1f} s on {len(rows)} examples")
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
    ft_predict(model, texts)
    warm = time.perf_counter() - started
    many = repeated(texts, WARM_LINES)
    started = time.perf_counter()
    ft_predict(model, many)
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
