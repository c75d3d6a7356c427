"""The CLI driven as a user drives it: CliRunner in-process, and the installed command."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY, fresh_cli, write_csv
from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.nn import saving

runner = CliRunner()


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def assert_same_predictions(expected: list[dict], result):
    """The CLI's JSON lines (on whichever engine it picked) against a Keras Predictor's:
    identical labels, tags and spans; probabilities within 1e-4."""
    assert result.exit_code == 0, result.output
    got = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected):
        for key in ("prob", "intent_prob"):
            if key in theirs:
                assert abs(mine.pop(key) - theirs[key]) <= 1e-4
        for item, other in zip(mine.pop("top", []), theirs.get("top", [])):
            assert abs(item.pop("prob") - other["prob"]) <= 1e-4
        assert mine == {k: v for k, v in theirs.items() if k not in ("prob", "intent_prob", "top")}


@pytest.fixture(scope="module")
def topic_model(tmp_path_factory, topics_csv):
    out = tmp_path_factory.mktemp("models") / "topics"
    result = run("train", topics_csv, "--out", out, "--epochs", "15", "--units", "16",
                 "--embedding-dim", "16", "--quiet", "--lr", "0.01")
    assert result.exit_code == 0, result.output
    return out


def test_eval_json_has_the_promised_keys_and_learns(topic_model, topics_test_csv):
    result = run("eval", topics_test_csv, "--model", topic_model, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert {"accuracy", "macro_f1", "weighted_f1", "per_class", "confusion"} <= set(metrics)
    assert metrics["accuracy"] >= 0.8  # topic words decide the label; chance is 1/3


def test_eval_reports_labels_the_model_never_saw(topic_model, tmp_path):
    data = write_csv(tmp_path / "t.csv", ["text", "label"],
                     [("rain and snow", "weather"), ("play a song", "sports")])
    result = run("eval", data, "--model", topic_model, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["unseen_labels"] == ["sports"]


def test_predict_keeps_one_line_per_input_line_in_order(topic_model):
    lines = ["play a jazz song", "", "will it rain today", "   ", "reserve a table for dinner"]
    result = run("predict", "-", "--model", topic_model, "--format", "jsonl",
                 input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [item["text"] for item in out] == lines
    assert [item["label"] for item in out] == ["music", None, "weather", None, "food"]


def test_predict_top_k_and_threshold(topic_model):
    result = run("predict", "play a jazz song", "--model", topic_model, "-f", "jsonl", "-k", "3")
    top = json.loads(result.stdout)["top"]
    assert [t["label"] for t in top][0] == "music" and len(top) == 3
    assert top[0]["prob"] >= top[1]["prob"] >= top[2]["prob"]
    result = run("predict", "play a jazz song", "--model", topic_model, "-f", "label",
                 "--threshold", "1")
    assert result.stdout == "\n"


def test_info_counts_parameters(topic_model):
    result = run("info", "--model", topic_model, "--json")
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)
    assert described["labels"] == ["food", "music", "weather"]
    recurrent = [row for row in described["layers"] if row["formula"]]
    assert recurrent and all(row["params"] == row["formula_params"] for row in recurrent)


def test_same_seed_same_model(topics_csv, tmp_path):
    metrics = []
    for name in ("a", "b"):
        result = run("train", topics_csv, "--out", tmp_path / name, *TINY, "--json")
        assert result.exit_code == 0, result.output
        metrics.append(json.loads(result.stdout)["metrics"])
    assert metrics[0] == metrics[1]


@pytest.mark.parametrize("extra", [["--encoder", "lstm"], ["--encoder", "gru", "--layers", "2"],
                                   ["--encoder", "rnn"], ["--encoder", "jordan"],
                                   ["--encoder", "cnn"], ["--encoder", "tree"],
                                   ["--label-sep", "|"], ["--class-weight", "balanced"]])
def test_round_trip_every_encoder(topics_csv, tmp_path, extra):
    """Train tiny, save, load in a fresh predictor: the same predictions as right after training."""
    from textrnn.predict.predictor import Predictor

    out = tmp_path / "model"
    result = run("train", topics_csv, "--out", out, *TINY, *extra)
    assert result.exit_code == 0, result.output
    texts = ["play a jazz song", "will it rain", "pizza for dinner tonight please"]
    assert_same_predictions(Predictor.load(str(out), "keras").predict(texts),
                            run("predict", *texts, "--model", out, "-f", "jsonl"))


@pytest.mark.parametrize("extra", [["--no-crf"], ["--encoder", "jordan"], ["--encoder", "cnn"],
                                   ["--task", "tag", "--encoder", "gru"],
                                   ["--no-char-features"]])
def test_slot_models_round_trip(slots_csv, tmp_path, extra):
    from textrnn.predict.predictor import Predictor

    out = tmp_path / "model"
    result = run("train", slots_csv, "--out", out, *TINY, *extra)
    assert result.exit_code == 0, result.output
    texts = ["Arrive Taipei on November 2nd", "cancel my Delta flight to New York", "x"]
    first = Predictor.load(str(out), "keras").predict(texts)
    assert all(len(r["tags"]) == len(r["tokens"]) for r in first)
    assert ("intent" in first[0]) == ("--task" not in extra)
    again = run("predict", *texts, "--model", out, "-f", "jsonl")
    assert_same_predictions(first, again)
    assert again.stderr == ""  # every factory model runs on the NumPy engine


@pytest.mark.parametrize("args, message", [
    (["train", "missing.csv"], "missing.csv: no such file"),
    (["train", "{topics}", "--encoder", "cnn", "--bidirectional"], "--bidirectional does not"),
    (["train", "{topics}", "--task", "tag"], "--task tag needs a tags column"),
    (["train", "{topics}", "--class-weight", "heavy"], "--class-weight takes 'balanced'"),
    (["predict", "hi", "--model", "{nowhere}"], "no model directory here"),
    (["eval", "{topics}", "--model", "{nowhere}"], "no model directory here"),
    (["predict", "--input", "{nowhere}"], "no such file"),
])
def test_errors_are_one_line_with_exit_code_2(topics_csv, tmp_path, args, message):
    args = [a.format(topics=topics_csv, nowhere=tmp_path / "none") for a in args]
    result = run(*args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("textrnn: error:")


def test_failed_training_leaves_the_existing_model_untouched(topic_model, tmp_path):
    keep = tmp_path / "keep"
    shutil.copytree(topic_model, keep)
    before = {p.name: p.read_bytes() for p in keep.iterdir()}
    bad = write_csv(tmp_path / "bad.csv", ["text", "label"], [("only", "one"), ("class", "one")])
    result = run("train", bad, "--out", keep, *TINY)
    assert result.exit_code == 2 and "only one class" in result.stderr
    assert {p.name: p.read_bytes() for p in keep.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_installed_command_answers_the_mission_sentence(sample_model, slots_csv):
    """The quick start as a user types it: the README's model (`textrnn train
    sample_data/flights_slots.csv`, trained once for the session), then the installed command
    predicts, evaluates and pipes."""
    exe = Path(sys.executable).parent / "textrnn"
    env = {**os.environ, "COLUMNS": "100"}
    out = sample_model
    answer = json.loads(subprocess.run(
        [exe, "predict", "Arrive Taipei on November 2nd", "--model", out], check=True, env=env,
        timeout=120, capture_output=True, text=True).stdout)
    assert answer["intent"] == "book_flight"
    assert {(s["slot"], s["text"], s["start"], s["end"]) for s in answer["slots"]} == {
        ("destination", "Taipei", 7, 13), ("arrival_date", "November 2nd", 17, 29)}
    # Cities the training data never shows are found from their context.
    unseen = subprocess.run(
        [exe, "predict", "--model", out], check=True, env=env, timeout=120, text=True,
        capture_output=True, input="We should arrive in Zorbaville on April 2nd\n"
                                   "I need to arrive in Quellmarsh by the 1st of October\n")
    found = [{(s["slot"], s["text"]) for s in json.loads(line)["slots"]}
             for line in unseen.stdout.splitlines()]
    assert [("destination", "Zorbaville") in found[0], ("destination", "Quellmarsh") in found[1]
            ] == [True, True], found
    evaluated = subprocess.run([exe, "eval", slots_csv, "--model", out, "--json", "--errors", "3"],
                               check=True, env=env, timeout=120, capture_output=True, text=True)
    report = json.loads(evaluated.stdout)
    assert {"slot_f1", "slot_precision", "slot_recall", "per_slot", "intent_accuracy",
            "frame_accuracy"} <= set(report)
    assert report["slot_f1"] > 0.8 and report["intent_accuracy"] > 0.9  # its training data
    piped = subprocess.run([exe, "predict", "--model", out], input="fly to Rome\n\nhi\n",
                           check=True, env=env, timeout=120, capture_output=True, text=True)
    assert [json.loads(line)["text"] for line in piped.stdout.splitlines()] == [
        "fly to Rome", "", "hi"]
    assert piped.stderr == ""


def test_a_model_without_numpy_export_falls_back_to_keras_with_a_notice(topic_model, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(topic_model, copy)
    meta = json.loads((copy / "textrnn.json").read_text())
    meta["engine"] = {"numpy": False, "reason": "layer 'x' (X) has no NumPy implementation"}
    (copy / "textrnn.json").write_text(json.dumps(meta))
    result = run("predict", "play a jazz song", "--model", copy, "-f", "label")
    assert result.stdout == "music\n"
    assert result.stderr.startswith("textrnn: note: predicting with TensorFlow")
    refused = run("predict", "play a jazz song", "--model", copy, "--engine", "numpy")
    assert refused.exit_code == 2 and "has no NumPy export" in refused.stderr


def test_predict_on_the_numpy_engine_never_imports_tensorflow(topic_model):
    done = fresh_cli("predict", "play jazz", "--model", topic_model)
    assert done.code == 0 and done.heavy == [], done.stderr
    assert json.loads(done.stdout.splitlines()[0])["label"] == "music"


def test_predict_answers_each_line_while_the_pipe_is_still_open(topic_model):
    """Interactive use: an answer arrives before the input ends (batches flush on a pause)."""
    import selectors

    exe = Path(sys.executable).parent / "textrnn"
    process = subprocess.Popen([exe, "predict", "--model", topic_model, "-f", "label"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    try:
        answers = []
        for line in ("play a jazz song", "will it rain"):
            process.stdin.write(line + "\n")
            process.stdin.flush()
            assert selector.select(timeout=120), "no answer while stdin is open"
            answers.append(process.stdout.readline().strip())
        assert answers == ["music", "weather"]
    finally:
        process.stdin.close()
        process.wait(timeout=60)
    assert process.returncode == 0


def test_pretrained_vectors_initialise_and_stay_frozen(topics_csv, tmp_path):
    import numpy as np


    vectors = {"rain": [0.5, -0.25, 1.0], "song": [2.0, 0.0, -1.0], "Pizza": [0.0, 1.5, 0.25]}
    path = tmp_path / "tiny.vec"
    path.write_text("3 3\n" + "".join(f"{w} {' '.join(map(str, v))}\n"
                                      for w, v in vectors.items()))
    out = tmp_path / "m"
    result = run("train", topics_csv, "--out", out, *TINY, "--embedding-dim", "3",
                 "--embeddings", path, "--freeze-embeddings", "--json")
    assert result.exit_code == 0, result.output
    model, meta = saving.load(out)
    assert meta["model"]["embedding_dim"] == 3
    assert meta["embeddings"]["found"] == 3 and meta["embeddings"]["found_case_folded"] == 1
    assert 0 < meta["embeddings"]["token_coverage"] < 1
    matrix = model.get_layer("embedding").get_weights()[0]
    for word, vector in (("rain", vectors["rain"]), ("pizza", vectors["Pizza"])):
        np.testing.assert_allclose(matrix[meta["vocab"].index(word)], vector, rtol=1e-6)


def test_compare_trains_each_encoder_on_the_same_split_and_keeps_the_best(topics_csv, tmp_path):
    out = tmp_path / "best"
    result = run("compare", topics_csv, "--encoders", "cnn,rnn", "--epochs", "3", "--out", out,
                 "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["encoder"] for row in rows] == ["cnn", "rnn"]
    for row in rows:
        assert 0 <= row["score"] <= 1 and row["parameters"] > 0
        assert row["predict_sentences_per_second"] > 0 and "accuracy" in row["metrics"]
    best = max(rows, key=lambda row: row["score"])
    meta = json.loads((out / "textrnn.json").read_text())
    assert meta["model"]["encoder"] == best["encoder"]
    assert meta["metrics"]["accuracy"] == best["metrics"]["accuracy"]
    assert run("compare", topics_csv, "--encoders", "lstm,bert").exit_code == 2


def test_plot_and_tensorboard_write_figures_into_the_model_and_logs_beside_it(topics_csv,
                                                                             tmp_path):
    """In a process of its own, as users run it: the command leaves out the scikit-learn and
    matplotlib integrations Keras imports when they are installed (a quarter of TensorFlow's
    import, for features textrnn never uses), and matplotlib still imports for --plot."""
    out, logs = tmp_path / "model", tmp_path / "logs"
    done = fresh_cli("train", topics_csv, "--out", out, *TINY, "--plot", "--tensorboard", logs)
    assert done.code == 0, done.stderr
    assert "tensorflow" in done.heavy and "sklearn" not in done.heavy
    for name in ("training.png", "confusion.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    assert list(logs.rglob("events.out.tfevents.*"))
    inside = run("train", topics_csv, "--out", out, *TINY, "--tensorboard", out / "tb")
    assert inside.exit_code == 2 and "outside --out" in inside.stderr

