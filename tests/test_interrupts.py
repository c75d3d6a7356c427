"""Interrupted training, with real processes and signals: the previous model always survives."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY, wait_for_file

from textrnn.nn import saving

EXE = Path(sys.executable).parent / "textrnn"
LONG = ["--epochs", "400", "--patience", "400", "--units", "16", "--embedding-dim", "16",
        "--quiet"]


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def start_and_wait_for_checkpoint(args, out: Path) -> subprocess.Popen:
    process = subprocess.Popen([EXE, "train", *map(str, args), "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_file(process, out.parent / f".{out.name}.checkpoint" / "state.json")
    return process


@pytest.fixture()
def previous_model(tmp_path, topics_csv):
    out = tmp_path / "model"
    subprocess.run([EXE, "train", topics_csv, "--out", out, *TINY], check=True, timeout=300,
                   capture_output=True)
    return out


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


@pytest.mark.parametrize("save", [False, True])
def test_ctrl_c_stops_cleanly(previous_model, topics_csv, save):
    before = snapshot(previous_model)
    extra = ["--save-on-interrupt", "--json"] if save else []
    process = start_and_wait_for_checkpoint([topics_csv, *LONG, *extra], previous_model)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    if save:
        assert process.returncode == 0, stderr
        assert json.loads(stdout)["training"]["interrupted"] is True
        assert snapshot(previous_model) != before
        saving.load(previous_model)
    else:
        assert process.returncode == 130
        assert stderr.strip().splitlines()[-1].startswith("textrnn: interrupted")
        assert snapshot(previous_model) == before

