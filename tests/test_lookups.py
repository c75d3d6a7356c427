"""Lookup lists and synonyms: matching, reading the files and Rasa tables, the features the
model reads, the lists stored with the model and used with no flag, synonyms in the output."""

import gzip
import json
import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import SAMPLE, TINY
from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.data.align import Span
from textrnn.data.lookups import parse_option, read_lookup_file
from textrnn.data.markup import markup_line, parse_markup
from textrnn.data.read import read_corpus
from textrnn.errors import BundleError, DataError, UsageError
from textrnn.predict import lookup
from textrnn.predict.lookup import Lookups, Matcher, normalise
from textrnn.predict.predictor import Predictor
from textrnn.predict.rasa import parse_result
from textrnn.report import prediction_line, rasa_item
from textrnn.text import PAD, Tokenizer

runner = CliRunner()


def matches(entries, sentence):
    tokens = sentence.split()
    return [" ".join(tokens[start:end]) for start, end in Matcher(entries).spans(tokens)]


def test_the_longest_entry_wins_from_the_leftmost_token():
    entries = ["new york", "new york city", "york", "city hall", "new"]
    assert matches(entries, "fly to new york city hall") == ["new york city"]
    assert matches(entries, "fly to new york now") == ["new york"]
    assert matches(entries, "new jersey and york") == ["new", "york"]


def test_overlapping_entries_do_not_overlap_in_the_matches():
    entries = ["a b", "b c", "c d e"]
    assert matches(entries, "a b c d e") == ["a b", "c d e"]
    assert matches(entries, "b c d e") == ["b c"]  # then "d e" starts no entry


def test_a_prefix_that_is_no_entry_matches_nothing():
    assert matches(["rio de janeiro"], "rio de la plata") == []
    assert matches(["rio de janeiro", "rio"], "rio de la plata") == ["rio"]


def lists(**named):
    return Lookups.compile(named, {"city"}, {})


def test_entries_match_after_our_tokenisation_and_lower_casing():
    lookups = lists(city=["New  York", "São Paulo", "Washington, D.C."])
    assert [lookup.entries for lookup in lookups.lists] == [
        ["new york", "são paulo", "washington , d.c ."]]
    tokens = ["Fly", "to", "NEW", "york", "or", "são", "Paulo"]
    features = lookups.features(tokens)
    assert features.dtype == np.float32 and features.shape == (7, 2)
    assert features[:, 0].tolist() == [0, 0, 1, 0, 0, 1, 0]  # begins a match
    assert features[:, 1].tolist() == [0, 0, 0, 1, 0, 0, 1]  # continues one


@pytest.mark.parametrize("text", ["New York", "  São  Paulo ", "Washington, D.C.", "o'Hare-x",
                                  "İstanbul", "東京 tower", "a_b c", "x\ty", "ǅemal"])
def test_the_shortcut_normalises_as_the_tokenizer_does(text):
    assert normalise(text) == " ".join(Tokenizer(lowercase=True).tokenize(text)[0])


def test_each_list_has_its_own_pair_of_features_and_a_slot_flag():
    lookups = lists(city=["paris"], misc=["paris", "to paris"])
    assert [(lookup.name, lookup.slot) for lookup in lookups.lists] == [("city", True),
                                                                        ("misc", False)]
    features = lookups.features(["go", "to", "paris"])
    np.testing.assert_array_equal(features, [[0, 0, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]])


def test_training_drops_whole_matches_at_random_and_repeatably():
    lookups = lists(city=["new york"])
    tokens = ["new", "york"] * 200
    kept = lookups.features(tokens, random.Random(3), 0.5)
    assert 60 < kept[:, 0].sum() < 140  # about half of the 200 matches
    np.testing.assert_array_equal(kept[:, 0], np.roll(kept[:, 1], -1))  # whole matches
    np.testing.assert_array_equal(kept, lookups.features(tokens, random.Random(3), 0.5))
    assert lookups.features(tokens).sum() == 400  # prediction keeps every match


def test_synonyms_map_case_insensitively_after_tokenisation():
    lookups = Lookups.compile({}, set(), {"NYC": "New York City", "the Big Apple": "New York City"})
    assert lookups.width == 0
    assert lookups.value("nyc") == "New York City"
    assert lookups.value("The  big apple") == "New York City"
    assert lookups.value("new york") is None


def test_the_compiled_lists_round_trip_through_json():
    lookups = Lookups.compile({"city": ["Paris", "paris", "Rome"]}, {"city"}, {"LA": "Los Angeles"})
    back = Lookups.from_json(json.loads(json.dumps(lookups.to_json())))
    assert back.to_json() == lookups.to_json()
    assert back.summary() == {"lists": [{"name": "city", "slot": True, "entries": 2}],
                              "synonyms": 1}


def test_a_missing_or_damaged_lookups_file_is_a_damaged_model(tmp_path):
    with pytest.raises(BundleError, match="lookups.json missing"):
        lookup.load(tmp_path)
    (tmp_path / "lookups.json").write_text('{"format": "textrnn-lookups", "lists": [{}]}')
    with pytest.raises(BundleError, match="damaged"):
        lookup.load(tmp_path)


# -- reading -------------------------------------------------------------------------------

def test_a_list_file_plain_or_gzipped_leaves_out_blanks_and_repeats(tmp_path):
    text = "\ufeffParis\n\nRome\n  Paris  \nRome\nBerlin\n"
    plain = tmp_path / "cities.txt"
    plain.write_text(text, encoding="utf-8")
    packed = tmp_path / "cities.txt.gz"
    packed.write_bytes(gzip.compress(text.encode("utf-8")))
    for path in (plain, packed):
        found = read_lookup_file("city", str(path))
        assert found.entries == ["Paris", "Rome", "Berlin"]
        assert found.note == f"{path}: left out 1 blank line(s) and 2 repeated value(s)"


@pytest.mark.parametrize("content, message", [
    (b"", "line 1: no values"),
    (b"\n  \n", "line 1: no values"),
    (b"Paris\nS\xe3o Paulo\n", "line 2: byte 0xe3 is not valid UTF-8"),
    (b"\x1f\x8bnot really gzip", "damaged gzip file"),
])
def test_a_bad_list_file_is_one_error_naming_it(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as raised:
        read_lookup_file("city", str(path))
    assert str(raised.value).startswith(str(path))


def test_the_option_is_name_equals_file(tmp_path):
    assert parse_option("city=data/c=1.txt") == ("city", "data/c=1.txt")
    for bad in ("cities.txt", "=cities.txt", "city="):
        with pytest.raises(UsageError, match="NAME=FILE"):
            parse_option(bad)
    with pytest.raises(DataError, match="no such file"):
        read_lookup_file("city", str(tmp_path / "missing.txt"))


RASA = """version: "3.1"
nlu:
- intent: book
  examples: |
    - fly to [NYC](city:New York City)
    - fly to [Rome](city) from [LA]{"entity": "city", "value": "Los Angeles"}
- lookup: city
  examples: |
    - Paris
    - New York City
- synonym: New York City
  examples: |
    - the big apple
- lookup: city
  examples: |
    - Oslo
"""


def test_rasa_tables_synonyms_and_values_are_read_beside_the_examples(tmp_path):
    path = tmp_path / "nlu.yml"
    path.write_text(RASA, encoding="utf-8")
    corpus = read_corpus(str(path))
    assert len(corpus.examples) == 2 and corpus.warnings == []
    assert corpus.lexicon.lookups == {"city": ["Paris", "New York City", "Oslo"]}
    assert corpus.lexicon.synonyms == {"NYC": "New York City", "LA": "Los Angeles",
                                       "the big apple": "New York City"}


def test_a_rasa_lookup_needs_a_name_and_values(tmp_path):
    path = tmp_path / "nlu.yml"
    path.write_text("nlu:\n- intent: a\n  examples: |\n    - hi\n- lookup: ''\n"
                    "  examples: |\n    - x\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 5: the lookup needs a name"):
        read_corpus(str(path))
    with pytest.raises(DataError, match="lookup list 'city': no values"):
        Lookups.compile({"city": ["  ", ""]}, set(), {})


def test_markup_writes_a_value_back_as_rasa_reads_it():
    line = markup_line("fly to NYC now", [Span(7, 10, "city", value="New York City")])
    assert line == "fly to [NYC](city:New York City) now"
    assert parse_markup(line).values == [("NYC", "New York City")]
    odd = markup_line("to LA", [Span(3, 5, "city", value="L.A. (CA)")])
    assert parse_markup(odd).values == [("LA", "L.A. (CA)")]


# -- prediction ------------------------------------------------------------------------------

TAGS = [PAD, "O", "B-city", "I-city"]


class ListFollower:
    """A stand-in model that tags exactly the tokens its 'lookup' input marks: what reaches
    the model is what the lists found."""

    inputs = [SimpleNamespace(name="tokens"), SimpleNamespace(name="lookup")]

    def predict_on_batch(self, inputs):
        flags = inputs["lookup"]
        tag = np.where(flags[..., 0] > 0, 2, np.where(flags[..., 1] > 0, 3, 1))
        return {"tags": np.eye(len(TAGS), dtype=np.float32)[tag]}


def follower() -> Predictor:
    meta = {"task": "tag", "tokenizer": {"lowercase": True, "max_len": 20},
            "vocab": [PAD, "<unk>"], "labels": [], "tags": TAGS, "model": {"crf": False},
            "lookups": Lookups.compile({"city": ["new york city", "rome"]}, {"city"},
                                       {"New York City": "NYC"})}
    return Predictor(ListFollower(), meta, length_step=1)


def test_the_predictor_feeds_the_matches_and_names_canonical_values():
    predictor = follower()
    [result] = predictor.predict(["From New York City to Rome"])
    assert result["slots"] == [
        {"slot": "city", "text": "New York City", "start": 5, "end": 18, "value": "NYC"},
        {"slot": "city", "text": "Rome", "start": 22, "end": 26}]
    assert prediction_line(result, "markup") == "From [New York City](city:NYC) to [Rome](city)"
    assert rasa_item(result)[2] == "From [New York City](city:NYC) to [Rome](city)"


def test_model_parse_entities_carry_the_canonical_value():
    predictor = follower()
    [item] = predictor.analyze(["rome or new york city"])
    entities = parse_result(predictor, item)["entities"]
    assert [(e["entity"], e["value"], e["start"], e["end"]) for e in entities] == [
        ("city", "rome", 0, 4), ("city", "NYC", 8, 21)]


# -- end to end ------------------------------------------------------------------------------

def run(*args, input=None):
    result = runner.invoke(app, [str(a) for a in args], input=input)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def listed_model(tmp_path_factory) -> Path:
    """The sample flights in Rasa YAML with a lookup table and a synonym, and a list file."""
    folder = tmp_path_factory.mktemp("lookups")
    data = folder / "nlu.yml"
    data.write_text((SAMPLE / "flights_nlu.yml").read_text("utf-8") + """
- lookup: destination
  examples: |
    - Taipei
    - New York
- synonym: Taipei
  examples: |
    - TPE
""", encoding="utf-8")
    classes = folder / "classes.txt"
    classes.write_text("economy\nbusiness class\n", encoding="utf-8")
    out = folder / "model"
    run("train", data, "--lookup", f"fare={classes}", "--out", out, *TINY)
    return out


def test_the_lists_are_stored_with_the_model_and_used_with_no_flag(listed_model):
    stored = json.loads((listed_model / "lookups.json").read_text("utf-8"))
    assert [(item["name"], item["slot"], item["entries"]) for item in stored["lists"]] == [
        ("destination", True, ["taipei", "new york"]), ("fare", False, ["economy",
                                                                        "business class"])]
    assert stored["synonyms"] == {"tpe": "Taipei"}
    meta = json.loads((listed_model / "textrnn.json").read_text("utf-8"))
    assert meta["lookups"]["synonyms"] == 1 and meta["model"]["lookup_features"] == 4
    texts = "Arrive Taipei on November 2nd in business class\nfly to TPE\n"
    outputs = [run("predict", "-", "--model", listed_model, "--format", "jsonl",
                   "--engine", engine, input=texts).output for engine in ("numpy", "keras")]
    numpy_lines, keras_lines = ([json.loads(line) for line in output.splitlines()]
                                for output in outputs)
    assert [line["tags"] for line in numpy_lines] == [line["tags"] for line in keras_lines]
    assert abs(numpy_lines[0]["intent_prob"] - keras_lines[0]["intent_prob"]) < 1e-4
    info = run("info", listed_model).output
    assert "lookup destination" in info and "2 entries (slot values)" in info
    assert "lookup fare" in info and "(feature only)" in info
    assert json.loads(run("info", listed_model, "--json").output)["lookups"]["lists"][0] == {
        "name": "destination", "slot": True, "entries": 2}


def test_a_bad_list_file_stops_training_with_exit_2(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\n")
    result = runner.invoke(app, ["train", str(SAMPLE / "flights_slots.csv"), "--lookup",
                                 f"city={bad}", "--out", str(tmp_path / "m"), "--quiet"])
    assert result.exit_code == 2
    assert f"{bad}, line 2: byte 0xff is not valid UTF-8" in result.output
