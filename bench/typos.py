"""`typos`: the default SNIPS joint model, and the same without character features, on the
clean test set and on a copy with seeded typos."""

from __future__ import annotations

import random
import re
from pathlib import Path

from harness import (
    SEED,
    BenchError,
    attempt,
    headline,
    log,
    one_line,
    read_csv,
    snips_files,
    textrnn_exe,
    write_csv,
)
from textrnn_rows import bench_textrnn, textrnn_eval

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
    log(f"{name}: test with typos {headline(row['typo_test'])}")
    return row
