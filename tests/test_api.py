"""The Python API: its pinned surface, the same options and predictions as the command line,
pickling for workers, frames, errors, and the README's Python section run as written."""

import inspect
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pandas as pd
import pytest
from conftest import SAMPLE, same_records, write_csv

import textrnn
from textrnn.cli.evaluate import evaluate_cli
from textrnn.cli.predict import predict_cli
from textrnn.cli.pretrain import pretrain_cli
from textrnn.cli.train import train_cli

TEXTRNN = str(Path(sys.executable).parent / "textrnn")
README = Path(__file__).resolve().parent.parent / "README.md"
TEXTS = ["Arrive Taipei on November 2nd", "", "I want to fly from Paris to Rome on Friday",
         "cancel my flight to Boston please", "   ", "what is the baggage allowance"]


def shape(function) -> str:
    """A signature without its annotations: names, kinds and defaults."""
    parts, keyword_only = [], False
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind is parameter.KEYWORD_ONLY and not keyword_only:
            parts.append("*")
            keyword_only = True
        default = "" if parameter.default is parameter.empty else f"={parameter.default!r}"
        parts.append(parameter.name + default)
    return f"({', '.join(parts)})"


READ_OPTIONS = ("text_col=None, label_col=None, tags_col=None, label_sep=None, "
                "encoding='utf-8', format=None, span_align='expand'")
SURFACE = {
    "load": "(path, engine='auto')",
    "evaluate": f"(data, model='textrnn-model', *, errors=0, engine='auto', {READ_OPTIONS})",
    "train": "(data, out='textrnn-model', valid=None, *, valid_split=0.1, task=None, "
             "encoder=None, bidirectional=None, layers=None, units=None, embedding_dim=None, "
             "embeddings=None, freeze_embeddings=False, pretrained=None, freeze_epochs=None, "
             "pretrained_lr_scale=1.0, char_features=None, bigrams=None, bigram_dropout=0.0, "
             "dropout=None, crf=None, token_intent=None, slot_substitution=None, "
             "slot_unknown=None, lookup=None, epochs=None, batch_size=None, lr=None, "
             "lr_decay=None, warmup=0, clipnorm=1.0, patience=None, seed=13, class_weight=None, "
             f"min_count=1, max_vocab=None, lowercase=True, {READ_OPTIONS}, stream=None, "
             "steps_per_epoch=None, vocab=None, workers=None, worker_index=None, "
             "worker_timeout=300, resume=False, save_on_interrupt=False, plot=False, "
             "tensorboard=None, autotune=None, autotune_metric=None, autotune_trials=None, "
             "progress=False)",
    "pretrain": "(corpus, out='textrnn-pretrained', *, encoder='lstm', units=None, "
                "embedding_dim=None, char_features=None, bigrams=None, dropout=None, epochs=None, "
                "batch_size=None, lr=None, clipnorm=1.0, patience=None, valid_split=0.1, "
                "seed=13, "
                "min_count=1, max_vocab=None, lowercase=True, text_col=None, encoding='utf-8', "
                "format=None, stream=None, steps_per_epoch=None, resume=False, progress=False)",
    "Model.predict": "(self, texts, top_k=1, threshold=None, *, batch_size=256, "
                     "slot_confidence=False)",
    "Model.predict_iter": "(self, texts, *, batch_size=256, top_k=1, threshold=None, "
                          "slot_confidence=False)",
    "Model.predict_frame": "(self, frame, text_column='text', *, top_k=1, threshold=None, "
                           "batch_size=256)",
    "Model.info": "(self)",
}


def test_the_public_surface_is_pinned():
    assert textrnn.__all__ == ["BundleError", "DataError", "Model", "TextrnnError",
                               "TextrnnWarning", "UsageError", "evaluate", "load", "pretrain",
                               "train"]
    for name, expected in SURFACE.items():
        owner, _, attribute = name.rpartition(".")
        function = getattr(getattr(textrnn, owner) if owner else textrnn, attribute)
        assert shape(function) == expected, name
        assert function.__doc__, name
    for attribute in ("task", "labels", "slots", "max_len"):
        assert isinstance(inspect.getattr_static(textrnn.Model, attribute), property)
    assert all(issubclass(getattr(textrnn, name), textrnn.TextrnnError)
               for name in ("BundleError", "DataError", "UsageError"))


@pytest.mark.parametrize("command, function", [(train_cli, textrnn.train),
                                               (pretrain_cli, textrnn.pretrain),
                                               (evaluate_cli, textrnn.evaluate)])
def test_the_api_takes_the_commands_options_with_their_defaults(command, function):
    def options(of, skip):
        return {"format" if name == "fmt" else name:
                str(p.default) if isinstance(p.default, Path) else p.default
                for name, p in inspect.signature(of).parameters.items() if name not in skip}

    assert options(command, ("quiet", "json_out", "output")) == options(function, ("progress",))
    cli, api = (inspect.signature(f).parameters for f in (predict_cli, textrnn.Model.predict))
    assert all(cli[name].default == api[name].default
               for name in ("top_k", "threshold", "batch_size"))


def cli_predict(model_dir, texts, *options) -> list[dict]:
    """What `textrnn predict --format jsonl` writes for these lines, from a cold process."""
    result = subprocess.run([TEXTRNN, "predict", "-", "--model", str(model_dir), "--format",
                             "jsonl", *options], input="".join(t + "\n" for t in texts),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_python_and_the_command_line_give_identical_records(joint_model):
    model = textrnn.load(joint_model)
    assert model.task == "joint" and model.engine == "numpy"
    assert "book_flight" in model.labels and "destination" in model.slots
    records = model.predict(TEXTS, top_k=2)
    assert records == cli_predict(joint_model, TEXTS, "--top-k", "2")
    assert records[0]["slots"] and records[1] == {"text": "", "intent": None,
                                                  "intent_prob": None, "tokens": [],
                                                  "tags": [], "slots": []}
    assert same_records(list(model.predict_iter(iter(TEXTS), batch_size=2, top_k=2)), records)


def test_predict_iter_streams_in_bounded_chunks(joint_model):
    model = textrnn.load(joint_model)
    taken = []

    def lines():
        for number in range(200):
            taken.append(number)
            yield TEXTS[number % len(TEXTS)]

    records = model.predict_iter(lines(), batch_size=2)
    first = next(records)
    assert first == model.predict([TEXTS[0]])[0]
    assert len(taken) == 2 * 16  # one chunk of 16 batches read, not the whole input
    assert len(list(records)) == 199


def test_predict_frame_adds_the_records_as_typed_columns(joint_model):
    model = textrnn.load(joint_model)
    frame = pd.DataFrame({"id": range(len(TEXTS) + 1), "text": [*TEXTS, None]},
                         index=[7] * (len(TEXTS) + 1))
    labelled = model.predict_frame(frame)
    assert list(labelled.columns) == ["id", "text", "intent", "intent_prob", "tokens", "tags",
                                      "slots", "truncated"]
    assert (labelled.index == frame.index).all()
    expected = model.predict([*TEXTS, ""])
    for row, record in zip(labelled.to_dict("records"), expected):
        assert row.pop("truncated") is False
        del row["id"], row["text"]  # the frame's own columns, kept as they were
        assert row == {key: value for key, value in record.items() if key != "text"}
    assert model.predict_frame(frame.iloc[:0]).dtypes.equals(labelled.dtypes)
    with pytest.raises(textrnn.UsageError, match="no column 'sentence'"):
        model.predict_frame(frame, text_column="sentence")
    with pytest.raises(textrnn.UsageError, match="already has the column"):
        model.predict_frame(frame.assign(intent="x"))


def test_a_model_pickles_as_its_path_and_reloads_once_per_process(joint_model, tmp_path):
    model = textrnn.load(joint_model)
    assert pickle.loads(pickle.dumps(model)) is model  # this process has it loaded
    good = pickle.dumps(model)
    changed_dir, missing_dir = tmp_path / "changed", tmp_path / "missing"
    for copy in (changed_dir, missing_dir):
        shutil.copytree(joint_model, copy)
    changed, missing = (pickle.dumps(textrnn.load(copy)) for copy in (changed_dir, missing_dir))
    meta = json.loads((changed_dir / "textrnn.json").read_text())
    (changed_dir / "textrnn.json").write_text(json.dumps({**meta, "note": "retrained"}))
    shutil.rmtree(missing_dir)
    assert len(good) < 300  # the path and the fingerprint, not the weights
    probe = ("import pickle, sys, json, textrnn\n"
             "good, changed, missing = (bytes.fromhex(x) for x in sys.argv[1:])\n"
             "first, again = pickle.loads(good), pickle.loads(good)\n"
             f"print(json.dumps([first is again, first.predict({TEXTS!r})]))\n"
             "for blob in (changed, missing):\n"
             "    try:\n"
             "        pickle.loads(blob)\n"
             "    except textrnn.BundleError as error:\n"
             "        print(error)\n")
    result = subprocess.run([sys.executable, "-c", probe, good.hex(), changed.hex(),
                             missing.hex()], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    same, records = json.loads(result.stdout.splitlines()[0])
    assert same and records == model.predict(TEXTS)
    changed_error, missing_error = result.stdout.splitlines()[1:]
    assert "holds another model" in changed_error and "the directory changed" in changed_error
    assert "cannot restore" in missing_error and str(missing_dir) in missing_error


def test_predict_is_thread_safe(joint_model):
    model = textrnn.load(joint_model)
    texts = [TEXTS[i % len(TEXTS)] + f" number {i}" for i in range(64)]
    expected = model.predict(texts, batch_size=4)
    results = [None] * 4

    def work(index):
        results[index] = model.predict(texts, batch_size=4)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4


def test_errors_are_the_commands_own(joint_model, tmp_path):
    with pytest.raises(textrnn.BundleError, match="no model directory here"):
        textrnn.load(tmp_path / "nothing")
    model = textrnn.load(joint_model)
    with pytest.raises(textrnn.UsageError, match="not one string"):
        model.predict("Arrive Taipei")
    with pytest.raises(textrnn.UsageError, match="--top-k must be at least 1"):
        model.predict(["a"], top_k=0)
    with pytest.raises(textrnn.UsageError, match="--epochs must be at least 1"):
        textrnn.train(SAMPLE / "flights_intents.csv", tmp_path / "m", epochs=0)
    with pytest.raises(textrnn.UsageError, match="unknown --task 'nope'"):
        textrnn.train(SAMPLE / "flights_intents.csv", tmp_path / "m", task="nope")
    bad = write_csv(tmp_path / "bad.csv", ["text", "tags", "intent"],
                    [("fly to Rome", "O O", "book_flight")])
    with pytest.raises(textrnn.DataError, match="bad.csv, row 2"):
        textrnn.evaluate(bad, model)
    assert not (tmp_path / "m").exists()


def test_evaluate_returns_what_eval_json_prints_and_data_warnings_are_warnings(joint_model,
                                                                              tmp_path):
    data = tmp_path / "test.csv"
    data.write_text((SAMPLE / "flights_slots.csv").read_text() + ",,\n")
    with pytest.warns(textrnn.TextrnnWarning, match="skipped 1 row"):
        scores = textrnn.evaluate(data, joint_model)
    cli = subprocess.run([TEXTRNN, "eval", str(data), "--model", str(joint_model), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout) == scores and scores["slot_f1"] > 0.5
    assert re.match(r"warning: .*skipped 1 row", cli.stderr, re.S)


def test_loading_and_predicting_never_imports_tensorflow_or_pandas(joint_model):
    code = ("import sys, textrnn\n"
            f"textrnn.load({str(joint_model)!r}).predict(['Arrive Taipei'])\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'tensorflow', 'keras', 'pandas', 'typer', 'rich'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def python_blocks(markdown: str, section: str) -> list[str]:
    body = markdown.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.S)


def test_the_readme_python_section_runs_as_written(joint_model, tmp_path, monkeypatch):
    """In a folder holding what the section assumes: the model `make demo` trains (here the
    small one), sample_data/, a questions.txt and Parquet logs."""
    shutil.copytree(joint_model, tmp_path / "textrnn-model")
    os.symlink(SAMPLE, tmp_path / "sample_data")
    (tmp_path / "questions.txt").write_text("\n".join(TEXTS) + "\n")
    (tmp_path / "logs").mkdir()
    for part in range(2):
        pd.DataFrame({"text": TEXTS[part::2]}).to_parquet(tmp_path / f"logs/{part}.parquet")
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(README.read_text(), "Using textrnn from Python")
    assert len(blocks) >= 5
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", textrnn.TextrnnWarning)
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)
    model = textrnn.load("textrnn-model")
    written = [json.loads(line) for line in open("labelled.jsonl")]
    assert written == model.predict(TEXTS)
    labelled = pd.read_parquet("labelled", dtype_backend="pyarrow")
    assert sorted(labelled["text"]) == sorted(TEXTS)
    assert isinstance(namespace["intents"], textrnn.Model) and namespace["scores"]["accuracy"]
