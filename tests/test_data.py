import io
import json
import sys

import pytest

from textrnn.data.examples import ReadOptions
from textrnn.data.read import read_corpus
from textrnn.errors import DataError


def write(tmp_path, name, content, mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def test_csv_with_sniffed_columns(tmp_path):
    path = write(tmp_path, "d.csv", 'utterance,intent\n"hi, there",greet\nbye,leave\n')
    corpus = read_corpus(path)
    assert [e.text for e in corpus.examples] == ["hi, there", "bye"]
    assert [e.labels for e in corpus.examples] == [["greet"], ["leave"]]
    assert corpus.task == "classify" and not corpus.multilabel
    assert corpus.examples[0].row == 2  # the header is row 1


def test_tsv_and_column_overrides(tmp_path):
    path = write(tmp_path, "d.tsv", "q\ty\nwhere is it\tLOC\n")
    corpus = read_corpus(path, ReadOptions(text_col="q", label_col="y"))
    assert corpus.examples[0].labels == ["LOC"]


def test_jsonl_tokens_and_tags_arrays_make_joint_data(tmp_path):
    lines = [{"tokens": ["fly", "to", "Rome"], "tags": ["O", "O", "B-city"], "intent": "book"}]
    corpus = read_corpus(write(tmp_path, "d.jsonl", "\n".join(json.dumps(x) for x in lines)))
    assert corpus.task == "joint"
    assert corpus.examples[0].words == ["fly", "to", "Rome"]
    assert corpus.examples[0].text == "fly to Rome"


def test_parquet(tmp_path):
    import pandas as pd

    path = tmp_path / "d.parquet"
    pd.DataFrame({"text": ["a b", "c"], "label": ["x", "y"]}).to_parquet(path)
    assert len(read_corpus(str(path)).examples) == 2


def test_fasttext_lines_multilabel(tmp_path):
    path = write(tmp_path, "d.txt", "__label__a __label__b some text\n\n__label__a more\n")
    corpus = read_corpus(path)
    assert corpus.multilabel
    assert corpus.examples[0].labels == ["a", "b"] and corpus.examples[0].text == "some text"


def test_label_separator_makes_multilabel(tmp_path):
    corpus = read_corpus(write(tmp_path, "d.csv", "text,label\nx,a|b\ny,b\n"),
                         ReadOptions(label_sep="|"))
    assert corpus.multilabel and corpus.examples[0].labels == ["a", "b"]


def test_conll_with_docstart(tmp_path):
    text = "-DOCSTART- O\n\nfly O\nto O\nRome B-city\n\nhi O\n"
    corpus = read_corpus(write(tmp_path, "d.conll", text))
    assert corpus.task == "tag"
    assert [e.words for e in corpus.examples] == [["fly", "to", "Rome"], ["hi"]]
    assert corpus.examples[0].row == 3


def test_stdin_is_sniffed(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"__label__x hello\n")))
    assert read_corpus("-").examples[0].labels == ["x"]


def test_empty_cells_are_skipped_with_a_warning(tmp_path):
    corpus = read_corpus(write(tmp_path, "d.csv", "text,label\nok,a\n,b\nfine,\nyes,b\n"))
    assert len(corpus.examples) == 2
    assert corpus.warnings == [f"{tmp_path / 'd.csv'}: skipped 1 row(s) with an empty 'label' "
                               "(row 4)",
                               f"{tmp_path / 'd.csv'}: skipped 1 row(s) with an empty text or "
                               "label (first: row 3)"]


def test_a_slot_table_with_an_empty_intent_column_is_read_as_tags(tmp_path):
    rows = "".join(f"fly to rome {i},O O B-city O,\n" for i in range(3000))
    corpus = read_corpus(write(tmp_path, "d.csv", "text,tags,intent\n" + rows))
    assert corpus.task == "tag" and len(corpus.examples) == 3000
    assert corpus.warnings == [f"{tmp_path / 'd.csv'}: column 'intent' is empty in every row: "
                               "read as slot tags only (column 'tags'), without intents"]


def test_rows_without_an_intent_are_counted_and_named(tmp_path):
    rows = "".join(f"hi {i},O O,{'' if i % 2 else 'greet'}\n" for i in range(14))
    records = [{"text": f"hi {i}", "tags": "O O", **({"intent": "greet"} if i < 2 else {})}
               for i in range(4)]
    corpus = read_corpus(write(tmp_path, "d.jsonl", "".join(json.dumps(r) + "\n"
                                                             for r in records)))
    assert corpus.task == "joint" and len(corpus.examples) == 2
    assert corpus.warnings == [f"{tmp_path / 'd.jsonl'}: skipped 2 line(s) with an empty "
                               "'intent' (lines 3 and 4)"]
    corpus = read_corpus(write(tmp_path, "d.csv", "text,tags,intent\n" + rows))
    assert corpus.warnings == [f"{tmp_path / 'd.csv'}: skipped 7 row(s) with an empty 'intent' "
                               "(rows 3, 5, 7, 9, 11 and 2 more)"]


def test_an_empty_label_column_without_tags_is_an_error(tmp_path):
    with pytest.raises(DataError, match="column 'label' is empty in every row"):
        read_corpus(write(tmp_path, "d.csv", "text,label\na,\nb, \n"))


@pytest.mark.parametrize("name, content, expected", [
    ("d.csv", "text,tags\nfly to Rome,O B-city\n", "d.csv, row 2, column 'tags': 2 tags for 3"),
    ("d.csv", "text,tags\nfly,X-city\n", "d.csv, row 2, column 'tags': 'X-city' is not a BIO"),
    ("d.csv", "body,label\na,b\n", "no text column"),
    ("d.csv", "text,foo\na,b\n", "no label column"),
    ("d.csv", "", "no examples"),
    ("d.csv", "text,label\n", "no examples"),
    ("d.csv", "text,label\na,b\nc,d,e\n", "d.csv, row 3: 3 fields where the header has 2"),
    ("d.jsonl", '{"text": "a", "label": "b"}\n{oops\n', "d.jsonl, line 2: not valid JSON"),
    ("d.txt", "__label__a text\nno label here\n", "d.txt, line 2: no __label__ prefix"),
    ("d.conll", "fly O\nRome\n", "d.conll, line 2: expected a token and a tag"),
])
def test_bad_input_names_file_row_and_column(tmp_path, name, content, expected):
    with pytest.raises(DataError) as error:
        read_corpus(write(tmp_path, name, content))
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_non_utf8_names_line_and_offers_encoding(tmp_path):
    path = write(tmp_path, "d.csv", b"text,label\nok,a\nsister\xf0city,b\n", mode="wb")
    with pytest.raises(DataError, match=r"d.csv, line 3: byte 0xf0 is not valid utf-8.*--encoding"):
        read_corpus(path)
    assert read_corpus(path, ReadOptions(encoding="latin-1")).examples[1].text == "sisterðcity"


def test_binary_and_missing_files(tmp_path):
    with pytest.raises(DataError, match="binary"):
        read_corpus(write(tmp_path, "d.bin", b"\x00\x01\x02text", mode="wb"))
    with pytest.raises(DataError, match="no such file"):
        read_corpus(str(tmp_path / "nope.csv"))


def test_sample_data_reads(slots_csv):
    corpus = read_corpus(str(slots_csv))
    assert corpus.task == "joint" and len(corpus.examples) >= 200


def test_a_column_name_with_a_line_break_is_named_on_one_line(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_bytes(b'"\n"')
    with pytest.raises(DataError) as caught:
        read_corpus(str(path))
    assert "\n" not in str(caught.value) and "columns are: \\n)" in str(caught.value)
