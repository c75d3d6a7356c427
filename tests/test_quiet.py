"""TensorFlow's own messages (absl and oneDNN start-up lines, retracing warnings) never reach
the user's terminal: stderr carries textrnn's lines only, unless --debug."""

import json
import subprocess
import sys
from pathlib import Path

EXE = Path(sys.executable).parent / "textrnn"


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, timeout=600)


def test_pretrain_of_a_missing_file_prints_one_line():
    result = run("pretrain", "nofile.txt")
    assert result.returncode == 2
    assert result.stderr == "textrnn: error: nofile.txt: no such file\n"


def test_compare_and_keras_predict_print_only_our_lines(topics_csv, tmp_path):
    model = tmp_path / "model"
    compared = run("compare", topics_csv, "--encoders", "cnn,rnn", "--epochs", "2",
                   "--out", model, "--json")
    assert compared.returncode == 0, compared.stderr
    assert compared.stderr.splitlines() == ["training cnn ...", "training rnn ..."]
    predicted = run("predict", "play some jazz", "--model", model, "--engine", "keras",
                    "--format", "jsonl")
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stderr == ""
    assert json.loads(predicted.stdout)["label"] == "music"
