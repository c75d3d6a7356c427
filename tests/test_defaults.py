"""Defaults come from one place (train/defaults.py): train and compare build the same model, a
programmatic caller may leave any option to them, and the model says which were defaults."""

import json

from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.train.defaults import MAX_EPOCHS, resolve_config, resolve_spec
from textrnn.train.prepare import TrainConfig

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_joint_models_get_their_recipe_and_given_values_win():
    spec, defaulted = resolve_spec("joint", "lstm", units=32)
    assert (spec.embedding_dim, spec.dropout, spec.token_intent, spec.crf) == (64, 0.4, True,
                                                                                True)
    assert spec.units == 32 and "units" not in defaulted and "embedding_dim" in defaulted
    classify, _ = resolve_spec("classify", "lstm")
    assert (classify.embedding_dim, classify.dropout, classify.crf) == (128, 0.3, False)
    # A word-vector file decides the embedding size when it is read.
    assert resolve_spec("classify", "lstm", vectors_given=True)[0].embedding_dim == 0


def test_a_config_left_empty_is_completed_for_the_task_and_data():
    config = TrainConfig(lr_decay=0.5)
    filled = resolve_config(config, "joint", train_rows=13_000)
    assert (config.epochs, config.batch_size, config.lr_decay, config.patience) == (
        MAX_EPOCHS, 32, 0.5, 8)
    assert "lr_decay" not in filled and {"epochs", "batch_size", "patience"} <= set(filled)
    small = TrainConfig()
    resolve_config(small, "classify", train_rows=300)
    assert (small.batch_size, small.patience, small.slot_substitution) == (10, 4, 0.0)
    assert (small.learning_rate, small.freeze_epochs) == (0.001, 1)  # not in the signatures


def test_compare_builds_the_model_train_builds(slots_csv, tmp_path):
    trained = tmp_path / "trained"
    assert run("train", slots_csv, "--out", trained, "--epochs", "1", "--quiet").exit_code == 0
    compared = tmp_path / "compared"
    result = run("compare", slots_csv, "--encoders", "lstm", "--epochs", "1", "--out",
                 compared, "--json")
    assert result.exit_code == 0, result.output
    parameters = json.loads(result.stdout)[0]["parameters"]
    info = json.loads(run("info", trained, "--json").stdout)
    assert parameters == sum(row["params"] for row in info["layers"])
    assert info["training"]["given"]["epochs"] == 1
    assert info["training"]["defaults"]["embedding_dim"] == 64
    assert "embedding_dim" in run("info", trained).stdout
