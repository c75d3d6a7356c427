"""Pretraining on unlabelled text and fine-tuning from it: perplexity falls on a tiny corpus,
training starts from the pretrained weights, the merged vocabulary keeps ids aligned, the
word vectors export, and a killed run resumes."""

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import FILLER, TOPICS, topic_rows, wait_for_file, write_csv, zh_rows
from typer.testing import CliRunner

from textrnn import pretrained
from textrnn.cli import app
from textrnn.data.examples import ReadOptions
from textrnn.data.read import read_corpus
from textrnn.data.shards import Shards
from textrnn.data.vectors import load_vectors
from textrnn.text import OOV, PAD

EXE = Path(sys.executable).parent / "textrnn"
SMALL = ["--units", "16", "--embedding-dim", "16", "--quiet"]
runner = CliRunner()


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def sentences(n: int, seed: int) -> list[str]:
    """Text with structure a language model can learn: a topic's words in a fixed order
    around the shared filler words."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        words = TOPICS[sorted(TOPICS)[i % len(TOPICS)]]
        start = rng.randrange(len(words) - 3)
        lines.append(" ".join([rng.choice(FILLER), *words[start:start + 3], rng.choice(FILLER)]))
    return lines


@pytest.fixture(scope="module")
def text_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "unlabelled.txt"
    path.write_text("\n".join(sentences(300, seed=3)) + "\n\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory, text_file) -> Path:
    out = tmp_path_factory.mktemp("pre") / "pre"
    run("pretrain", text_file, "--out", out, "--epochs", "3", "--char-features", *SMALL)
    return out


def test_plain_text_and_text_columns_read_as_unlabelled(tmp_path, text_file):
    options = ReadOptions(unlabelled=True)
    corpus = read_corpus(str(text_file), options)
    assert len(corpus.examples) == 300 and corpus.examples[0].labels is None
    table = write_csv(tmp_path / "t.csv", ["text", "label"], topic_rows(20, seed=1))
    rows = read_corpus(str(table), options).examples
    assert len(rows) == 20 and rows[0].labels is None and rows[0].text
    streamed = [example.text for _, example in Shards([str(text_file), str(table)],
                                                      options).examples([])]
    assert streamed == [e.text for e in corpus.examples] + [e.text for e in rows]


def test_perplexity_falls_and_the_directory_describes_itself(pretrained_dir, text_file):
    meta = pretrained.read_meta(pretrained_dir)
    history = meta["training"]["history"]["val_loss"]
    assert len(history) == 3 and history[-1] < history[0]
    assert meta["perplexity"]["mean"] < len(meta["vocab"])  # better than a uniform guess
    assert meta["corpus"]["rows"] + meta["corpus"]["valid_rows"] == 300
    info = json.loads(run("info", pretrained_dir, "--json").stdout)
    assert info["perplexity"] == meta["perplexity"]
    assert "sentences" in info["corpus"]


def test_vectors_export_as_fasttext_vec(pretrained_dir, tmp_path):
    out = tmp_path / "words.vec"
    run("vectors", pretrained_dir, "--out", out)
    meta, weights = pretrained.load(pretrained_dir)
    words = meta["vocab"][2:]
    assert out.read_text().splitlines()[0] == f"{len(words)} 16"
    loaded = load_vectors(str(out), meta["vocab"])
    assert loaded.found == len(words)
    np.testing.assert_allclose(loaded.matrix[2:], weights["embedding"][0][2:], atol=1e-4)


def test_the_merged_vocabulary_keeps_pretrained_ids():
    from textrnn.train.prepare import merged_vocabulary

    first = [PAD, OOV, "the", "cat"]
    merged = merged_vocabulary(first, Counter({"dog": 3, "cat": 9, "zebra": 1, "rare": 1}), 1)
    assert merged.tokens[:4] == first
    assert merged.tokens[4:] == ["dog", "rare", "zebra"]
    assert merged_vocabulary(first, Counter({"dog": 1}), 2).tokens == first


@pytest.mark.parametrize("freeze", [1, 0])
def test_training_starts_from_the_pretrained_weights(pretrained_dir, tmp_path, freeze):
    """With the pretrained layers frozen for the only epoch, the trained model holds exactly
    the pretrained encoder and vectors (each word at its own id); unfrozen, they move."""
    from textrnn.nn import saving

    rows = topic_rows(90, seed=5) + [("zebra please play", "music")]
    data = write_csv(tmp_path / "labelled.csv", ["text", "label"], rows)
    out = tmp_path / "model"
    run("train", data, "--pretrained", pretrained_dir, "--out", out, "--epochs", "1",
        "--freeze-epochs", freeze, "--quiet")
    model, meta = saving.load(out)
    start, weights = pretrained.load(pretrained_dir)
    assert meta["pretrained"]["layers"] == ["embedding", "char_cnn", "bilstm_1"]
    assert meta["vocab"][: len(start["vocab"])] == start["vocab"]
    assert "zebra" in meta["vocab"][len(start["vocab"]):]
    encoder = model.get_layer("bilstm_1")
    same = [np.array_equal(a, b) for layer, direction in ((encoder.forward_layer, "forward"),
                                                         (encoder.backward_layer, "backward"))
            for a, b in zip(layer.get_weights(), weights[direction])]
    table = model.get_layer("embedding").get_weights()[0]
    rows_same = np.array_equal(table[: len(start["vocab"])], weights["embedding"][0])
    assert all(same) and rows_same if freeze else not any(same) and not rows_same


def test_the_pretrained_layers_learn_at_their_own_rate(pretrained_dir, tmp_path):
    """--pretrained-lr-scale 0.05: the pretrained encoder moves about 20x less from where it
    started than at the full rate, over the same epoch of the same data."""
    from textrnn.nn import saving

    data = write_csv(tmp_path / "labelled.csv", ["text", "label"], topic_rows(90, seed=5))
    _, weights = pretrained.load(pretrained_dir)
    moved = {}
    for scale in ("1", "0.05"):
        out = tmp_path / f"model-{scale}"
        run("train", data, "--pretrained", pretrained_dir, "--out", out, "--epochs", "1",
            "--freeze-epochs", "0", "--pretrained-lr-scale", scale, "--quiet")
        model, _ = saving.load(out)
        now = model.get_layer("bilstm_1").forward_layer.get_weights()
        moved[scale] = sum(np.abs(a - b).sum() for a, b in zip(now, weights["forward"]))
    assert 0 < moved["0.05"] < 0.2 * moved["1"]


def test_with_bigrams_the_forward_model_predicts_the_word_after_next():
    """The bigram vector at a position holds its right neighbour: the next word would be an
    input of the forward model, not something it predicts."""
    import tensorflow as tf

    from textrnn.train.pretrain import language_model_targets

    tokens = tf.constant([5, 6, 7, 8])
    _, words = language_model_targets({"tokens": tokens})
    assert words["next"].numpy().tolist() == [6, 7, 8, 0]
    _, pairs = language_model_targets({"tokens": tokens, "bigrams": tf.constant([1, 2, 3, 4])})
    assert pairs["next"].numpy().tolist() == [7, 8, 0, 0]
    assert pairs["previous"].numpy().tolist() == words["previous"].numpy().tolist() == [0, 5, 6, 7]


def test_the_warm_up_ramps_the_rate_then_hands_over_to_the_decay():
    import keras

    from textrnn.train.schedules import with_warmup

    decay = keras.optimizers.schedules.ExponentialDecay(1e-3, 400, 0.5, staircase=True)
    rate = with_warmup(decay, 100)
    assert with_warmup(1e-3, 0) == 1e-3
    assert float(rate(0)) == pytest.approx(1e-5)
    assert float(rate(49)) == pytest.approx(5e-4)
    assert float(rate(99)) == float(rate(399)) == pytest.approx(1e-3)
    assert float(rate(400)) == pytest.approx(5e-4)
    again = type(rate).from_config(rate.get_config())  # as a checkpoint's optimizer holds it
    assert float(again(450)) == pytest.approx(5e-4)


def test_a_mismatched_encoder_carries_the_embedding_only(pretrained_dir, tmp_path):
    data = write_csv(tmp_path / "labelled.csv", ["text", "label"], topic_rows(60, seed=6))
    result = run("train", data, "--pretrained", pretrained_dir, "--encoder", "cnn",
                 "--out", tmp_path / "m", "--epochs", "1", "--json", "--quiet")
    meta = json.loads((tmp_path / "m" / "textrnn.json").read_text())
    assert meta["pretrained"]["layers"] == ["embedding", "char_cnn"]
    assert "lstm language models" in " ".join(json.loads(result.stdout)["training"]["notes"])


def test_pretrain_resumes_after_a_kill(tmp_path, text_file):
    out = tmp_path / "pre"
    args = [EXE, "pretrain", text_file, "--out", out, *SMALL, "--patience", "400"]
    process = subprocess.Popen([*map(str, args), "--epochs", "400"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state = tmp_path / ".pre.checkpoint" / "state.json"
    wait_for_file(process, state, 180)
    process.kill()
    process.wait(timeout=30)
    assert not out.exists()
    done = json.loads(state.read_text())["epoch"]
    resumed = subprocess.run([*map(str, args), "--epochs", str(done + 1), "--resume", "--json"],
                             check=True, timeout=300, capture_output=True, text=True)
    training = json.loads(resumed.stdout)["training"]
    assert training["resumed_from_epoch"] == done
    assert len(training["history"]["val_loss"]) == done + 1
    assert not state.parent.exists() and pretrained.read_meta(out)


def test_a_pretrained_directory_is_not_a_model(pretrained_dir):
    result = runner.invoke(app, ["predict", "hello", "--model", str(pretrained_dir)])
    assert result.exit_code == 2
    assert "--pretrained" in result.output


def test_pretrain_streams_several_files_and_reads_stdin(tmp_path, text_file):
    table = write_csv(tmp_path / "more.csv", ["text", "label"], topic_rows(40, seed=7))
    out = tmp_path / "streamed"
    run("pretrain", text_file, table, "--out", out, "--stream", "--epochs", "1",
        "--steps-per-epoch", "3", *SMALL)
    corpus = pretrained.read_meta(out)["corpus"]
    assert corpus["streamed"] and corpus["files"] == 2
    assert corpus["rows"] + corpus["valid_rows"] == 340
    result = runner.invoke(app, ["pretrain", "-", "--out", str(tmp_path / "stdin"), "--epochs",
                                 "1", *SMALL], input=text_file.read_text())
    assert result.exit_code == 0, result.output
    assert pretrained.read_meta(tmp_path / "stdin")["corpus"]["source"] == "<stdin>"


def test_a_large_vocabulary_trains_with_a_sampled_softmax(monkeypatch, text_file):
    from textrnn.train import pretrain as module
    from textrnn.train.prepare import TrainConfig

    monkeypatch.setattr(module, "SAMPLED_ABOVE", 5)
    monkeypatch.setattr(module, "SAMPLED", 4)
    corpus = read_corpus(str(text_file), ReadOptions(unlabelled=True))
    spec = module.pretrain_spec(units=8, embedding_dim=8)
    meta, weights = module.pretrain(corpus, spec, TrainConfig(epochs=2))
    assert meta["training"]["sampled_softmax"] == 4
    assert np.isfinite(meta["perplexity"]["mean"])
    assert set(weights) == {"embedding", "forward", "backward", "forward_projection",
                            "backward_projection", "output"}


@pytest.mark.parametrize("task", ["joint", "classify-unidirectional"])
def test_other_tasks_and_directions_start_from_the_pretrained_encoder(
        pretrained_dir, tmp_path, slots_csv, task):
    from textrnn.nn import saving

    if task == "joint":
        args, name, directions = [slots_csv], "bilstm_1", ("forward", "backward")
    else:
        data = write_csv(tmp_path / "labelled.csv", ["text", "label"], topic_rows(60, seed=8))
        args, name, directions = [data, "--unidirectional"], "lstm_1", ("forward",)
    run("train", *args, "--pretrained", pretrained_dir, "--out", tmp_path / "m", "--epochs",
        "1", "--quiet")
    model, meta = saving.load(tmp_path / "m")
    assert name in meta["pretrained"]["layers"]
    _, weights = pretrained.load(pretrained_dir)
    layer = model.get_layer(name)
    layers = (layer.forward_layer, layer.backward_layer) if len(directions) == 2 else (layer,)
    for part, direction in zip(layers, directions):
        for now, then in zip(part.get_weights(), weights[direction]):
            np.testing.assert_array_equal(now, then)  # frozen for the one epoch


def test_chinese_pretrains_bigrams_and_the_classifier_keeps_the_pretrained_bilstm(tmp_path):
    """Bigram vectors come along for mostly-CJK text, and with --pretrained a Chinese
    classifier takes the pretrained BiLSTM (its default would be the CNN)."""
    text = tmp_path / "zh.txt"
    text.write_text("\n".join(row for row, _ in zh_rows(200, seed=4)) + "\n", encoding="utf-8")
    run("pretrain", text, "--out", tmp_path / "pre", "--epochs", "1", *SMALL)
    start = pretrained.read_meta(tmp_path / "pre")
    assert start["model"]["bigrams"] and start["bigrams"]
    data = write_csv(tmp_path / "zh.csv", ["text", "label"], zh_rows(60, seed=5))
    run("train", data, "--pretrained", tmp_path / "pre", "--out", tmp_path / "m", "--epochs",
        "1", "--quiet")
    meta = json.loads((tmp_path / "m" / "textrnn.json").read_text(encoding="utf-8"))
    assert meta["model"]["encoder"] == "lstm"
    assert meta["pretrained"]["layers"] == ["embedding", "bigram_embedding", "bilstm_1"]
    assert meta["bigrams"][: len(start["bigrams"])] == start["bigrams"]


def test_a_lookup_list_keeps_the_pretrained_encoder(pretrained_dir, tmp_path):
    """The lookup features are the encoder's last inputs: the pretrained kernel becomes the
    first rows of the wider one, and the rest of the encoder carries over as it is."""
    from textrnn.nn import saving

    data = write_csv(tmp_path / "labelled.csv", ["text", "label"], topic_rows(90, seed=5))
    words = tmp_path / "words.txt"
    words.write_text("\n".join(TOPICS[sorted(TOPICS)[0]][:3]) + "\n", encoding="utf-8")
    out = tmp_path / "model"
    run("train", data, "--pretrained", pretrained_dir, "--lookup", f"topic={words}", "--out",
        out, "--epochs", "1", "--quiet")
    model, meta = saving.load(out)
    _, weights = pretrained.load(pretrained_dir)
    assert "bilstm_1" in meta["pretrained"]["layers"]
    forward = model.get_layer("bilstm_1").forward_layer.get_weights()
    kernel, *rest = weights["forward"]
    assert forward[0].shape[0] == kernel.shape[0] + 2  # one list: begins, continues
    np.testing.assert_array_equal(forward[0][: kernel.shape[0]], kernel)
    for now, then in zip(forward[1:], rest):
        np.testing.assert_array_equal(now, then)
