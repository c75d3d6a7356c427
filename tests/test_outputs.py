"""No command loses a user's file: an output that is an input is refused, an output in a missing
folder is one line, and a file is replaced only once its new content is complete."""

import os

import pytest
from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.errors import UsageError
from textrnn.files import atomic_output

runner = CliRunner()


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


@pytest.fixture(scope="module")
def model(tmp_path_factory, topics_csv):
    out = tmp_path_factory.mktemp("models") / "topics"
    result = run("train", topics_csv, "--out", out, "--epochs", "2", "--units", "8",
                 "--embedding-dim", "8", "--quiet")
    assert result.exit_code == 0, result.output
    return out


def assert_refused(result, *words):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    for word in words:
        assert word in message, message


def test_predict_refuses_to_write_over_its_input(model, tmp_path):
    lines = tmp_path / "q.txt"
    lines.write_text("rain today\nplay a song\n", encoding="utf-8")
    link = tmp_path / "link.txt"
    link.symlink_to(lines)
    for output in (lines, link):
        result = run("predict", "--model", model, "--input", lines, "--output", output)
        assert_refused(result, "--output", "is the input")
        assert lines.read_text(encoding="utf-8") == "rain today\nplay a song\n"


def test_eval_and_convert_refuse_to_write_over_their_data(model, topics_test_csv, tmp_path):
    data = tmp_path / "data.csv"
    data.write_bytes(topics_test_csv.read_bytes())
    assert_refused(run("eval", data, "--model", model, "--output", data), "is the input")
    assert_refused(run("convert", data, data), "is the input")
    assert data.read_bytes() == topics_test_csv.read_bytes()


def test_an_output_in_a_missing_folder_is_one_line(model, topics_test_csv, tmp_path):
    missing = tmp_path / "nodir"
    for args in (("predict", "rain", "--model", model, "--output", missing / "out.jsonl"),
                 ("eval", topics_test_csv, "--model", model, "--output", missing / "e.json"),
                 ("convert", topics_test_csv, missing / "x.yml")):
        assert_refused(run(*args), "no such folder")
    assert not missing.exists()


def test_predict_replaces_an_existing_output_keeping_its_permissions(model, tmp_path):
    output = tmp_path / "out.jsonl"
    output.write_text("old\n", encoding="utf-8")
    os.chmod(output, 0o640)
    result = run("predict", "rain today", "sunny", "--model", model, "--output", output)
    assert result.exit_code == 0, result.output
    assert len(output.read_text(encoding="utf-8").splitlines()) == 2
    assert os.stat(output).st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temporary left


def test_a_failed_write_leaves_the_previous_file(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("previous", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt), atomic_output(target) as handle:
        handle.write("half")
        raise KeyboardInterrupt
    assert target.read_text(encoding="utf-8") == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    with pytest.raises(UsageError, match="is a folder"), atomic_output(tmp_path):
        pass


def test_convert_writes_parquet_through_the_same_path(topics_test_csv, tmp_path):
    out = tmp_path / "data.parquet"
    assert run("convert", topics_test_csv, out).exit_code == 0
    copy = tmp_path / "back.csv"
    assert run("convert", out, copy).exit_code == 0
    assert len(copy.read_text(encoding="utf-8").splitlines()) == 61


def test_evaluate_writes_json_beside_its_table(model, topics_test_csv, tmp_path):
    output = tmp_path / "e.json"
    result = run("eval", topics_test_csv, "--model", model, "--output", output)
    assert result.exit_code == 0, result.output
    assert '"accuracy"' in output.read_text(encoding="utf-8")
