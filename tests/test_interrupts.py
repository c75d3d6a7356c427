"""Interrupted training, with real processes and signals: the previous model always survives."""

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY, wait_for_file

from textrnn.bundle import read_meta
from textrnn.nn import saving

EXE = Path(sys.executable).parent / "textrnn"
LONG = ["--epochs", "400", "--patience", "400", "--units", "16", "--embedding-dim", "16",
        "--quiet"]
CTRL_C_AT = Path(__file__).parent / "ctrl_c_at.py"


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def start_and_wait_for_checkpoint(args, out: Path) -> subprocess.Popen:
    process = subprocess.Popen([EXE, "train", *map(str, args), "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_file(process, out.parent / f".{out.name}.checkpoint" / "state.json")
    return process


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory, topics_csv):
    out = tmp_path_factory.mktemp("trained") / "model"
    subprocess.run([EXE, "train", topics_csv, "--out", out, *TINY], check=True, timeout=300,
                   capture_output=True)
    return out


@pytest.fixture()
def previous_model(tmp_path, trained_once):
    """A model that an interrupted run must leave as it was (a copy per test)."""
    return Path(shutil.copytree(trained_once, tmp_path / "model"))


def test_sigkill_leaves_the_previous_model_and_resume_continues(previous_model, topics_csv):
    before = snapshot(previous_model)
    process = start_and_wait_for_checkpoint([topics_csv, *LONG], previous_model)
    process.kill()
    process.wait(timeout=30)
    assert snapshot(previous_model) == before
    saving.load(previous_model)  # still loadable
    state = json.loads((previous_model.parent / ".model.checkpoint" / "state.json").read_text())
    done = state["epoch"]
    assert done >= 1

    resumed = subprocess.run(
        [EXE, "train", topics_csv, "--out", previous_model, *LONG[2:], "--epochs", str(done + 2),
         "--resume", "--json"], check=True, timeout=300, capture_output=True, text=True)
    training = json.loads(resumed.stdout)["training"]
    assert training["resumed_from_epoch"] == done
    assert training["epochs_run"] == done + 2
    assert len(training["history"]["loss"]) == done + 2
    assert not (previous_model.parent / ".model.checkpoint").exists()
    assert snapshot(previous_model) != before
    assert sorted(p.name for p in previous_model.parent.iterdir()) == ["model"]


def test_resume_refuses_a_checkpoint_of_other_options(previous_model, topics_csv):
    process = start_and_wait_for_checkpoint([topics_csv, *LONG], previous_model)
    process.kill()
    process.wait(timeout=30)
    result = subprocess.run([EXE, "train", topics_csv, "--out", previous_model, *LONG,
                             "--units", "8", "--resume"], timeout=300, capture_output=True,
                            text=True)
    assert result.returncode == 2
    assert "checkpoint" in result.stderr and "different options" in result.stderr


def test_ctrl_c_stops_cleanly(previous_model, topics_csv):
    before = snapshot(previous_model)
    process = start_and_wait_for_checkpoint([topics_csv, *LONG], previous_model)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1].startswith("textrnn: interrupted")
    assert snapshot(previous_model) == before


def ctrl_c_at(moment: str, out: Path, *args) -> subprocess.CompletedProcess:
    """`textrnn train ... --out OUT` with a Ctrl-C at `moment` (see ctrl_c_at.py)."""
    return subprocess.run([sys.executable, CTRL_C_AT, moment, "train", *map(str, args),
                           "--epochs", "3", "--patience", "400", "--units", "16",
                           "--embedding-dim", "16", "--out", out], timeout=300,
                          capture_output=True, text=True)


def saved_epoch(out: Path) -> int | None:
    state = out.parent / f".{out.name}.checkpoint" / "state.json"
    return json.loads(state.read_text())["epoch"] if state.exists() else None


@pytest.mark.parametrize("moment, resumable", [
    ("epoch-1", None), ("finaliser", 2), ("checkpoint", 2), ("after-fit", 3)])
def test_ctrl_c_at_any_moment_leaves_the_previous_model_and_says_what_resumes(
        previous_model, topics_csv, moment, resumable):
    """Wherever it lands, Ctrl-C stops the run (one lost in a finaliser too, at the next
    batch or epoch), and the message tells what --resume can do: the checkpoint on disk."""
    before = snapshot(previous_model)
    result = ctrl_c_at(moment, previous_model, topics_csv, "--quiet")
    assert result.returncode == 130, result.stderr
    hint = (f"--resume continues after epoch {resumable}" if resumable
            else "no epoch finished, so there is nothing to resume")
    assert result.stderr.strip().splitlines()[-1] == (
        f"textrnn: interrupted; {previous_model} is as it was ({hint})")
    assert saved_epoch(previous_model) == resumable
    assert snapshot(previous_model) == before


def test_ctrl_c_while_saving_finishes_the_save_and_says_so(previous_model, topics_csv):
    before = snapshot(previous_model)
    result = ctrl_c_at("saving", previous_model, topics_csv, "--quiet")
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"textrnn: interrupted while saving; {previous_model} holds the new model")
    assert snapshot(previous_model) != before
    saving.load(previous_model)
    assert sorted(p.name for p in previous_model.parent.iterdir()) == ["model"]


def test_save_on_interrupt_saves_the_best_epoch_and_says_it_was_interrupted(
        previous_model, topics_csv):
    result = ctrl_c_at("finaliser", previous_model, topics_csv, "--save-on-interrupt")
    assert result.returncode == 130, result.stderr
    assert "by Ctrl-C" in result.stderr  # the summary
    assert result.stderr.strip().splitlines()[-1].startswith(
        "textrnn: interrupted; saved the best model so far (epoch ")
    training = read_meta(previous_model)["training"]
    assert training["interrupted"] is True and training["epochs_run"] == 2
