"""Slot data as people write it: inline markup, Rasa NLU YAML, span JSON lines; spans to BIO
through our tokenizer; the writers (convert, predict --format markup/rasa) read back."""

import json

import pytest
from conftest import SAMPLE, TINY
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.data.align import Span, Tally, example_spans, span_example
from textrnn.data.examples import ReadOptions
from textrnn.data.markup import markup_line, parse_markup
from textrnn.data.read import detect_format, read_corpus
from textrnn.data.shards import read_examples
from textrnn.errors import DataError

runner = CliRunner()


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def pairs(example):
    return list(zip(example.words, example.tags))


def spans_of(line):
    marked = parse_markup(line)
    return marked.text, [(marked.text[s.start:s.end], s.label) for s in marked.spans]


# --- the markup grammar: known answers --------------------------------------------------------

@pytest.mark.parametrize("line, text, spans", [
    ("fly to [Taipei](destination) on [November 2nd](arrival_date)",
     "fly to Taipei on November 2nd",
     [("Taipei", "destination"), ("November 2nd", "arrival_date")]),
    ("[New York](city)'s weather", "New York's weather", [("New York", "city")]),
    ("from [Paris](city), then [Rome](city).", "from Paris, then Rome.",
     [("Paris", "city"), ("Rome", "city")]),
    ("see [x] and [Paris](city)", "see [x] and Paris", [("Paris", "city")]),  # as in Rasa
    (r"rated 5\] of \[10\]", "rated 5] of [10]", []),
    (r"[a\]b](x) c:\dir \\", r"a]b c:\dir \\"[:-1], [(r"a]b", "x")]),
    (r"\[not a span\](x)", "[not a span](x)", []),
    ("[LA](city:Los Angeles)", "LA", [("LA", "city")]),
    ('[LA]{"entity": "city", "role": "to", "value": "Los Angeles"} now', "LA now",
     [("LA", "city")]),
    ('[a]{"entity": "b", "x": 1}', "a", [("a", "b")]),  # other keys ignored, as Rasa's schema
    ("(no) {markup} here", "(no) {markup} here", []),
])
def test_markup_known_answers(line, text, spans):
    assert spans_of(line) == (text, spans)


def test_markup_counts_the_attributes_a_tagger_does_not_use():
    marked = parse_markup('[LA](city:Los Angeles) [x]{"entity": "c", "role": "r", "group": "1"}')
    assert dict(marked.unused) == {"role": 1, "group": 1}
    assert marked.values == [("LA", "Los Angeles")]  # a synonym, for the model


@pytest.mark.parametrize("line, message", [
    ("[a [b](x)] c", "column 4: '[' inside the span opened at column 1: markup does not nest"),
    ("fly ] to", "column 5: ']' closes no '['"),
    ("fly to [Taipei(destination)", "column 8: '[' is never closed by ']'"),
    ("fly to [Taipei](destination", "column 16: '(' after the span is never closed by ')'"),
    ("to [Taipei]{city}", "column 12: unknown entity syntax '{city}'"),
    ('to [Taipei]{"entity": "city"', "column 12: '{' after the span is never closed by '}'"),
    ('to [Taipei]{"value": "x"}', 'needs "entity": "slot name"'),
    ('to [Taipei]{"entity": 3}', 'needs "entity": "slot name"'),
    ('to [Taipei]{"entity": "c", "role": 3}', '"role" in'),
    ("to [](city)", "column 4: a span needs text"),
    ("to [Taipei]()", "column 12: empty slot name"),
    ("to [Taipei](city:)", "column 12: empty value after ':'"),
])
def test_markup_errors_name_the_column(line, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace("[", r"\[")
                       .replace("{", r"\{").replace("]", r"\]").replace(")", r"\)")):
        parse_markup(line)


# --- span alignment ---------------------------------------------------------------------------

def aligned(text, spans, mode="expand"):
    tally = Tally("t", mode)
    example = span_example(text, [Span(*span, place="t, line 1") for span in spans], None, 1,
                           "t, line 1", tally)
    return example, tally


def test_a_span_cutting_a_token_is_widened_refused_or_shrunk():
    text = "New York's weather"  # our tokenizer keeps "York's" whole
    example, tally = aligned(text, [(0, 8, "city")])
    assert pairs(example) == [("New", "B-city"), ("York's", "I-city"), ("weather", "O")]
    assert "1 span(s) cut through a token and were widened" in tally.warnings()[0]
    assert "'York's'" in tally.warnings()[0]
    with pytest.raises(DataError, match=r"t, line 1: span 'New York' \(city\) cuts through "
                                        r"the token\(s\) 'York's'"):
        aligned(text, [(0, 8, "city")], "strict")
    example, tally = aligned(text, [(0, 8, "city")], "contract")
    assert pairs(example)[:2] == [("New", "B-city"), ("York's", "O")]
    assert "shrunk" in tally.warnings()[0]
    example, tally = aligned("Yorkshire", [(0, 4, "city")], "contract")
    assert example.tags == ["O"] and "dropped 1 span(s) covering no token" in tally.warnings()[0]


def test_span_edges_are_stripped_and_blank_spans_dropped():
    example, tally = aligned("fly to  Rome ", [(6, 13, "city"), (0, 0, "x"), (3, 4, "y")],
                             "strict")
    assert example.tags == ["O", "O", "B-city"] and example.raw == "fly to  Rome "
    assert tally.dropped == ["t, line 1, '' (x)", "t, line 1, ' ' (y)"]


def test_overlapping_spans_are_an_error():
    with pytest.raises(DataError, match="overlaps span 'New York'"):
        aligned("New York City", [(0, 8, "city"), (4, 13, "town")])
    with pytest.raises(DataError, match="share the token 'NewYork'"):
        aligned("NewYork", [(0, 3, "a"), (3, 7, "b")])


def test_chinese_spans_align_to_characters():
    example, _ = aligned("我想去台北", [(3, 5, "city")], "strict")
    assert pairs(example) == [("我", "O"), ("想", "O"), ("去", "O"), ("台", "B-city"),
                              ("北", "I-city")]


# --- the hypothesis round trip ----------------------------------------------------------------

WORDS = st.text(st.sampled_from("abcXYZé台[]\\(){}:'-,.!"), min_size=1, max_size=6)


@st.composite
def marked_sentences(draw):
    """Random words joined by random spacing, and random spans over whole tokens."""
    words = draw(st.lists(WORDS, min_size=1, max_size=8))
    gaps = draw(st.lists(st.sampled_from([" ", "  ", "\t"]), min_size=len(words),
                         max_size=len(words)))
    text = "".join(word + gap for word, gap in zip(words, gaps)).rstrip()
    from textrnn.text import Tokenizer

    _, offsets = Tokenizer().tokenize(text)
    cuts = sorted(draw(st.sets(st.integers(0, len(offsets)), max_size=6)))
    spans = []
    for first, last in zip(cuts[::2], cuts[1::2]):
        if first < last:
            spans.append(Span(offsets[first][0], offsets[last - 1][1],
                              draw(st.sampled_from(["city", "date", "a.b", "x:y"]))))
    return text, spans


@settings(max_examples=150, deadline=None)
@given(marked_sentences())
def test_markup_round_trip(sentence):
    text, spans = sentence
    line = markup_line(text, spans)
    tally = Tally("t", "strict")
    marked = parse_markup(line)
    example = span_example(marked.text, marked.spans, None, 1, "t", tally)
    if example is None:  # nothing but punctuation-free blanks
        return
    written, again = example_spans(example)
    assert markup_line(written, again) == line
    assert [(s.start, s.end, s.label) for s in again] == [(s.start, s.end, s.label)
                                                          for s in spans]
    assert not tally.warnings()


# --- readers: markup lines, span JSON lines, Rasa YAML ----------------------------------------

def test_markup_lines_with_and_without_intents(tmp_path):
    path = write(tmp_path, "d.txt", "book\tfly to [Rome](city)\n\n\tno intent here\n"
                                    "book\t[Oslo](city) now\n")
    corpus = read_corpus(str(path))
    assert corpus.task == "joint" and [e.row for e in corpus.examples] == [1, 4]
    assert pairs(corpus.examples[1]) == [("Oslo", "B-city"), ("now", "O")]
    assert "skipped 1 line(s) with an empty text or label (first: line 3)" in corpus.warnings[0]
    tagged = read_corpus(str(write(tmp_path, "t.txt", "fly to [Rome](city)\n")))
    assert tagged.task == "tag"
    with pytest.raises(DataError, match=r"m.txt, line 2: an intent column here, but not"):
        read_corpus(str(write(tmp_path, "m.txt", "fly to [Rome](city)\nbook\tgo\n")))
    with pytest.raises(DataError, match=r"e.txt, line 1, column 13: '\[' is never closed"):
        read_corpus(str(write(tmp_path, "e.txt", "book\tfly to [Rome(city)\n")),
                    ReadOptions(format="markup"))  # a broken line does not sniff as markup


def test_span_json_lines_spacy_prodigy_and_our_predictions(tmp_path):
    lines = [
        {"text": "fly to New York", "intent": "book", "tokens": [{"text": "ignored"}],
         "spans": [{"start": 7, "end": 15, "label": "city", "token_start": 9}]},
        {"text": "to Rome", "intent": "book", "answer": "reject", "spans": []},
        {"text": "hi", "intent": None, "tokens": ["hi"], "tags": ["O"], "slots": []},
        {"text": "Oslo now", "intent": "book", "intent_prob": 0.4, "tokens": ["Oslo", "now"],
         "tags": ["B-city", "O"], "slots": [{"slot": "city", "text": "Oslo", "start": 0,
                                             "end": 4}]},
    ]
    path = write(tmp_path, "d.jsonl", "".join(json.dumps(line) + "\n" for line in lines))
    assert detect_format(str(path), path.read_bytes(), "d") == "spans"
    corpus = read_corpus(str(path))
    assert [pairs(e) for e in corpus.examples] == [
        [("fly", "O"), ("to", "O"), ("New", "B-city"), ("York", "I-city")],
        [("Oslo", "B-city"), ("now", "O")]]
    assert [e.labels for e in corpus.examples] == [["book"], ["book"]]
    assert any("answered reject or ignore" in w for w in corpus.warnings)
    assert any("empty text or label (first: line 3)" in w for w in corpus.warnings)


@pytest.mark.parametrize("record, message", [
    ({"text": "abc", "spans": [{"start": 1, "end": 9, "label": "x"}]},
     r"line 1, span 1: chars 1-9 are out of range for a text of 3 characters"),
    ({"text": "abc", "spans": [{"start": 2, "end": 1, "label": "x"}]}, "out of range"),
    ({"text": "abc", "spans": [{"start": "0", "end": 1, "label": "x"}]}, "whole numbers"),
    ({"text": "abc", "spans": [{"start": 0, "end": 1}]}, '"label" must be a string'),
    ({"text": "ab cd", "spans": [{"start": 0, "end": 5, "label": "x"},
                                 {"start": 3, "end": 5, "label": "y"}]}, "overlaps"),
    ({"text": "ab cd", "slots": [{"slot": "x", "text": "cd", "start": 0, "end": 2}]},
     r"line 1, slot 1: its text 'cd' is not the text at chars 0-2 \('ab'\)"),
    ({"spans": []}, 'line 1: no "text" string'),
    ({"text": "ab", "spans": {"start": 0}}, '"spans" must be a list'),
])
def test_span_json_line_errors(tmp_path, record, message):
    path = write(tmp_path, "d.jsonl", json.dumps(record) + "\n")
    with pytest.raises(DataError, match=message):
        read_corpus(str(path))


RASA_BLOCK = """\
version: "3.1"
nlu:
- intent: book_flight
  examples: |
    - fly to [Taipei](destination) on [November 2nd](arrival_date)
    - from [LA]{"entity": "origin", "role": "from", "value": "Los Angeles"} to [Rome](destination)
- intent: greet
  metadata:
    sentiment: neutral
  examples:
  - text: |
      hi [Bob](name)
    metadata:
      sentiment: happy
  - text: "hello there"
  - text: 'good [morning](time)'
- synonym: Los Angeles
  examples: |
    - LA
- regex: zipcode
  examples: |
    - \\d{5}
- lookup: city
  examples: |
    - Rome
responses:
  utter_greet:
  - text: hello
"""


def test_rasa_yaml_in_each_documented_shape(tmp_path):
    corpus = read_corpus(str(write(tmp_path, "nlu.yml", RASA_BLOCK)))
    assert corpus.task == "joint"
    assert [(e.row, e.labels[0], e.raw) for e in corpus.examples] == [
        (5, "book_flight", "fly to Taipei on November 2nd"), (6, "book_flight", "from LA to Rome"),
        (12, "greet", "hi Bob"), (15, "greet", "hello there"), (16, "greet", "good morning")]
    assert pairs(corpus.examples[1]) == [("from", "O"), ("LA", "B-origin"), ("to", "O"),
                                         ("Rome", "B-destination")]
    assert corpus.examples[4].tags == ["O", "B-time"]
    assert corpus.warnings == [
        f"{tmp_path}/nlu.yml: skipped 1 regex entr(ies) (textrnn keeps the intent examples, "
        "lookup tables and synonyms)",
        f"{tmp_path}/nlu.yml: left out 1 role(s), 2 metadata entries (textrnn keeps intents "
        "and slot names)"]
    assert corpus.lexicon.lookups == {"city": ["Rome"]}
    assert corpus.lexicon.synonyms == {"LA": "Los Angeles"}


def test_rasa_yaml_skips_undashed_lines_and_reads_anchors_and_a_second_file_shape(tmp_path):
    text = ("nlu:\n- intent: a\n  examples: &shared |\n    - one [x](s)\n    two\n"
            "- intent: b\n  examples: *shared\n- intent: c\n")
    corpus = read_corpus(str(write(tmp_path, "d.yaml", text)))
    assert [(e.labels[0], e.raw) for e in corpus.examples] == [("a", "one x"), ("b", "one x")]
    assert any("2 example line(s) not starting with '-', as Rasa does (first: line 5)" in w
               for w in corpus.warnings)
    assert any("1 intent(s) without examples: c" in w for w in corpus.warnings)


@pytest.mark.parametrize("text, message", [
    ("nlu:\n- intent: a\n  examples: |\n    - fly to [Rome(city)\n",
     r"d.yml, line 4, column 14: '\[' is never closed"),
    ('nlu:\n- intent: a\n  examples:\n  - text: "to [Rome]{city}"\n',
     r"d.yml, line 4, column 21: unknown entity syntax '\{city\}'"),
    ("nlu:\n- intent: a\n  examples:\n  - text: |\n      go\n      to [Rome](ci ty)\n",
     r"d.yml, line 6, column 10: slot name 'ci ty' must be one word"),
    ("nlu:\n- intent: a\n  examples: |\n    - x\n  - y: [\n", r"d.yml, line 5, column 3: not "
     r"valid YAML"),
    ("nlu:\n- intent: a\n  exmaples: |\n    - x\n", r"d.yml, line 2: unknown key 'exmaples' in "
     r"the intent entry \(expected intent, examples, metadata\)"),
    ("nlu:\n- intent: ''\n  examples: |\n    - x\n", "line 2: the intent needs a name"),
    ("nlu:\n- just text\n", "line 2: an 'nlu:' entry must be a mapping"),
    ("nlu:\n- examples: |\n    - x\n", "line 2: an 'nlu:' entry needs one of the keys"),
    ("nlu:\n- intent: a\n  examples: {a: 1}\n", "must be a block of '- utterance' lines"),
    ("nlu:\n- intent: a\n  examples:\n  - txt: x\n", "line 4: each entry of an 'examples:' "
     "list needs 'text:'"),
    ('version: 3.1\nnlu: []\n', r"line 1: 'version' must be a quoted string"),
    ("stories: []\n", "no 'nlu:' key"),
    ("- a\n- b\n", "line 1: expected a mapping with an 'nlu:' key"),
])
def test_rasa_yaml_errors_are_one_line_with_line_and_column(tmp_path, text, message):
    with pytest.raises(DataError, match=message) as error:
        read_corpus(str(write(tmp_path, "d.yml", text)))
    assert "\n" not in str(error.value)


def test_rasa_yaml_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "d.yml"
    path.write_bytes(b"nlu:\n- intent: a\n  examples: |\n    - caf\xe9\n")
    with pytest.raises(DataError, match=r"d.yml, line 4: byte 0xe9 is not valid utf-8"):
        read_corpus(str(path))


def test_new_formats_stream_the_same_examples_and_errors(tmp_path):
    files = [write(tmp_path, "nlu.yml", RASA_BLOCK),
             write(tmp_path, "m.txt", "book\tfly to [Rome](city)\nbook\t[Oslo](city)\n"),
             write(tmp_path, "s.jsonl", json.dumps({"text": "to Rome", "spans": [
                 {"start": 3, "end": 7, "label": "city"}]}) + "\n")]
    for path in files:
        warnings = []
        streamed = list(read_examples(path, ReadOptions(), warnings))
        whole = read_corpus(str(path))
        assert streamed == whole.examples and warnings == whole.warnings
    bad = write(tmp_path, "bad.yml", "nlu:\n- intent: a\n  examples: |\n    - ok\n    - x]\n")
    with pytest.raises(DataError, match=r"bad.yml, line 5, column 8: '\]' closes no"):
        list(read_examples(bad, ReadOptions(), []))


def test_span_align_is_a_read_option(tmp_path):
    path = write(tmp_path, "m.txt", "[New York](city)'s\n")
    assert read_corpus(str(path), ReadOptions(span_align="contract")).examples[0].tags == [
        "B-city", "O"]
    with pytest.raises(DataError, match=r"m.txt, line 1, column 1: span 'New York' \(city\) "
                                        r"cuts through"):
        read_corpus(str(path), ReadOptions(span_align="strict"))
    with pytest.raises(DataError, match="unknown --span-align 'loose'"):
        read_corpus(str(path), ReadOptions(span_align="loose"))


# --- convert ----------------------------------------------------------------------------------

def test_convert_moves_slot_data_between_formats(tmp_path, slots_csv):
    yml, back = tmp_path / "flights.yml", tmp_path / "back.csv"
    result = run("convert", slots_csv, yml)
    assert result.exit_code == 0, result.output
    original = read_corpus(str(yml))  # the words are our tokens from here on
    conll = run("convert", yml, tmp_path / "f.conll")
    assert "not carried over: the intents (CoNLL holds tokens and tags only)" in conll.output
    for target in ("f.txt", "f.jsonl", "f.tsv", "f.parquet"):
        assert run("convert", yml, tmp_path / target).exit_code == 0
        again = run("convert", tmp_path / target, back)
        assert again.exit_code == 0, again.output
        converted = read_corpus(str(back))
        assert [(e.words, e.tags, e.labels) for e in converted.examples] == [
            (e.words, e.tags, e.labels) for e in original.examples], target
    fasttext = run("convert", yml, tmp_path / "f.ft")
    assert "not carried over: the slots" in fasttext.output
    assert read_corpus(str(tmp_path / "f.ft")).examples[0].labels == ["book_flight"]


def test_convert_names_what_it_cannot_carry_over(tmp_path):
    src = write(tmp_path, "nlu.yml", RASA_BLOCK)
    result = run("convert", src, tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    assert "1 role(s)" in result.output and "1 lookup table(s) and 1 synonym(s)" in result.output
    assert "the spacing" not in result.output
    spaced = write(tmp_path, "s.txt", "a\tfly to [Rome](city),  now\nb\tgo\na\tstay\n")
    result = run("convert", spaced, tmp_path / "out.conll")
    assert "the spacing of 1 text(s)" in result.output and "the intents" in result.output
    result = run("convert", spaced, "-", "--to", "rasa")
    assert "the order of the examples" in result.output
    broken = write(tmp_path, "b.yml", "nlu:\n- intent: a\n  examples:\n  - text: |\n      two\n"
                                      "      lines [x](s)\n")
    result = run("convert", broken, tmp_path / "b.txt")
    assert "the line breaks and tabs inside 1 text(s)" in result.output
    assert (tmp_path / "b.txt").read_text() == "a\ttwo lines [x](s)\n"
    assert run("convert", spaced, tmp_path / "x.unknown").exit_code == 2
    plain = write(tmp_path, "p.csv", "text,label\nhi,greet\n")
    result = run("convert", plain, tmp_path / "p.conll")
    assert result.exit_code == 2 and "conll holds tags" in result.output


# --- predictions written as markup and Rasa YAML, read back; the sample YAML -------------------

LINES = ["Arrive Taipei on November 2nd", "", "fly from New York to [Rome] tomorrow",
         "cancel my flight AA 67 to Chicago", "how much is a business class ticket to Oslo"]


@pytest.fixture(scope="module")
def slot_models(tmp_path_factory, slots_csv):
    folder = tmp_path_factory.mktemp("formats")
    models = {}
    for name, data in (("csv", slots_csv), ("yaml", SAMPLE / "flights_nlu.yml")):
        models[name] = folder / name
        result = run("train", data, "--out", models[name], *TINY)
        assert result.exit_code == 0, result.output
    return models


def predictions(model, fmt):
    result = run("predict", "-", "--model", model, "--format", fmt,
                 input="\n".join(LINES) + "\n")
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_sample_yaml_trains_the_same_model_as_the_csv(slot_models):
    assert predictions(slot_models["yaml"], "jsonl") == predictions(slot_models["csv"], "jsonl")


def test_predict_markup_and_rasa_read_back_to_the_same_intents_and_slots(slot_models, tmp_path):
    model = slot_models["csv"]
    expected = [json.loads(line) for line in predictions(model, "jsonl").splitlines()]
    frames = {(r["text"], r["intent"], tuple((s["slot"], s["start"], s["end"])
                                             for s in r["slots"])) for r in expected if r["text"]}
    markup = predictions(model, "markup")
    assert len(markup.splitlines()) == len(LINES) and markup.splitlines()[1] == ""
    rasa = predictions(model, "rasa")
    for name, text in (("p.txt", markup), ("p.yml", rasa)):
        corpus = read_corpus(str(write(tmp_path, name, text)), ReadOptions(span_align="strict"))
        read = set()
        for example in corpus.examples:
            raw, spans = example_spans(example)
            read.add((raw, example.labels[0], tuple((s.label, s.start, s.end) for s in spans)))
        assert read == frames, name
    confidences = [line.split(": ")[1] for line in rasa.splitlines() if "confidence" in line]
    assert len(confidences) == len(LINES) - 1
    by_intent = {}
    for line in rasa.splitlines():
        if line.startswith("- intent: "):
            current = by_intent.setdefault(line[10:], [])
        elif "confidence" in line:
            current.append(float(line.split(": ")[1]))
    assert all(values == sorted(values) for values in by_intent.values())


def test_predict_rasa_needs_an_intent_model(tmp_path):
    tagger = tmp_path / "tagger"
    data = write(tmp_path, "t.txt", "".join(f"fly to [{c}](city)\n" for c in
                                            ("Rome", "Oslo", "Paris", "Lima") * 5))
    assert run("train", data, "--out", tagger, *TINY).exit_code == 0
    result = run("predict", "fly to Rome", "--model", tagger, "--format", "rasa")
    assert result.exit_code == 2 and "--format markup" in result.output
    result = run("predict", "fly to Rome", "--model", tagger, "--format", "markup")
    assert result.exit_code == 0 and "\t" not in result.stdout


@pytest.mark.parametrize("content, fmt", [
    (b"fly to [Rome](city)\n", "markup"),
    (b"book\tfly to Rome\n\nbook\tgo\n", "markup"),  # predict --format markup, no slots found
    (b"text\tlabel\nfly [x](y)\tz\n", "tsv"),
    (b"New\tB-city\nYork\tI-city\n\nRome\tB-city\n", "conll"),
    (b"# comment\nnlu:\n- intent: a\n", "rasa"),
    (b'{"text": "a", "spans": []}\n', "spans"),
    (b'{"text": "a", "label": "b"}\n', "jsonl"),
])
def test_new_formats_are_sniffed(content, fmt):
    assert detect_format("-", content, "<stdin>") == fmt
