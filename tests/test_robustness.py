"""Odd and hostile input: readers never crash, huge lines and vocabularies stay bounded."""

import json
import random

from conftest import TINY, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.data.examples import ReadOptions
from textrnn.data.read import FORMATS, read_corpus
from textrnn.errors import DataError

runner = CliRunner()
PIECES = st.sampled_from(["text", "label", "tags", ",", "\t", "\n", "\n\n", '"', "__label__x ",
                          "{", "}", ":", "[", "]", "O", "B-x", "I-y", " ", "é", "\x00", "\xff",
                          "-DOCSTART-", "a b", "1.5", "null", "NaN"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(PIECES, max_size=30), fmt=st.sampled_from([None, *FORMATS]),
       raw=st.binary(max_size=40))
def test_readers_return_examples_or_raise_data_error(tmp_path, pieces, fmt, raw):
    path = tmp_path / "data.bin"
    path.write_bytes("".join(pieces).encode("utf-8", "surrogatepass") + raw)
    try:
        corpus = read_corpus(str(path), ReadOptions(format=fmt))
    except DataError as error:
        assert "\n" not in str(error)
        return
    assert corpus.examples
    for example in corpus.examples:
        assert isinstance(example.text, str) and example.text
        assert example.labels is None or all(isinstance(x, str) for x in example.labels)
        if example.tags is not None:
            assert len(example.tags) == len(example.words)


def test_a_one_megabyte_line_trains_and_predicts_truncated(tmp_path, topics_csv):
    rng = random.Random(0)
    huge = " ".join(rng.choice(["rain", "song", "table", "x", "y"]) for _ in range(260_000))
    rows = [line.split(",") for line in topics_csv.read_text().splitlines()[1:]]
    data = write_csv(tmp_path / "huge.csv", ["text", "label"], [*rows, (huge, "weather")])
    assert data.stat().st_size > 1_000_000
    out = tmp_path / "m"
    result = runner.invoke(app, ["train", str(data), "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "textrnn.json").read_text())
    assert meta["tokenizer"]["max_len"] < 50
    result = runner.invoke(app, ["predict", "-", "--model", str(out), "-f", "jsonl"],
                           input=huge + "\nrain today\n")
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["truncated"] is True and "truncated" not in second


def test_max_vocab_bounds_a_huge_vocabulary(tmp_path):
    rng = random.Random(1)
    rows = [(" ".join(f"w{rng.randrange(10**6)}" for _ in range(8)), rng.choice("ab"))
            for _ in range(6000)]
    data = write_csv(tmp_path / "wide.csv", ["text", "label"], rows)
    out = tmp_path / "m"
    result = runner.invoke(app, ["train", str(data), "--out", str(out), *TINY,
                                 "--max-vocab", "1000", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "textrnn.json").read_text())
    assert len(meta["vocab"]) == 1000 and meta["model"]["vocab_size"] == 1000
