import gzip
import json
import struct

import numpy as np
import pytest

from textrnn.data.vectors import EmbeddingMatrix, load_vectors
from textrnn.errors import DataError
from textrnn.text import OOV, PAD

VECTORS = {
    "the": [0.1, 0.2, 0.3],
    "cat": [1.0, -1.0, 0.5],
    "café": [-0.25, 0.0, 2.0],
    "sat": [3.0, 2.0, 1.0],
}


def vec_text(vectors: dict, header: bool = True, count: int | None = None) -> str:
    lines = [f"{len(vectors) if count is None else count} {len(next(iter(vectors.values())))}"]
    lines = lines if header else []
    lines += [" ".join([word, *map(str, values)]) for word, values in vectors.items()]
    return "\n".join(lines) + "\n"


def write(tmp_path, name: str, content: str | bytes, compress: bool = False) -> str:
    data = content.encode("utf-8") if isinstance(content, str) else content
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if compress else data)
    return str(path)


def w2v_binary(vectors: dict, newline: bool = True) -> bytes:
    dim = len(next(iter(vectors.values())))
    out = [f"{len(vectors)} {dim}\n".encode()]
    for word, values in vectors.items():
        out.append(word.encode("utf-8") + b" " + struct.pack(f"<{dim}f", *values))
        if newline:
            out.append(b"\n")
    return b"".join(out)


def vocab(*words: str) -> list[str]:
    return [PAD, OOV, *words]


def row(emb: EmbeddingMatrix, tokens: list[str], word: str) -> np.ndarray:
    return emb.matrix[tokens.index(word)]


def check_found_rows(emb, tokens, vectors=VECTORS):
    for word in tokens[2:]:
        if word in vectors:
            np.testing.assert_array_equal(row(emb, tokens, word), np.float32(vectors[word]))


# --- formats ------------------------------------------------------------------------------------


def test_vec_with_header(tmp_path):
    tokens = vocab("the", "cat", "café", "dog")
    emb = load_vectors(write(tmp_path, "v.vec", vec_text(VECTORS)), tokens)
    assert emb.matrix.shape == (6, 3) and emb.matrix.dtype == np.float32 and emb.dim == 3
    check_found_rows(emb, tokens)
    assert (emb.found, emb.words, emb.found_case_folded) == (3, 4, 0)
    np.testing.assert_array_equal(emb.matrix[0], np.zeros(3))  # <pad>
    found = np.float32([VECTORS[w] for w in ("the", "cat", "café")])
    np.testing.assert_allclose(emb.matrix[1], found.mean(axis=0), rtol=1e-6)  # <unk>
    assert emb.format == "word2vec-text"


def test_glove_without_header(tmp_path):
    tokens = vocab("sat", "cat", "unseen")
    emb = load_vectors(write(tmp_path, "g.txt", vec_text(VECTORS, header=False)), tokens)
    check_found_rows(emb, tokens)
    assert (emb.found, emb.words, emb.format) == (2, 3, "glove")


@pytest.mark.parametrize("name", ["v.vec.gz", "v.vec", "glove.txt"])
def test_gzip_is_detected_by_its_magic_bytes(tmp_path, name):
    tokens = vocab("the", "café")
    path = write(tmp_path, name, vec_text(VECTORS, header="vec" in name), compress=True)
    emb = load_vectors(path, tokens)
    check_found_rows(emb, tokens)
    assert emb.found == 2 and emb.gzipped


@pytest.mark.parametrize("newline", [True, False])
@pytest.mark.parametrize("name", ["w.bin", "w.bin.gz", "vectors.dat"])
def test_word2vec_binary(tmp_path, name, newline):
    tokens = vocab("cat", "café", "sat", "dog")
    data = w2v_binary(VECTORS, newline)
    emb = load_vectors(write(tmp_path, name, data, compress=name.endswith(".gz")), tokens)
    check_found_rows(emb, tokens)
    assert (emb.found, emb.words, emb.format) == (3, 4, "word2vec-binary")


def test_binary_words_are_decoded_with_replacement(tmp_path):
    data = b"2 2\n" + b"caf\xe9 " + struct.pack("<2f", 1, 2) + b"cat " + struct.pack("<2f", 3, 4)
    emb = load_vectors(write(tmp_path, "w.bin", data), vocab("cat", "caf\ufffd"))
    np.testing.assert_array_equal(emb.matrix[2:], [[3, 4], [1, 2]])


def test_text_tolerates_crlf_tabs_trailing_spaces_blank_lines_and_bad_utf8(tmp_path):
    content = (
        b"3 2\r\n"
        b"the 1 2 \r\n"
        b"\r\n"
        b"cat\t3  4\r\n"  # a tab and a double space: the right number of spaces, by chance
        b"caf\xe9 5 6\r\n"  # Latin-1 in a UTF-8 file: the word gets U+FFFD, no crash
    )
    tokens = vocab("the", "cat", "caf\ufffd")
    emb = load_vectors(write(tmp_path, "v.vec", content), tokens)
    np.testing.assert_array_equal(emb.matrix[2:], [[1, 2], [3, 4], [5, 6]])


def test_utf8_bom_and_non_ascii_words(tmp_path):
    content = "\ufeff2 2\n東京 1 2\nзима 3 4\n"
    emb = load_vectors(write(tmp_path, "v.vec", content), vocab("зима", "東京"))
    np.testing.assert_array_equal(emb.matrix[2:], [[3, 4], [1, 2]])
    assert emb.format == "word2vec-text"


def test_glove_words_with_spaces_are_skipped_not_errors(tmp_path):
    content = "the 1 2\nat home 3 4\ncat 5 6\n"  # GloVe 840B has a few such lines
    emb = load_vectors(write(tmp_path, "g.txt", content), vocab("cat", "home"))
    np.testing.assert_array_equal(emb.matrix[2], [5, 6])
    assert emb.found == 1


# --- lookup -------------------------------------------------------------------------------------


def test_case_folded_fallback_takes_the_first_occurrence(tmp_path):
    content = "3 2\nParis 1 1\nPARIS 2 2\nthe 3 3\n"
    emb = load_vectors(write(tmp_path, "v.vec", content), vocab("paris", "the"))
    np.testing.assert_array_equal(emb.matrix[2], [1, 1])
    assert (emb.found, emb.found_case_folded) == (2, 1)


@pytest.mark.parametrize("exact_first", [True, False])
def test_exact_match_wins_over_case_folded_whatever_the_order(tmp_path, exact_first):
    lines = ["paris 9 9", "Paris 1 1"]
    content = "2 2\n" + "\n".join(lines if exact_first else lines[::-1]) + "\n"
    emb = load_vectors(write(tmp_path, "v.vec", content), vocab("paris"))
    np.testing.assert_array_equal(emb.matrix[2], [9, 9])
    assert (emb.found, emb.found_case_folded) == (1, 0)


def test_cased_vocabulary_gets_exact_and_folded_rows_from_one_line(tmp_path):
    content = "Paris 1 1\nthe 2 2\n"  # a vocabulary built with lowercase=False
    emb = load_vectors(write(tmp_path, "g.txt", content), vocab("Paris", "paris", "PARIS"))
    np.testing.assert_array_equal(emb.matrix[2:], [[1, 1]] * 3)
    assert (emb.found, emb.found_case_folded) == (3, 2)


def test_reading_stops_once_every_word_has_an_exact_match(tmp_path):
    content = "the 1 2\ncat 3 4\nbroken line with too many values\n"
    emb = load_vectors(write(tmp_path, "g.txt", content), vocab("cat", "the"))
    assert emb.found == 2


# --- rows without a vector ----------------------------------------------------------------------


def test_rows_without_vectors_are_seeded_normal_with_the_found_statistics(tmp_path):
    rng = np.random.default_rng(1)
    found = {f"w{i}": rng.normal(0.5, 2.0, 8).round(4).tolist() for i in range(200)}
    path = write(tmp_path, "g.txt", vec_text(found, header=False))
    tokens = vocab(*found, *(f"missing{i}" for i in range(2000)))
    emb = load_vectors(path, tokens, seed=3)
    assert (emb.found, emb.words) == (200, 2200)
    check_found_rows(emb, tokens, found)
    values = np.float32(list(found.values()))
    oov = emb.matrix[202:]
    assert abs(oov.mean() - values.mean()) < 0.1
    assert abs(oov.std() - values.std()) < 0.1
    np.testing.assert_array_equal(emb.matrix[0], 0.0)
    np.testing.assert_allclose(emb.matrix[1], values.mean(axis=0), rtol=1e-5)
    again = load_vectors(path, tokens, seed=3)
    np.testing.assert_array_equal(again.matrix, emb.matrix)
    other = load_vectors(path, tokens, seed=4)
    assert not np.array_equal(other.matrix[202:], oov)
    np.testing.assert_array_equal(other.matrix[:202], emb.matrix[:202])


# --- statistics ---------------------------------------------------------------------------------


def test_coverage_and_json_summary(tmp_path):
    tokens = vocab("the", "cat", "dog", "Sat")
    content = vec_text(VECTORS)  # "sat" is there, "dog" is not
    emb = load_vectors(write(tmp_path, "dir_v.vec", content), tokens)
    counts = {"the": 10, "cat": 3, "dog": 5, "Sat": 2, "zebra": 100, PAD: 7, OOV: 4}
    assert emb.coverage(counts) == {
        "words_found": 3,
        "words": 4,
        "word_coverage": 0.75,
        "tokens_covered": 15,  # the + cat + Sat; zebra is not in the vocabulary: not counted
        "tokens": 20,
        "token_coverage": 0.75,
    }
    summary = emb.to_json()
    assert json.loads(json.dumps(summary)) == summary
    assert summary == {
        "file": "dir_v.vec",
        "format": "word2vec-text",
        "gzipped": False,
        "dim": 3,
        "words": 4,
        "found": 3,
        "found_case_folded": 1,
        "word_coverage": 0.75,
    }
    assert emb.coverage({})["token_coverage"] == 0.0


# --- errors -------------------------------------------------------------------------------------


def error_of(path: str, tokens=None, dim=None) -> str:
    with pytest.raises(DataError) as caught:
        load_vectors(path, tokens or vocab("the", "cat"), dim=dim)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(path)
    return message


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("v.vec", "3 3\nthe 1 2 3\ncat 1 2\n", ", line 3: 2 values, expected 3 (as on the header"),
        ("v.vec", "2 3\nthe 1 2 3\ndog 1 2 3 4\n", ", line 3: 4 values, expected 3"),
        ("g.txt", "the 1 2\n\ndog 1 2 3\n", ", line 3: 3 values, expected 2 (as on line 1)"),
        ("g.txt", "dog 1 2\ncat 1 x\n", ", line 2: value 2 of 'cat' is 'x', not a number"),
        ("g.txt", "dog 1 2\ncat 1 nan\n", ", line 2: the vector of 'cat' is not finite"),
        ("g.txt", "dog 1 oops\ncat 1 2\n", ", line 1: value 2 of 'dog' is 'oops', not a number"),
        ("v.vec", "2 2\ndog\n", ", line 2: 0 values, expected 2"),
        ("g.txt", "hello\nworld\n", ", line 1: a word without values"),
        ("v.vec", "2 0\n", ", line 1: no vector values"),
        ("v.vec", "", ": empty file (no word vectors)"),
        ("v.vec", "\n \n", ": empty file (no word vectors)"),
        ("v.vec", "5 3\n", ": only a header, no word vectors"),
        ("g.txt", "dog 1 2\nbird 3 4\n", ": none of the 2 vocabulary words has a vector (is"),
    ],
)
def test_text_errors_name_the_file_and_line(tmp_path, name, content, expected):
    path = write(tmp_path, name, content)
    assert expected in error_of(path)


def test_empty_gzip_and_damaged_gzip(tmp_path):
    assert "empty file" in error_of(write(tmp_path, "e.vec.gz", "", compress=True))
    damaged = gzip.compress(vec_text(VECTORS).encode())[:-12]
    path = write(tmp_path, "d.vec.gz", damaged)
    message = error_of(path, vocab("the", "dog"))  # read to the end
    assert ", line 5: cannot read (damaged gzip data" in message
    damaged_bin = gzip.compress(w2v_binary(VECTORS))[:-12]
    message = error_of(write(tmp_path, "d.bin.gz", damaged_bin), vocab("dog"))
    assert ", vector 1: cannot read (damaged gzip data" in message  # 1 MB reads: fails at once


def test_missing_file(tmp_path):
    assert "no such file" in error_of(str(tmp_path / "nope.vec"))


def test_dimension_mismatch_suggests_the_files_dimension(tmp_path):
    path = write(tmp_path, "v.vec", vec_text(VECTORS))
    message = error_of(path, dim=100)
    assert ", line 1:" in message and "--embedding-dim 3" in message and "100" in message
    glove = write(tmp_path, "g.txt", "\n" + vec_text(VECTORS, header=False))
    assert ", line 2:" in error_of(glove, dim=50)
    assert "--embedding-dim 3" in error_of(write(tmp_path, "w.bin", w2v_binary(VECTORS)), dim=4)
    assert load_vectors(path, vocab("the"), dim=3).dim == 3


def test_binary_errors(tmp_path):
    data = w2v_binary(VECTORS)
    truncated = error_of(write(tmp_path, "t.bin", data[:-7]), vocab("nothere"))
    assert "ends inside vector 4 of 4" in truncated
    bad = b"1 2\ncat " + struct.pack("<2f", 1.0, float("inf"))
    message = error_of(write(tmp_path, "b.bin", bad))
    assert ", vector 1: the vector of 'cat' is not finite" in message
