"""Slot values the training data never showed: scored apart in eval, noised in training, and
found from their context (the mission sentence with no Taipei in the training data)."""

import csv
import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.metrics import value_split_report
from textrnn.train.augment import SlotNoise, noisy_sentences

runner = CliRunner()


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def test_value_split_counts_each_span_by_its_own_value():
    gold = [["B-city", "O", "B-city"], ["B-artist", "I-artist", "O"]]
    pred = [["B-city", "O", "O"], ["B-artist", "O", "B-artist"]]
    words = [["paris", "and", "zorba"], ["the", "band", "x"]]
    values = [lambda s, e, w=w: " ".join(w[s:e]) for w in words]
    report = value_split_report(gold, pred, values, {"paris", "x"})
    # seen: gold paris (found); pred paris, x (x wrong) -> P 1/2, R 1/1
    assert report["seen"] == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    # unseen: gold zorba, "the band" (both missed); pred "the" (wrong) -> P 0, R 0
    assert report["unseen"]["support"] == 2 and report["unseen"]["f1"] == 0.0


def test_slot_noise_rebuilds_tags_around_new_values():
    noise = SlotNoise.from_values(1.0, 0.0, {"city": ["new york", "oslo"], "date": ["today"]})
    tokens = ["fly", "to", "paris", "on", "monday", "please"]
    tags = ["O", "O", "B-city", "O", "B-date", "O"]
    rng = random.Random(0)
    for _ in range(20):
        new_tokens, new_tags, unknown = noise.apply(tokens, tags, rng)
        assert len(new_tokens) == len(new_tags) and unknown == []
        assert new_tokens[:2] == ["fly", "to"] and new_tokens[-1] == "please"
        city = new_tokens[2:new_tags.index("B-date") - 1]
        assert " ".join(city) in ("new york", "oslo")
        assert new_tags[2:2 + len(city)] == ["B-city"] + ["I-city"] * (len(city) - 1)
        assert new_tokens[new_tags.index("B-date")] == "today"
    # Never substituted, always unknown: same words, the span's positions read as unknown.
    masked = SlotNoise.from_values(0.0, 1.0, {"city": ["oslo"]})
    assert masked.apply(tokens, tags, rng) == (tokens, tags, [2, 4])


def test_noisy_epochs_differ_and_repeat_with_the_seed():
    noise = SlotNoise.from_values(0.5, 0.2, {"city": [f"c{i}" for i in range(50)]})
    tokenized = [(["to", f"x{i}", "now"], ["O", "B-city", "O"]) for i in range(30)]

    def encode(tokens, tags, example, rng):
        return {"tokens": np.asarray([hash(t) % 97 + 2 for t in tokens]),
                "text": " ".join(tokens), "tags": tags}

    def epochs(seed):
        factory = noisy_sentences(tokenized, list(range(30)), encode, noise, seed)
        return [[(p["text"], tuple(p["tokens"])) for p in factory()] for _ in range(2)]

    first, second = epochs(7)
    assert first != second  # a fresh order and fresh values every epoch
    assert epochs(7) == [first, second]  # and the same again with the same seed
    texts = {text for text, _ in first}
    assert len(texts & {f"to c{i} now" for i in range(50)}) > 5
    assert any(1 in ids for _, ids in first)  # some slots read as the unknown word


@pytest.fixture(scope="module")
def without_taipei(tmp_path_factory, slots_csv):
    """The sample slot data with every row naming Taipei left out, and the default model
    trained on it, stopped after 3 epochs without gain (the default 8 take 40% longer; the
    README's model, trained with them, finds unseen cities in tests/test_cli.py)."""
    folder = tmp_path_factory.mktemp("unseen")
    with open(slots_csv, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    kept = [rows[0]] + [row for row in rows[1:] if "taipei" not in row[0].lower()]
    assert len(kept) < len(rows) - 10
    path = folder / "no_taipei.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(kept)
    out = folder / "model"
    result = run("train", path, "--out", out, "--patience", "3", "--quiet")
    assert result.exit_code == 0, result.output
    return path, out


def test_eval_scores_seen_and_unseen_values_apart(without_taipei, slots_csv):
    _, model = without_taipei
    result = run("eval", slots_csv, "--model", model, "--json", "--errors", "50")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    split = report["by_value"]
    assert split["unseen"]["support"] >= 20  # the Taipei spans at least
    assert split["seen"]["support"] + split["unseen"]["support"] == sum(
        row["support"] for row in report["per_slot"].values())
    assert all("unseen" in error for error in report["errors"])
    table = run("eval", slots_csv, "--model", model)
    assert "never seen in training" in table.stdout


def test_the_mission_sentence_without_taipei_in_training(without_taipei):
    _, model = without_taipei
    texts = ["Arrive Taipei on November 2nd", "I need to be in Reykjavik by July 9th",
             "Arrive Ulaanbaatar on March 14th"]
    result = run("predict", *texts, "--model", model, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    found = [{(s["slot"], s["text"]) for s in json.loads(line)["slots"]}
             for line in result.stdout.splitlines()]
    assert found[0] == {("destination", "Taipei"), ("arrival_date", "November 2nd")}
    assert found[1] == {("destination", "Reykjavik"), ("arrival_date", "July 9th")}
    assert found[2] == {("destination", "Ulaanbaatar"), ("arrival_date", "March 14th")}
