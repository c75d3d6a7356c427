"""Character-bigram features: one bigram id per token, on by default for Chinese, carried
through training, saving, both prediction engines and the CLI."""

import json

import numpy as np
import pytest
from conftest import TINY, topic_rows, write_csv, zh_rows
from test_cli import assert_same_predictions, run
from test_engine_numpy import assert_same_outputs, factory_model, round_trip, token_batch

from textrnn.data.examples import Corpus, Example
from textrnn.predict.predictor import Predictor
from textrnn.text import BIGRAM_END, OOV, PAD, Tokenizer, bigrams, cjk_share
from textrnn.train.defaults import default_encoder
from textrnn.train.prepare import (
    BIGRAM_MIN_COUNT,
    TrainConfig,
    encode,
    mostly_cjk,
    prepare,
    sample_texts,
    tokenize_example,
)


def corpus_of(rows) -> Corpus:
    return Corpus("generated", [Example(text, [label], row=i) for i, (text, label)
                                in enumerate(rows)])


@pytest.fixture(scope="module")
def zh_csv(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("data") / "zh.csv", ["text", "label"],
                     zh_rows(150, seed=1))


def test_one_bigram_per_token_with_an_end_marker():
    tokens, _ = Tokenizer().tokenize("上课 时2017年")
    assert bigrams(tokens) == ["上 课", "课 时", "时 2017", "2017 年", f"年 {BIGRAM_END}"]
    assert bigrams(["ok"]) == [f"ok {BIGRAM_END}"]
    assert bigrams([]) == []


def test_cjk_share_counts_chinese_characters_among_tokens():
    assert cjk_share([["上", "课"], ["2017", "年"]]) == 0.75
    assert cjk_share([["play", "a", "song"]]) == 0.0
    assert cjk_share([]) == 0.0


def test_bigrams_default_on_for_chinese_and_off_for_english():
    config = TrainConfig()
    assert mostly_cjk(sample_texts(corpus_of(zh_rows(60, 1))))
    assert not mostly_cjk(sample_texts(corpus_of(topic_rows(60, 1))))
    # Overrides both ways.
    assert prepare(corpus_of(zh_rows(60, 1)), None, config, "classify",
                   use_bigrams=False).bigrams is None
    assert prepare(corpus_of(topic_rows(60, 1)), None, config, "classify",
                   use_bigrams=True).bigrams


def test_chinese_classification_defaults_to_the_cnn_and_everything_else_to_the_lstm():
    assert default_encoder("classify", corpus_of(zh_rows(60, 1))) == "cnn"
    assert default_encoder("classify", corpus_of(topic_rows(60, 1))) == "lstm"
    assert default_encoder("tag", corpus_of(zh_rows(60, 1))) == "lstm"


def test_bigram_vocabulary_keeps_repeated_bigrams_only():
    rows = [("足球比赛", "sports"), ("足球冠军", "sports"), ("股票市场", "finance")]
    prepared = prepare(corpus_of(rows), None, TrainConfig(valid_split=0), "classify",
                       use_bigrams=True)
    assert BIGRAM_MIN_COUNT == 2
    assert prepared.bigrams.tokens == [PAD, OOV, "足 球"]  # the only bigram seen twice


def test_bigram_ids_align_with_tokens_in_training_and_prediction_with_truncation():
    rows = zh_rows(40, 3) + [("足球" * 40, "sports")]  # one title longer than max_len
    prepared = prepare(corpus_of(rows), None, TrainConfig(valid_split=0), "classify",
                       use_bigrams=True)
    tokenizer = prepared.tokenizer
    max_len = prepared.max_len = 12
    tokenized = [tokenize_example(tokenizer, Example(text, [label])) for text, label in rows]
    encoded = encode(prepared, tokenized, [Example(t, [lab]) for t, lab in rows], "classify")
    for (tokens, _), ids, grams in zip(tokenized, encoded.tokens, encoded.bigrams):
        kept = tokens[:max_len]
        assert len(grams) == len(ids) == len(kept)
        # The last kept token's bigram closes the (cut) sentence, as at prediction time.
        assert list(grams) == prepared.bigrams.encode(bigrams(kept))
    assert encoded.bigrams[-1][-1] == 1  # "球 </s>" never occurs in the training text

    class Recorder:  # duck-types the Keras model the Predictor runs
        inputs = [type("Input", (), {"name": name}) for name in ("tokens", "bigrams")]

        def predict_on_batch(self, feed):
            self.feed = feed
            return {"label": np.full((len(feed["tokens"]), 3), 1 / 3)}

    meta = {"task": "classify", "tokenizer": {"lowercase": True, "max_len": max_len},
            "vocab": prepared.vocab.tokens, "bigrams": prepared.bigrams.tokens,
            "labels": prepared.labels, "tags": [], "model": {}}
    model = Recorder()
    texts = [rows[0][0], rows[-1][0]]
    Predictor(model, meta).predict(texts)
    feed = model.feed  # rows sorted by length: the short title first
    assert feed["bigrams"].shape == feed["tokens"].shape
    assert np.all((feed["bigrams"] == 0) == (feed["tokens"] == 0))  # padding lines up
    for row, index in enumerate([0, len(rows) - 1]):
        expected = encoded.bigrams[index]
        np.testing.assert_array_equal(feed["bigrams"][row, :len(expected)], expected)
        np.testing.assert_array_equal(feed["tokens"][row, :len(expected)],
                                      encoded.tokens[index])


@pytest.mark.parametrize("task, encoder, overrides", [
    ("classify", "lstm", {}),
    ("joint", "lstm", {"char_features": True}),
    ("classify", "cnn", {}),
    ("tag", "gru", {"bigram_dropout": 0.5}),
])
def test_numpy_engine_matches_keras_with_bigrams(task, encoder, overrides, tmp_path):
    model = factory_model(task, encoder, seed=5, bigrams=True, num_bigrams=20, bigram_dim=4,
                          **overrides)
    assert "bigrams" in [tensor.name for tensor in model.inputs]
    engine = round_trip(model, tmp_path)
    for width in (9, 16):
        assert_same_outputs(model, engine, token_batch(width, width))


def test_cli_trains_chinese_with_bigrams_and_predicts_the_same_on_both_engines(zh_csv,
                                                                              tmp_path):
    out = tmp_path / "model"
    result = run("train", zh_csv, "--out", out, *TINY[2:], "--epochs", "12", "--lr", "0.01")
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "textrnn.json").read_text("utf-8"))
    assert meta["model"]["bigrams"] is True and meta["engine"]["numpy"] is True
    assert meta["model"]["encoder"] == "cnn"  # the default for classifying Chinese
    assert meta["bigrams"][:2] == [PAD, OOV] and len(meta["bigrams"]) == meta["model"][
        "num_bigrams"]
    texts = ["今天的足球比赛", "银行基金怎么看待", "芯片", "x"]
    keras_results = Predictor.load(str(out), "keras").predict(texts)
    assert [r["label"] for r in keras_results[:3]] == ["sports", "finance", "tech"]
    assert_same_predictions(keras_results, run("predict", *texts, "--model", out, "-f", "jsonl"))
    off = tmp_path / "off"
    result = run("train", zh_csv, "--out", off, *TINY, "--no-bigrams")
    assert result.exit_code == 0, result.output
    meta = json.loads((off / "textrnn.json").read_text("utf-8"))
    assert meta["model"]["bigrams"] is False and meta["bigrams"] is None
    result = run("train", zh_csv, "--out", off, *TINY, "--unidirectional")
    assert result.exit_code == 0, result.output  # a recurrent option: the LSTM default
    meta = json.loads((off / "textrnn.json").read_text("utf-8"))
    assert meta["model"]["encoder"] == "lstm" and meta["model"]["bigrams"] is True


def test_streamed_chinese_training_builds_the_same_bigram_vocabulary(zh_csv, tmp_path):
    metas = []
    for mode in ("--no-stream", "--stream"):
        out = tmp_path / mode.strip("-")
        result = run("train", zh_csv, "--out", out, mode, "--valid", zh_csv, *TINY)
        assert result.exit_code == 0, result.output
        metas.append(json.loads((out / "textrnn.json").read_text("utf-8")))
    assert metas[0]["bigrams"] == metas[1]["bigrams"] and metas[1]["model"]["bigrams"]
    assert metas[1]["model"]["encoder"] == "cnn"


def test_bigram_dropout_is_an_option_and_checked(zh_csv, tmp_path):
    out = tmp_path / "model"
    result = run("train", zh_csv, "--out", out, *TINY, "--bigram-dropout", "0.5")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "textrnn.json").read_text("utf-8"))["model"]["bigram_dropout"] == 0.5
    result = run("train", zh_csv, "--out", out, *TINY, "--bigram-dropout", "1")
    assert result.exit_code == 2 and "--bigram-dropout must be in [0, 1)" in result.stderr
