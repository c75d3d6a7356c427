"""The README's shell examples, run as a user types them, against the quick start's model."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLE, TINY

README = Path(__file__).resolve().parent.parent / "README.md"
QUESTIONS = ["Arrive Taipei on November 2nd", "cancel my flight to Rome",
             "what is the status of my flight", "book a seat to Paris tomorrow"]
pytestmark = pytest.mark.skipif(shutil.which("jq") is None, reason="the examples use jq")


def shell_block(heading: str) -> list[str]:
    """The commands of the ```sh block in the README's section `heading`, one per line."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(f"\n{heading}\n"):]
    section = section[: section.find("\n#", 1) if "\n#" in section[1:] else len(section)]
    start = section.index("```sh\n") + len("```sh\n")
    return [line for line in section[start: section.index("```", start)].splitlines()
            if line.strip()]


def sh(command: str, folder: Path, **extra_env) -> subprocess.CompletedProcess:
    """One README line in bash, with the installed textrnn first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           **extra_env}
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, sample_model) -> Path:
    """A folder as after the quick start (`make demo`): the sample joint model at
    ./textrnn-model, and lines to label."""
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(sample_model, folder / "textrnn-model")
    for name in ("questions.txt", "lines.txt", "unlabelled.txt"):
        (folder / name).write_text("\n".join(QUESTIONS) + "\n", encoding="utf-8")
    return folder


def test_the_pipeline_examples_work_with_the_quick_start_model(folder):
    commands = shell_block("### Predicting in pipelines")
    assert len(commands) >= 4
    for command in commands:
        done = sh(command, folder)
        assert done.returncode == 0 and done.stderr == "", (command, done.stderr)
        assert "null" not in done.stdout, (command, done.stdout)
        if "uniq -c" in command and "slots" not in command:
            counts = [line.split() for line in done.stdout.splitlines()]
            assert sum(int(count) for count, _ in counts) == len(QUESTIONS), done.stdout
        elif "jq" in command and "slots" not in command:
            assert len(done.stdout.splitlines()) == len(QUESTIONS)
    labels = (folder / "labels.tsv").read_text(encoding="utf-8").splitlines()
    assert len(labels) == len(QUESTIONS)


def test_the_correction_loop_example_works(folder, tmp_path):
    """predict → review → train again on the folder; training lines get the tiny options."""
    shutil.copytree(SAMPLE, tmp_path / "sample_data")
    shutil.copy(folder / "unlabelled.txt", tmp_path)
    for command in shell_block("### The correction loop: predict, fix, train again"):
        if command.startswith("textrnn train"):  # the options go before a trailing comment
            command = f"{command.partition(' #')[0]} {' '.join(TINY)}"
        done = sh(command, tmp_path, EDITOR="true")
        assert done.returncode == 0, (command, done.stderr)
    assert "- intent:" in (tmp_path / "review.yml").read_text(encoding="utf-8")
    assert (tmp_path / "flights" / "textrnn.json").is_file()
