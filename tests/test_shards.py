"""Streaming training data: reading shards row by row, and training from them (--stream)."""

import json

import pytest
from conftest import TINY, topic_rows, write_csv
from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.data.examples import ReadOptions
from textrnn.data.read import read_corpus
from textrnn.data.shards import Shards, expand, held_out, read_examples
from textrnn.errors import DataError

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_every_format_streams_the_same_examples_as_the_whole_file_reader(tmp_path, slots_csv):
    import pandas as pd

    rows = topic_rows(30, seed=3)
    files = {
        "t.csv": write_csv(tmp_path / "t.csv", ["text", "label"], rows),
        "t.tsv": tmp_path / "t.tsv",
        "t.jsonl": tmp_path / "t.jsonl",
        "t.ft": tmp_path / "t.ft",
        "t.parquet": tmp_path / "t.parquet",
    }
    files["t.tsv"].write_text("text\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in rows))
    files["t.jsonl"].write_text("".join(json.dumps({"text": t, "label": label}) + "\n"
                                        for t, label in rows))
    files["t.ft"].write_text("".join(f"__label__{label} {t}\n" for t, label in rows))
    pd.DataFrame(rows, columns=["text", "label"]).to_parquet(files["t.parquet"])
    conll = slots_csv.with_suffix(".conll")
    for name, path in {**files, "slots": slots_csv, "conll": conll}.items():
        whole = read_corpus(str(path)).examples
        streamed = list(read_examples(path, ReadOptions(), []))
        assert [(e.text, e.labels, e.tags, e.row) for e in streamed] == [
            (e.text, e.labels, e.tags, e.row) for e in whole], name


def test_a_bad_row_names_the_file_row_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,tags\nfly to Paris,O O B-city\nfly home,O X-city\n")
    with pytest.raises(DataError, match=r"bad.csv, row 3, column 'tags': 'X-city'"):
        list(read_examples(path, ReadOptions(), []))
    path.write_text("text,label\na b,x\nc,d,e\n")
    with pytest.raises(DataError, match=r"bad.csv, row 3: 3 fields where the header has 2"):
        list(read_examples(path, ReadOptions(), []))


def test_globs_and_directories_name_sorted_shards(tmp_path):
    for name in ("part-2.csv", "part-1.csv", "notes.txt"):
        (tmp_path / name).write_text("text,label\na,b\n")
    assert [p.name for p in expand(str(tmp_path / "part-*.csv"))] == ["part-1.csv", "part-2.csv"]
    assert [p.name for p in expand(str(tmp_path))] == ["part-1.csv", "part-2.csv"]
    with pytest.raises(DataError, match="no file matches"):
        expand(str(tmp_path / "nothing-*.csv"))


def test_the_holdout_is_about_the_fraction_and_stable():
    chosen = [held_out(0, row, 0.1, seed=13) for row in range(20000)]
    assert 0.09 < sum(chosen) / len(chosen) < 0.11
    assert chosen == [held_out(0, row, 0.1, seed=13) for row in range(20000)]
    assert chosen != [held_out(0, row, 0.1, seed=14) for row in range(20000)]


def test_file_shards_are_dealt_to_workers_without_overlap(tmp_path):
    for part in range(3):
        write_csv(tmp_path / f"p{part}.csv", ["text", "label"], topic_rows(5, seed=part))
    shards = Shards(str(tmp_path), ReadOptions())
    seen = [[(i, e.row) for i, e in shards.examples([], worker, 2)] for worker in (0, 1)]
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == sorted((i, e.row) for i, e in shards.examples([]))


def test_streamed_training_matches_training_in_memory(tmp_path, topics_test_csv):
    """Same rows, same seed: the same vocabulary and labels, and accuracy within tolerance
    (the order sentences are shuffled in differs: a buffer against the whole set)."""
    train = write_csv(tmp_path / "train.csv", ["text", "label"], topic_rows(150, seed=1))
    valid = write_csv(tmp_path / "valid.csv", ["text", "label"], topic_rows(30, seed=5))
    metas, scores = [], []
    for mode in ("--no-stream", "--stream"):
        out = tmp_path / mode.strip("-")
        result = run("train", train, "--valid", valid, "--out", out, mode, "--epochs", "15",
                     "--units", "16", "--embedding-dim", "16", "--lr", "0.01", "--quiet")
        assert result.exit_code == 0, result.output
        metas.append(json.loads((out / "textrnn.json").read_text()))
        evaluation = run("eval", topics_test_csv, "--model", out, "--json")
        scores.append(json.loads(evaluation.stdout)["accuracy"])
    memory, streamed = metas
    for key in ("vocab", "labels", "tokenizer"):
        assert memory[key] == streamed[key], key
    assert streamed["data"]["streamed"] and streamed["training"]["train_rows"] == 150
    assert min(scores) >= 0.8 and abs(scores[0] - scores[1]) <= 0.1, scores


def test_streamed_shards_with_steps_per_epoch_and_a_fixed_vocabulary(tmp_path, topics_test_csv):
    for part in range(3):
        write_csv(tmp_path / f"part-{part}.csv", ["text", "label"],
                  topic_rows(100, seed=10 + part))
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("rain\nsong\npizza\nplease\n")
    out = tmp_path / "model"
    result = run("train", tmp_path / "part-*.csv", "--out", out, "--steps-per-epoch", "7",
                 "--vocab", vocab, *TINY)
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "textrnn.json").read_text())
    assert meta["vocab"] == ["<pad>", "<unk>", "rain", "song", "pizza", "please"]
    assert meta["data"]["files"] == 3 and meta["training"]["epochs_run"] == 4
    # About 10% of the 300 rows are held out for validation; the rest train.
    assert 15 <= meta["training"]["valid_rows"] <= 45
    assert meta["training"]["train_rows"] + meta["training"]["valid_rows"] == 300
    assert run("train", topics_test_csv, "--steps-per-epoch", "3", *TINY).exit_code == 2


def test_streamed_joint_training_learns_intents_and_slots(tmp_path, slots_csv):
    out = tmp_path / "model"
    result = run("train", slots_csv, "--stream", "--out", out, "--epochs", "15", "--quiet")
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "textrnn.json").read_text())
    assert meta["task"] == "joint" and meta["data"]["streamed"]
    # Loose floors: 15 epochs on ~250 sentences (the in-memory path reaches about the same).
    assert meta["metrics"]["slot_f1"] > 0.6 and meta["metrics"]["intent_accuracy"] > 0.7
    predicted = run("predict", "Arrive Taipei on November 2nd", "--model", out, "--format",
                    "jsonl")
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout)["intent"] == "book_flight"
