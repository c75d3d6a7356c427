"""Odd and hostile input: readers never crash, huge lines and vocabularies stay bounded."""

import json
import random
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLE, TINY, fresh_cli, topic_rows, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.data.examples import ReadOptions
from textrnn.data.read import FORMATS, read_corpus
from textrnn.errors import DataError

runner = CliRunner()
PIECES = st.sampled_from(["text", "label", "tags", ",", "\t", "\n", "\n\n", '"', "__label__x ",
                          "{", "}", ":", "[", "]", "O", "B-x", "I-y", " ", "é", "\x00", "\xff",
                          "-DOCSTART-", "a b", "1.5", "null", "NaN"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(PIECES, max_size=30), fmt=st.sampled_from([None, *FORMATS]),
       raw=st.binary(max_size=40))
def test_readers_return_examples_or_raise_data_error(tmp_path, pieces, fmt, raw):
    path = tmp_path / "data.bin"
    path.write_bytes("".join(pieces).encode("utf-8", "surrogatepass") + raw)
    try:
        corpus = read_corpus(str(path), ReadOptions(format=fmt))
    except DataError as error:
        assert "\n" not in str(error)
        return
    assert corpus.examples
    for example in corpus.examples:
        assert isinstance(example.text, str) and example.text
        assert example.labels is None or all(isinstance(x, str) for x in example.labels)
        if example.tags is not None:
            assert len(example.tags) == len(example.words)


def test_a_one_megabyte_line_trains_and_predicts_truncated(tmp_path, topics_csv):
    rng = random.Random(0)
    huge = " ".join(rng.choice(["rain", "song", "table", "x", "y"]) for _ in range(260_000))
    rows = [line.split(",") for line in topics_csv.read_text().splitlines()[1:]]
    data = write_csv(tmp_path / "huge.csv", ["text", "label"], [*rows, (huge, "weather")])
    assert data.stat().st_size > 1_000_000
    out = tmp_path / "m"
    result = runner.invoke(app, ["train", str(data), "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "textrnn.json").read_text())
    assert meta["tokenizer"]["max_len"] < 50
    result = runner.invoke(app, ["predict", "-", "--model", str(out), "-f", "jsonl"],
                           input=huge + "\nrain today\n")
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["truncated"] is True and "truncated" not in second


@pytest.fixture(scope="module")
def topic_model(tmp_path_factory, topics_csv):
    out = tmp_path_factory.mktemp("models") / "topics"
    result = runner.invoke(app, ["train", str(topics_csv), "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    return out


def test_max_vocab_bounds_a_huge_vocabulary(tmp_path):
    rng = random.Random(1)
    rows = [(" ".join(f"w{rng.randrange(10**6)}" for _ in range(8)), rng.choice("ab"))
            for _ in range(6000)]
    data = write_csv(tmp_path / "wide.csv", ["text", "label"], rows)
    out = tmp_path / "m"
    result = runner.invoke(app, ["train", str(data), "--out", str(out), *TINY,
                                 "--max-vocab", "1000", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "textrnn.json").read_text())
    assert len(meta["vocab"]) == 1000 and meta["model"]["vocab_size"] == 1000


# The bad-input battery of issue 25: a new user's mistakes, each one line and a documented
# exit code, nothing lost, nothing accepted that makes no sense.

def one_line_error(result, *needles: str, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("textrnn: error: "), result.stderr
    assert all(needle in lines[0] for needle in needles), lines[0]
    return lines[0]


@pytest.mark.parametrize("args, option", [
    (["train", "{data}", "--epochs", "0"], "--epochs"),
    (["train", "{data}", "--epochs", "-1"], "--epochs"),
    (["train", "{data}", "--lr", "-1"], "--lr"),
    (["train", "{data}", "--patience", "-3"], "--patience"),
    (["train", "{data}", "--batch-size", "0"], "--batch-size"),
    (["train", "{data}", "--units", "0"], "--units"),
    (["train", "{data}", "--dropout", "1.5"], "--dropout"),
    (["train", "{data}", "--max-vocab", "1"], "--max-vocab"),
    (["predict", "hi", "--batch-size", "0"], "--batch-size"),
    (["predict", "hi", "--threshold", "5"], "--threshold"),
    (["predict", "hi", "--top-k", "0"], "--top-k"),
    (["eval", "{data}", "--errors", "-1"], "--errors"),
    (["pretrain", "{data}", "--epochs", "0"], "--epochs"),
    (["serve", "--port", "99999"], "--port"),
    (["serve", "--max-batch", "0"], "--max-batch"),
])
def test_numeric_options_out_of_range_are_one_line_errors(topics_csv, args, option):
    result = runner.invoke(app, [a.format(data=topics_csv) for a in args])
    one_line_error(result, option)


@pytest.mark.parametrize("args, message", [
    (["train", "{data}", "--encoder", "lstn"], "unknown encoder 'lstn'"),
    (["train", "{data}", "--units", "0"], "--units"),
    (["train", "{data}", "--dropout", "1.5"], "--dropout"),
    (["train", "{data}", "--embeddings", "{tmp}/none.vec"], "--embeddings"),
    (["train", "{data}", "--pretrained", "{tmp}/none"], "no pretrained directory"),
    (["pretrain", "{tmp}/nofile.txt"], "no such file"),
    (["pretrain", "{data}", "--encoder", "cnn"], "recurrent encoders"),
])
def test_bad_options_fail_before_tensorflow_is_imported(topics_csv, tmp_path, args, message):
    done = fresh_cli(*(a.format(data=topics_csv, tmp=tmp_path) for a in args))
    assert done.code == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "tensorflow" not in done.heavy and "keras" not in done.heavy


def test_a_pretrained_directory_given_as_embeddings_points_to_pretrained(topics_csv, tmp_path):
    (tmp_path / "textrnn.json").write_text("{}")
    result = runner.invoke(app, ["train", str(topics_csv), "--embeddings", str(tmp_path)])
    one_line_error(result, f"--pretrained {tmp_path}")


def test_click_errors_are_one_line_too(topics_csv):
    one_line_error(runner.invoke(app, ["train"]), "Missing argument", "textrnn train --help")
    one_line_error(runner.invoke(app, ["train", str(topics_csv), "--epoch", "3"]),
                   "No such option")


def test_help_is_not_cut_in_a_pipe():
    result = runner.invoke(app, ["train", "--help"])
    assert "--pretrained-lr-scale" in result.stdout and "<bool>" not in result.stdout
    assert "textrnn[plot]" in result.stdout
    assert "Lowercase the text" in result.stdout


def test_serve_refuses_a_port_in_use_or_a_bad_host_before_loading_the_model(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--model", str(tmp_path / "none"), "--port",
                                     str(port)])
        one_line_error(result, f"127.0.0.1:{port}", "in use")
    result = runner.invoke(app, ["serve", "--model", str(tmp_path / "none"), "--host",
                                 "256.1.1.1"])
    one_line_error(result, "--host 256.1.1.1")


@pytest.mark.parametrize("command", [["eval", "{data}", "--model", "{model}"],
                                     ["eval", "{data}", "--model", "{model}", "--json"],
                                     ["info", "{model}"],
                                     ["predict", "--model", "{model}", "--input", "{lines}"]])
def test_a_closed_pipe_ends_quietly_with_exit_0(topic_model, topics_csv, tmp_path, command):
    lines = tmp_path / "lines.txt"
    lines.write_text("play a jazz song\n" * 20000)
    exe = Path(sys.executable).parent / "textrnn"
    args = [a.format(data=topics_csv, model=topic_model, lines=lines) for a in command]
    process = subprocess.Popen([exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()  # as `| head -1` does
    assert process.wait(timeout=120) == 0
    assert process.stderr.read() == b""


def test_a_byte_order_mark_is_no_part_of_the_first_line(topic_model, tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("play a jazz song\nwill it rain\n", encoding="utf-8")
    marked = tmp_path / "marked.txt"
    marked.write_text("play a jazz song\nwill it rain\n", encoding="utf-8-sig")
    expected = runner.invoke(app, ["predict", "--model", str(topic_model), "-f", "jsonl",
                                   "--input", str(plain)]).stdout
    from_file = runner.invoke(app, ["predict", "--model", str(topic_model), "-f", "jsonl",
                                    "--input", str(marked)])
    from_stdin = runner.invoke(app, ["predict", "-", "--model", str(topic_model), "-f",
                                     "jsonl"], input=marked.read_bytes())
    assert from_file.stdout == from_stdin.stdout == expected


def test_a_folder_whose_files_carry_different_things_is_refused_before_training(tmp_path):
    folder = tmp_path / "nlu"
    folder.mkdir()
    for name in ("flights_nlu.yml", "flights_slots.conll"):
        (folder / name).write_bytes((SAMPLE / name).read_bytes())
    done = fresh_cli("train", folder, "--out", tmp_path / "m")
    assert done.code == 2 and "tensorflow" not in done.heavy
    assert len(done.stderr.strip().splitlines()) == 1
    assert "flights_slots.conll: has slot tags without labels where" in done.stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("command", [["train", "{data}"], ["pretrain", "{data}"],
                                     ["compare", "{data}", "--encoders", "cnn"]])
@pytest.mark.parametrize("target", ["file", "folder"])
def test_an_out_that_is_not_a_textrnn_directory_is_refused_before_training(
        topics_csv, tmp_path, command, target):
    out = tmp_path / ("x.csv" if target == "file" else "photos")
    if target == "file":
        out.write_text("keep me\n")
    else:
        out.mkdir()
        (out / "cat.jpg").write_bytes(b"\xff\xd8")
    done = fresh_cli(*(a.format(data=topics_csv) for a in command), "--out", out)
    assert done.code == 2 and f"{out}: exists and is not a textrnn directory" in done.stderr
    assert "tensorflow" not in done.heavy
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no checkpoint left


def test_patience_counts_from_the_first_epoch_that_learnt_something():
    import keras

    from textrnn.train.fit import early_stopping

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    stopper = early_stopping(None, patience=2)
    stopper.set_model(model)
    stopper.on_train_begin()
    scores = [0.0] * 6 + [0.3, 0.2, 0.25, 0.1]
    for epoch, score in enumerate(scores):
        stopper.on_epoch_end(epoch, {"val_score": score})
        if getattr(model, "stop_training", False):
            break
    assert (epoch, stopper.best_epoch, stopper.best) == (8, 6, 0.3)
    stopper = early_stopping(None, patience=2)  # a model that never learns: 5 x patience
    model.stop_training = False
    stopper.set_model(model)
    stopper.on_train_begin()
    for epoch in range(30):
        stopper.on_epoch_end(epoch, {"val_score": 0.0})
        if model.stop_training:
            break
    assert epoch == 9


def test_a_model_that_learnt_nothing_is_trained_with_a_warning(tmp_path):
    result = runner.invoke(app, ["train", str(SAMPLE / "flights_slots.conll"), "--out",
                                 str(tmp_path / "m"), *TINY, "--epochs", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"]["slot_f1"] == 0
    assert "warning: validation slot_f1 is 0 after 1 epochs" in result.stderr


def test_info_reads_a_model_without_tensorflow_and_older_models_through_keras(topic_model,
                                                                              tmp_path):
    done = fresh_cli("info", topic_model, "--json")
    assert done.code == 0 and done.heavy == [], done.stderr
    older = tmp_path / "older"
    shutil.copytree(topic_model, older)
    meta = json.loads((older / "textrnn.json").read_text())
    rows = meta.pop("layers")
    (older / "textrnn.json").write_text(json.dumps(meta))
    result = runner.invoke(app, ["info", str(older), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["layers"] == rows


@pytest.fixture(scope="module")
def multilabel(tmp_path_factory):
    """A multi-label model trained with --label-sep '|', and its data."""
    folder = tmp_path_factory.mktemp("multilabel")
    rows = [(text, label if i % 4 else f"{label}|urgent")
            for i, (text, label) in enumerate(topic_rows(150, seed=3))]
    data = write_csv(folder / "data.csv", ["text", "label"], rows)
    out = folder / "model"
    result = runner.invoke(app, ["train", str(data), "--out", str(out), *TINY,
                                 "--label-sep", "|"])
    assert result.exit_code == 0, result.output
    return out, data


def test_eval_splits_labels_as_the_model_was_trained_and_warns_of_unseen_ones(multilabel,
                                                                             tmp_path):
    model, data = multilabel
    result = runner.invoke(app, ["eval", str(data), "--model", str(model), "--json"])
    assert result.exit_code == 0, result.output
    scored = json.loads(result.stdout)
    assert "unseen_labels" not in scored and result.stderr == ""
    assert not any("|" in label for label in scored["per_class"])
    other = write_csv(tmp_path / "other.csv", ["text", "label"],
                      [("rain and snow", "weather|sports"), ("play a song", "music")])
    result = runner.invoke(app, ["eval", str(other), "--model", str(model), "--json"])
    assert json.loads(result.stdout)["unseen_labels"] == ["sports"]
    assert "warning:" in result.stderr and "never saw" in result.stderr
    assert "sports" in result.stderr


def test_a_label_below_the_threshold_is_one_answer_in_every_output(multilabel):
    import numpy as np

    from textrnn import report
    from textrnn.predict.predictor import Predictor
    from textrnn.predict.rasa import parse_result

    predictor = Predictor.load(str(multilabel[0]), "numpy")
    item = predictor.analyze(["please the now"])[0]
    item.label_probs = np.linspace(0.44, 0.1, len(predictor.labels))  # all below 0.5
    best = predictor.labels[0]
    result = predictor.describe(item, top_k=3)
    assert (result["label"], result["prob"], result["labels"]) == (None, 0.44, [])
    assert report.prediction_line(result, "label") == ""
    assert report.rasa_item(result)[:2] == ("nlu_fallback", 0.44)
    parsed = parse_result(predictor, item)
    assert parsed["intent"] == {"name": "nlu_fallback", "confidence": 0.44}
    assert parsed["intent_ranking"] == [parsed["intent"]]
    item.label_probs[0] = 0.9  # above it: the label everywhere
    assert predictor.describe(item)["label"] == best
    assert report.rasa_item(predictor.describe(item))[:2] == (best, 0.9)
    assert parse_result(predictor, item)["intent"] == {"name": best, "confidence": 0.9}


def test_a_data_file_given_as_the_model_is_called_a_file(topics_csv):
    one_line_error(runner.invoke(app, ["predict", "hi", "--model", str(topics_csv)]),
                   "a file, not a model directory")


@pytest.mark.parametrize("separator", [";", "\t"])
def test_a_csv_file_separated_otherwise_is_read_whole_and_streamed(tmp_path, separator):
    from textrnn.data.shards import Shards

    data = tmp_path / "data.csv"
    data.write_text(f"text{separator}label\nrain today{separator}weather\n"
                    f"play jazz{separator}music\n")
    whole = read_corpus(str(data)).examples
    streamed = [example for _, example in Shards(str(data), ReadOptions()).examples([])]
    for examples in (whole, streamed):
        assert [(e.text, e.labels) for e in examples] == [("rain today", ["weather"]),
                                                           ("play jazz", ["music"])]


def test_eval_names_the_column_the_model_needs(topic_model):
    one_line_error(runner.invoke(app, ["eval", str(SAMPLE / "flights_slots.conll"), "--model",
                                       str(topic_model)]),
                   f"the classify model in {topic_model} needs a label column",
                   "has no label column")


def test_a_model_whose_numpy_export_is_gone_falls_back_to_keras(topic_model, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(topic_model, copy)
    (copy / "graph.json").unlink()
    result = runner.invoke(app, ["predict", "play a jazz song", "--model", str(copy), "-f",
                                 "label"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "music\n"
    assert result.stderr.startswith("textrnn: note: predicting with TensorFlow")
    assert "graph.json missing" in result.stderr


def test_output_to_a_pipe_is_neither_cut_nor_wrapped(topics_csv, tmp_path):
    import io

    import numpy as np

    from textrnn import report
    from textrnn.data.vectors import write_vec

    result = runner.invoke(app, ["train", str(topics_csv), "--out", str(tmp_path / "m"),
                                 *TINY[:-1]])
    epochs = [line for line in result.stderr.splitlines() if re.match(r"epoch +\d+  ", line)]
    assert len(epochs) == 4 and all("val_acc " in line for line in epochs), result.stderr
    labels = ["flight_status_and_delays", "cancel_flight_booking"]
    printed = io.StringIO()
    report.print_eval({"examples": 2, "accuracy": 0.5, "confusion": {
        "labels": labels, "matrix": [[1, 0], [1, 0]]}, "errors": [
        {"text": "where is my flight " * 8, "gold": labels[0], "pred": labels[1]}]},
        report.Output(file=printed))
    assert all(label in printed.getvalue() for label in labels)
    assert ("where is my flight " * 8).strip() in printed.getvalue()
    vectors = io.StringIO()
    sys.stdout, saved = vectors, sys.stdout
    try:
        assert write_vec("-", ["<pad>", "<unk>", "rain"], np.ones((3, 2))) == 1
    finally:
        sys.stdout = saved
    assert vectors.getvalue() == "1 2\nrain 1 1\n"


def test_what_predict_hides_is_said_on_stderr(topic_model, topics_csv, tmp_path):
    long = " ".join(["rain"] * 500)
    result = runner.invoke(app, ["predict", "-", "--model", str(topic_model), "-f", "label"],
                           input=f"{long}\nplay jazz\n")
    assert result.stdout == "weather\nmusic\n"
    assert "1 input line(s) longer than the model's maximum" in result.stderr
    result = runner.invoke(app, ["predict", "--input", str(topics_csv), "--model",
                                 str(topic_model), "-f", "label"])
    assert result.exit_code == 0
    assert f"{topics_csv}: predict labels each line as it is" in result.stderr


def test_a_table_with_both_a_label_and_an_intent_column_says_which_it_uses(tmp_path):
    data = write_csv(tmp_path / "both.csv", ["text", "label", "intent"],
                     [("rain today", "a", "weather"), ("play jazz", "b", "music")])
    warnings = read_corpus(str(data)).warnings
    assert warnings == [f"{data}: columns label, intent could each be the label; using 'label' "
                        "(--label-col picks another)"]
    assert read_corpus(str(data), ReadOptions(label_col="intent")).warnings == []
