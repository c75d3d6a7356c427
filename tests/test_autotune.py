"""`textrnn train --autotune`: one real search on small data within a small budget (its record,
its fixed options, the printed command, resume, `info`), the search loop with a stand-in
for training (seeded, capped, Ctrl-C), the space per task and data size, and bad options."""

import json
import shlex
import shutil
import time
from types import SimpleNamespace

import pytest
from conftest import write_csv
from typer.testing import CliRunner

from textrnn.api import given_options, quiet_tensorflow
from textrnn.cli import app
from textrnn.cli.train import train_command
from textrnn.nn.factory import ModelSpec
from textrnn.train import autotune
from textrnn.train.defaults import resolve_config, resolve_spec
from textrnn.train.prepare import TrainConfig
from textrnn.train.space import space_for
from textrnn.train.tuning import Tuning

runner = CliRunner()
# Seconds: trial 0 and a few more on 150 sentences. The cap on trials ends the search on an
# idle machine (about 10 s); at load 10 on 2 cores, trial 0's first epoch alone took 25 s.
BUDGET, TRIALS = 60, 3
FIXED = ["--units", "16", "--dropout", "0.2", "--epochs", "2", "--seed", "7"]


@pytest.fixture(scope="module")
def searched(topics_csv, tmp_path_factory):
    """One real search: (model directory, output, wall seconds)."""
    quiet_tensorflow()  # before the clock: the budget is the search's, not the test's start
    out = tmp_path_factory.mktemp("autotune") / "model"
    started = time.monotonic()
    result = runner.invoke(app, ["train", str(topics_csv), "--out", str(out), "--autotune",
                                 f"{BUDGET}s", "--autotune-trials", str(TRIALS), *FIXED])
    seconds = time.monotonic() - started
    assert result.exit_code == 0, result.output
    return out, result, seconds


def test_the_search_keeps_its_budget_and_records_every_trial(searched):
    out, result, seconds = searched
    assert seconds < BUDGET * 1.05 + 5  # loose: the bound, not a timing
    record = json.loads((out / "autotune.json").read_text())
    assert record["metric"] == "accuracy" and record["budget_seconds"] == BUDGET
    trials = record["trials"]
    assert not record["interrupted"]
    assert record["stopped_by"] == "budget" or len(trials) == TRIALS
    assert [entry["trial"] for entry in trials] == list(range(len(trials)))
    for entry in trials:
        assert {"options", "score", "epochs", "seconds", "pruned", "cut"} <= entry.keys()
        assert "units" not in entry["options"] and "dropout" not in entry["options"]
    assert trials[0]["options"] == record["defaults"] and trials[0]["changes"] == {}
    assert record["fixed"] == {"units": 16, "dropout": 0.2}
    assert result.stderr.count("fixed as given: units 16, dropout 0.2") == 1
    winner = next(entry for entry in trials if entry["trial"] == record["best_trial"])
    assert winner["score"] == max(entry["score"] for entry in trials if not entry["pruned"])
    meta = json.loads((out / "textrnn.json").read_text())
    assert meta["model"]["units"] == 16 and meta["model"]["dropout"] == 0.2
    assert meta["metrics"]["accuracy"] == winner["score"]  # its own model, not retrained
    info = runner.invoke(app, ["info", str(out)])
    assert f"trial {winner['trial']} of {len(trials)}" in info.stdout
    described = json.loads(runner.invoke(app, ["info", str(out), "--json"]).stdout)
    assert described["autotune"] == record


def test_the_printed_command_trains_the_winner_again(searched, tmp_path):
    out, result, _ = searched
    command = result.stderr.strip().splitlines()[-1]
    assert command.startswith("textrnn train ") and "--seed 7" in command
    words = shlex.split(command)[2:]
    words[words.index("--out") + 1] = str(tmp_path / "again")
    again = runner.invoke(app, ["train", *words, "--json"])
    assert again.exit_code == 0, again.output
    record = json.loads((out / "autotune.json").read_text())
    winner = next(entry for entry in record["trials"] if entry["trial"] == record["best_trial"])
    assert json.loads(again.stdout)["metrics"]["accuracy"] == winner["score"], command


def test_resume_continues_the_study(searched, topics_csv, tmp_path):
    out, _, _ = searched
    copy = tmp_path / "model"
    shutil.copytree(out, copy)
    shutil.copytree(out.parent / f".{out.name}.checkpoint", tmp_path / ".model.checkpoint")
    before = json.loads((copy / "autotune.json").read_text())["trials"]
    result = runner.invoke(app, ["train", str(topics_csv), "--out", str(copy), "--autotune",
                                 "2m", "--autotune-trials", str(len(before) + 1), "--resume",
                                 "--quiet", *FIXED])
    assert result.exit_code == 0, result.output
    after = json.loads((copy / "autotune.json").read_text())
    assert after["trials"][:len(before)] == before and len(after["trials"]) == len(before) + 1
    assert after["trials"][-1]["options"] not in [entry["options"] for entry in before]
    assert after["stopped_by"] == "trials"
    other = runner.invoke(app, ["train", str(topics_csv), "--out", str(copy), "--autotune",
                                "1m", "--resume", "--quiet", "--units", "32"])
    assert other.exit_code == 2 and "other data or options" in other.stderr


@pytest.fixture
def no_keras(monkeypatch):
    monkeypatch.setattr(autotune, "_clear_session", lambda: None)


def fake_search(tmp_path, seed: int, trials: int | None = 4, interrupt_at: int | None = None,
                scores=None):
    """The search loop with a stand-in for training: a score from the options (or
    `scores(trial, options)`, reported for 4 epochs, so the pruner may stop it), no Keras fit.
    Every trial's options, with what it got beyond the space (patience), go to `record["fits"]`."""
    spec, _ = resolve_spec("classify", "lstm")
    config = TrainConfig()
    resolve_config(config, "classify", 5000)
    space = space_for("classify", 5000, spec, config, {"units": 16})
    published, fits = [], []

    def fit(options, callbacks):
        if interrupt_at is not None and len(published) == interrupt_at:
            raise KeyboardInterrupt
        fits.append(options)
        options = {**space.defaults, **options}  # a trial gets what differs from them
        score = 1 - abs(options["lr"] - 0.003) - abs(options["dropout"] - 0.25)
        monitor, epochs = callbacks[0], 2
        if scores is not None:
            score = scores(len(fits) - 1, options)
            monitor.set_model(SimpleNamespace(stop_training=False))
            monitor.on_train_begin()
            for epochs in range(1, 5):
                monitor.on_epoch_begin(epochs - 1)
                monitor.on_epoch_end(epochs - 1, {"val_score": score})
                if monitor.model.stop_training:
                    break
        monitor.on_train_end()
        return None, {"metrics": {"accuracy": score},
                      "training": {"epochs_run": epochs, "best_epoch": 1, "interrupted": False}}

    def publish(record, best):
        published.append(best is not None)

    tuning = Tuning(600, None, trials, time.monotonic())
    record = autotune.search(tuning, space, autotune.Trials(fit, publish), tmp_path, {"a": 1},
                             {"units": 16}, False, seed)
    return {**record, "fits": fits}, space, published


def test_the_same_seed_gives_the_same_trials_and_winner(tmp_path, no_keras):
    first, space, published = fake_search(tmp_path, seed=3)
    again, _, _ = fake_search(tmp_path, seed=3)
    other, _, _ = fake_search(tmp_path, seed=4)
    options = [[entry["options"] for entry in record["trials"]] for record in (first, again,
                                                                               other)]
    assert len(options[0]) == 4 and options[0] == options[1] and options[0] != options[2]
    assert first["best_trial"] == again["best_trial"] and first["stopped_by"] == "trials"
    assert options[0][0] == space.defaults and "units" not in space.dimensions
    assert published[0] and published[-1] is False  # trial 0 saved; the record at the end


def test_ctrl_c_ends_the_search_and_keeps_the_best_so_far(tmp_path, no_keras):
    record, _, published = fake_search(tmp_path, seed=3, trials=None, interrupt_at=2)
    assert record["interrupted"] and record["stopped_by"] == "ctrl-c"
    assert len(record["trials"]) == 2 and record["best_trial"] in (0, 1)
    assert published[0]


@pytest.mark.parametrize("slow", [False, True])
def test_a_slow_search_judges_from_the_first_trial_and_hurries_later_ones(slow, tmp_path,
                                                                          no_keras, monkeypatch):
    """A default model that takes more than SLOW_TRIAL of the budget leaves room for few
    trials: a worse trial is pruned from trial 1 on, not from trial 3, and later trials train
    with half the patience, which their record (and so the printed command) gives."""
    monkeypatch.setattr(autotune, "SLOW_TRIAL", 0.0 if slow else 1.0)

    def scores(trial, options):
        time.sleep(0.02)  # a trial 0 of more than 0 seconds: slow when SLOW_TRIAL is 0
        return 0.9 if trial == 0 else 0.5

    record, _, _ = fake_search(tmp_path, seed=3, trials=3, scores=scores)
    trials = record["trials"]
    assert record["slow"] is slow and len(trials) == 3
    assert [entry["pruned"] for entry in trials] == [False, slow, slow]
    warmup = autotune.WARMUP_EPOCHS  # epochs before the pruner may judge
    assert [entry["epochs"] for entry in trials] == [4, *[warmup if slow else 4] * 2]
    assert "patience" not in record["fits"][0] and "patience" not in trials[0]["changes"]
    for fitted, entry in zip(record["fits"][1:], trials[1:]):
        assert fitted == entry["changes"]
        assert fitted.get("patience") == (2 if slow else None)  # half the default 4
    assert ("--patience 2" in train_command({**record, "best_trial": 1})) is slow


def test_a_trial_stopped_mid_epoch_ends_the_search_cleanly(tmp_path, no_keras):
    """Ctrl-C (or the budget) after a batch: model.fit leaves by an exception, so Keras never
    calls on_train_end, and the trial is kept at its best epoch, as with --save-on-interrupt.
    The search records it and ends; it once failed computing the trial's scoring time."""
    spec, _ = resolve_spec("classify", "lstm")
    config = TrainConfig()
    resolve_config(config, "classify", 5000)
    space = space_for("classify", 5000, spec, config, {})

    def fit(options, callbacks):
        monitor = callbacks[0]
        monitor.set_model(SimpleNamespace(stop_training=False))
        monitor.on_train_begin()
        monitor.on_epoch_begin(0)
        monitor.on_epoch_end(0, {"val_score": 0.5})
        monitor.on_epoch_begin(1)
        monitor.on_train_batch_end(0)  # then Ctrl-C: fit returns the best epoch, interrupted
        return None, {"metrics": {"accuracy": 0.5},
                      "training": {"epochs_run": 1, "best_epoch": 1, "interrupted": True}}

    tuning = Tuning(600, None, None, time.monotonic())
    record = autotune.search(tuning, space, autotune.Trials(fit, lambda record, best: None),
                             tmp_path, {"a": 1}, {}, False, 3)
    assert record["stopped_by"] == "ctrl-c" and record["interrupted"]
    assert len(record["trials"]) == 1 and record["trials"][0]["cut"]


def test_an_option_given_at_its_default_value_stays_fixed():
    """`--lr 0.001` is the default rate, typed: the search keeps it instead of searching it."""
    typed = {"lr": 0.001, "layers": 1, "freeze_epochs": 1, "units": None, "autotune": 60}
    assert given_options(typed) == {"lr": 0.001, "layers": 1, "freeze_epochs": 1}
    spec, _ = resolve_spec("classify", "lstm")
    config = TrainConfig()
    resolve_config(config, "classify", 5000)
    assert config.learning_rate == 0.001 and spec.layers == 1
    space = space_for("classify", 5000, spec, config, given_options(typed))
    assert "lr" not in space.dimensions and "layers" not in space.dimensions
    assert space.fixed == {"lr": 0.001, "layers": 1}


@pytest.mark.parametrize("task, rows", [("classify", 200), ("classify", 5000), ("tag", 200),
                                        ("joint", 5000)])
def test_the_space_follows_the_task_and_the_data_size(task, rows):
    spec, _ = resolve_spec(task, "lstm")
    config = TrainConfig()
    resolve_config(config, task, rows)
    space = space_for(task, rows, spec, config, {"lr": 0.01})
    dimensions = space.dimensions
    assert ("cnn" in dimensions["encoder"].values) == (task == "classify")
    assert ("crf" in dimensions) == (task != "classify")
    assert ("token_intent" in dimensions) == (task == "joint")
    assert ("layers" in dimensions) == (rows >= 1000)
    assert max(dimensions["units"].values) == (128 if rows < 1000 else 256)
    assert "lr" not in dimensions and space.fixed == {"lr": 0.01}
    for name, value in space.defaults.items():  # trial 0, the default model, is in the space
        dimension = dimensions[name]
        assert value in dimension.values if hasattr(dimension, "values") else \
            dimension.low <= value <= dimension.high
    assert space.defaults["units"] == spec.units and isinstance(spec, ModelSpec)


def test_a_budget_too_small_for_one_epoch_says_so(topics_csv, tmp_path):
    result = runner.invoke(app, ["train", str(topics_csv), "--out", str(tmp_path / "m"),
                                 "--autotune", "1s", "--quiet"])
    assert result.exit_code == 2, result.output
    assert "--autotune 1s: the budget ended before the default model finished an epoch" in \
        result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("task, encoder, ruled_out", [("joint", "jordan", {"layers", "crf",
                                                                            "token_intent"}),
                                                       ("classify", "tree", {"layers"})])
def test_a_given_encoder_leaves_out_what_it_cannot_take(task, encoder, ruled_out):
    spec, _ = resolve_spec(task, encoder)
    config = TrainConfig()
    resolve_config(config, task, 5000)
    space = space_for(task, 5000, spec, config, {"encoder": encoder})
    assert not ruled_out & set(space.dimensions) and space.fixed == {"encoder": encoder}


@pytest.fixture(scope="module")
def tags_csv(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("data") / "tags.csv", ["text", "tags"],
                     [("fly to paris", "O O B-city")] * 20)


@pytest.mark.parametrize("options, message", [
    (["--autotune", "20x"], "--autotune 20x: not a duration (90s, 20m, 1h, or seconds)"),
    (["--autotune", "0"], "the budget must be more than 0 seconds"),
    (["--autotune", "1m", "--autotune-metric", "nope"], "--autotune-metric nope: unknown"),
    (["--autotune", "1m", "--autotune-metric", "slot_f1"], "does not apply to classify data"),
    (["--autotune", "1m", "--autotune-metric", "f1:nosuch"], "no label or slot 'nosuch'"),
    (["--autotune-metric", "accuracy"], "go with --autotune DURATION"),
    (["--autotune", "1m", "--resume"], "--resume: no search to continue"),
    (["--autotune", "1m", "--valid-split", "0"], "give --valid FILE"),
    (["--autotune", "1m", "--plot"], "drop --plot"),
])
def test_bad_options_fail_in_one_line(options, message, topics_csv, tmp_path):
    result = runner.invoke(app, ["train", str(topics_csv), "--out", str(tmp_path / "m"),
                                 *options])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("textrnn: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


def test_the_metric_is_checked_against_the_task(tags_csv, tmp_path):
    result = runner.invoke(app, ["train", str(tags_csv), "--out", str(tmp_path / "m"),
                                 "--autotune", "1m", "--autotune-metric", "accuracy"])
    assert result.exit_code == 2 and "does not apply to tag data" in result.stderr


def test_the_command_names_every_option_as_the_cli_spells_it():
    record = {"best_trial": 1, "seed": 13, "given": {"data": "my data.csv", "lookup": ["a=b"],
                                                       "format": "csv", "lowercase": False},
              "trials": [{"trial": 1, "cut": True, "epochs": 5,
                          "changes": {"crf": False, "encoder": "gru", "lr": 0.0042}}]}
    assert train_command(record) == (
        "textrnn train 'my data.csv' --encoder gru --no-crf --lookup a=b --epochs 5 --lr 0.0042 "
        "--seed 13 --keep-case --format csv")
