"""Tests for textrnn.metrics: hand-computed known answers, reference-library
comparisons (seqeval, sklearn; skipped when unavailable) and property tests."""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textrnn import metrics
from textrnn.metrics import (
    bio_spans,
    classification_report,
    joint_report,
    multilabel_report,
    prf,
    span_report,
)

METRICS_PATH = Path(__file__).resolve().parents[1] / "textrnn" / "metrics.py"


def approx(x):
    return pytest.approx(x, abs=1e-12)


def assert_plain_json(obj):
    """Only plain Python containers/str/int/float (no numpy scalars, no NaN)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert type(k) is str
            assert_plain_json(v)
    elif isinstance(obj, list):
        for v in obj:
            assert_plain_json(v)
    elif isinstance(obj, float):
        assert not math.isnan(obj), "NaN in report"
    else:
        assert type(obj) in (int, str), f"unexpected {type(obj)!r}: {obj!r}"
    json.dumps(obj, allow_nan=False)


# --------------------------------------------------------------------------- prf


def test_prf_basic_and_undefined():
    assert prf(2, 2, 1) == (0.5, approx(2 / 3), approx(4 / 7))
    assert prf(0, 0, 0) == (0.0, 0.0, 0.0)
    assert prf(0, 3, 0) == (0.0, 0.0, 0.0)
    assert prf(0, 0, 3) == (0.0, 0.0, 0.0)
    assert all(type(v) is float for v in prf(1, 0, 0))


# -------------------------------------------------------------------- bio_spans


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
        # I- after O starts a span (conlleval), as does I- at sentence start.
        (["O", "I-LOC", "I-LOC"], [("LOC", 1, 3)]),
        (["I-PER", "O"], [("PER", 0, 1)]),
        # I- of a different type closes the previous span and opens a new one.
        (["B-PER", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 2)]),
        (["I-A", "I-B", "I-B"], [("A", 0, 1), ("B", 1, 3)]),
        # B-x B-x are two spans.
        (["B-X", "B-X"], [("X", 0, 1), ("X", 1, 2)]),
        # IOB1: B- only separates adjacent same-type chunks.
        (["I-X", "I-X", "B-X", "I-X", "O"], [("X", 0, 2), ("X", 2, 4)]),
        # Span running to the end of the sentence.
        (["O", "B-A", "I-A", "I-A"], [("A", 1, 4)]),
        # Types may contain hyphens; only the first '-' splits.
        (["B-city-name", "I-city-name", "O"], [("city-name", 0, 2)]),
        ([], []),
        (["O", "O"], []),
        # IOBES tolerated with conlleval semantics.
        (["S-A", "B-A", "E-A", "O"], [("A", 0, 1), ("A", 1, 3)]),
    ],
)
def test_bio_spans_known(tags, expected):
    assert bio_spans(tags) == expected


@pytest.mark.parametrize("bad", ["B", "I", "X-y", "B-", "o", "", "BPER", "L-A", None])
def test_bio_spans_malformed(bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        bio_spans(["O", bad])


TAGS = ["O", "B-A", "I-A", "B-B", "I-B"]


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.sampled_from(TAGS), max_size=25))
def test_bio_spans_properties(tags):
    spans = bio_spans(tags)
    assert spans == sorted(spans, key=lambda s: (s[1], s[2]))
    prev_end = 0
    covered = [0] * len(tags)
    for typ, start, end in spans:
        assert typ in ("A", "B")
        assert 0 <= prev_end <= start < end <= len(tags)
        prev_end = end
        assert tags[start][2:] == typ
        for i in range(start, end):
            assert tags[i] != "O" and tags[i][2:] == typ
            covered[i] += 1
        for i in range(start + 1, end):
            assert tags[i].startswith("I-")
    # Every non-O token lies in exactly one span, O tokens in none.
    assert covered == [0 if t == "O" else 1 for t in tags]
    # Re-encoding as IOB2 round-trips.
    iob2 = ["O"] * len(tags)
    for typ, start, end in spans:
        iob2[start] = "B-" + typ
        for i in range(start + 1, end):
            iob2[i] = "I-" + typ
    assert bio_spans(iob2) == spans


# ------------------------------------------------------ classification_report

GOLD3 = ["cat", "cat", "cat", "dog", "dog", "bird", "bird"]
PRED3 = ["cat", "dog", "cat", "dog", "cat", "bird", "cat"]


def test_classification_three_class_by_hand():
    r = classification_report(GOLD3, PRED3)
    # Rows gold, cols pred; labels sorted.
    #            bird cat dog
    #   bird      1    1   0
    #   cat       0    2   1
    #   dog       0    1   1
    assert r["confusion"] == {
        "labels": ["bird", "cat", "dog"],
        "matrix": [[1, 1, 0], [0, 2, 1], [0, 1, 1]],
    }
    assert r["support"] == 7
    assert r["accuracy"] == approx(4 / 7)
    pc = r["per_class"]
    assert list(pc) == ["bird", "cat", "dog"]
    assert pc["bird"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": approx(2 / 3),
        "support": 2,
    }
    assert pc["cat"] == {
        "precision": 0.5,
        "recall": approx(2 / 3),
        "f1": approx(4 / 7),
        "support": 3,
    }
    assert pc["dog"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert r["macro_precision"] == approx(2 / 3)
    assert r["macro_recall"] == approx(5 / 9)
    assert r["macro_f1"] == approx(73 / 126)
    assert r["weighted_f1"] == approx(85 / 147)
    assert_plain_json(r)


def test_classification_unseen_labels_no_warnings_no_nan():
    gold = ["a", "a", "x"]  # "x" is never predicted
    pred = ["a", "y", "a"]  # "y" never occurs in gold
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = classification_report(gold, pred)
    assert r["confusion"]["labels"] == ["a", "x", "y"]
    assert r["confusion"]["matrix"] == [[1, 0, 1], [1, 0, 0], [0, 0, 0]]
    assert r["per_class"]["a"] == {
        "precision": 0.5,
        "recall": 0.5,
        "f1": 0.5,
        "support": 2,
    }
    assert r["per_class"]["x"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
    }
    assert r["per_class"]["y"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
    }
    assert r["accuracy"] == approx(1 / 3)
    # Macro over the union {a, x, y}, like sklearn's default.
    assert r["macro_f1"] == approx(1 / 6)
    assert r["macro_precision"] == approx(1 / 6)
    assert r["weighted_f1"] == approx((0.5 * 2) / 3)
    assert_plain_json(r)


def test_classification_explicit_labels_order_and_extras():
    gold = ["a", "a", "x"]
    pred = ["a", "y", "a"]
    # "z" occurs nowhere: listed (zeros) but excluded from macro averages.
    # "x" is missing from labels: appended rather than dropped.
    r = classification_report(gold, pred, labels=["y", "a", "z"])
    assert r["confusion"]["labels"] == ["y", "a", "z", "x"]
    assert list(r["per_class"]) == ["y", "a", "z", "x"]
    assert r["confusion"]["matrix"][1] == [1, 1, 0, 0]  # gold a -> (y, a)
    assert r["per_class"]["z"]["support"] == 0
    assert r["macro_f1"] == approx(1 / 6)
    assert r["accuracy"] == approx(1 / 3)
    with pytest.raises(ValueError, match="duplicates"):
        classification_report(gold, pred, labels=["a", "a"])


def test_classification_edge_cases():
    r = classification_report([], [])
    assert r["accuracy"] == 0.0 and r["macro_f1"] == 0.0 and r["support"] == 0
    assert r["confusion"] == {"labels": [], "matrix": []}
    assert_plain_json(r)
    perfect = classification_report(["a", "b"], ["a", "b"])
    assert perfect["accuracy"] == perfect["macro_f1"] == perfect["weighted_f1"] == 1.0
    with pytest.raises(ValueError):
        classification_report(["a"], ["a", "b"])


def test_classification_matches_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    rng = random.Random(1)
    for _ in range(25):
        n = rng.randint(1, 40)
        gold = [rng.choice("abcd") for _ in range(n)]
        pred = [rng.choice("abcde") for _ in range(n)]
        r = classification_report(gold, pred)
        labels = r["confusion"]["labels"]
        assert labels == sorted(set(gold) | set(pred))
        assert (
            r["confusion"]["matrix"]
            == skm.confusion_matrix(gold, pred, labels=labels).tolist()
        )
        assert r["accuracy"] == pytest.approx(skm.accuracy_score(gold, pred), abs=1e-9)
        for avg, key in (("macro", "macro_f1"), ("weighted", "weighted_f1")):
            assert r[key] == pytest.approx(
                skm.f1_score(gold, pred, average=avg, zero_division=0), abs=1e-9
            )
        assert r["macro_precision"] == pytest.approx(
            skm.precision_score(gold, pred, average="macro", zero_division=0), abs=1e-9
        )
        assert r["macro_recall"] == pytest.approx(
            skm.recall_score(gold, pred, average="macro", zero_division=0), abs=1e-9
        )
        p, rc, f, s = skm.precision_recall_fscore_support(
            gold, pred, labels=labels, zero_division=0
        )
        for i, lab in enumerate(labels):
            pc = r["per_class"][lab]
            assert (pc["precision"], pc["recall"], pc["f1"]) == pytest.approx(
                (p[i], rc[i], f[i]), abs=1e-9
            )
            assert pc["support"] == s[i]


# ---------------------------------------------------------- multilabel_report


def test_multilabel_by_hand():
    gold = [["a", "b"], ["a"], ["c"], []]
    pred = [["a"], ["a", "c"], ["c"], []]
    r = multilabel_report(gold, pred)
    # tp: a=2, c=1; pred: a=2, c=2; gold: a=2, b=1, c=1.
    assert r["micro_precision"] == 0.75
    assert r["micro_recall"] == 0.75
    assert r["micro_f1"] == approx(0.75)
    assert r["per_class"]["a"] == {
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "support": 2,
    }
    assert r["per_class"]["b"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
    }
    assert r["per_class"]["c"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": approx(2 / 3),
        "support": 1,
    }
    assert r["macro_f1"] == approx(5 / 9)
    assert r["subset_accuracy"] == 0.5  # examples 2 and 3 (empty == empty)
    assert r["support"] == 4
    assert_plain_json(r)


def test_multilabel_order_and_duplicates_ignored():
    r1 = multilabel_report([["a", "b"]], [["b", "a", "a"]])
    assert r1["subset_accuracy"] == 1.0 and r1["micro_f1"] == 1.0


def test_multilabel_rejects_bare_strings_and_length_mismatch():
    with pytest.raises(TypeError, match="list of labels"):
        multilabel_report(["ab"], [["a"]])
    with pytest.raises(ValueError):
        multilabel_report([["a"]], [["a"], ["b"]])


def test_multilabel_matches_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    prep = pytest.importorskip("sklearn.preprocessing")
    rng = random.Random(2)
    universe = ["p", "q", "r", "s"]
    for _ in range(20):
        n = rng.randint(1, 30)
        gold = [rng.sample(universe, rng.randint(0, 3)) for _ in range(n)]
        pred = [rng.sample(universe, rng.randint(0, 3)) for _ in range(n)]
        r = multilabel_report(gold, pred)
        labels = sorted({x for s in gold + pred for x in s})
        if not labels:
            continue
        mlb = prep.MultiLabelBinarizer(classes=labels)
        yg, yp = mlb.fit_transform(gold), mlb.transform(pred)
        for avg in ("micro", "macro"):
            assert r[f"{avg}_f1"] == pytest.approx(
                skm.f1_score(yg, yp, average=avg, zero_division=0), abs=1e-9
            )
        assert r["micro_precision"] == pytest.approx(
            skm.precision_score(yg, yp, average="micro", zero_division=0), abs=1e-9
        )
        assert r["micro_recall"] == pytest.approx(
            skm.recall_score(yg, yp, average="micro", zero_division=0), abs=1e-9
        )
        assert r["subset_accuracy"] == pytest.approx(
            skm.accuracy_score(yg, yp), abs=1e-9
        )


# ----------------------------------------------------------------- span_report


def test_span_report_by_hand():
    gold = [["B-A", "I-A", "O", "B-B"], ["O", "B-A"]]
    pred = [["B-A", "I-A", "O", "O"], ["B-B", "B-A"]]
    r = span_report(gold, pred)
    # gold spans: A(0,2) B(3,4) | A(1,2); pred: A(0,2) | B(0,1) A(1,2); tp = 2.
    assert r["slot_precision"] == approx(2 / 3)
    assert r["slot_recall"] == approx(2 / 3)
    assert r["slot_f1"] == approx(2 / 3)
    assert r["per_slot"]["A"] == {
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "support": 2,
    }
    assert r["per_slot"]["B"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
    }
    assert r["token_accuracy"] == approx(4 / 6)
    assert r["sentences"] == 2
    assert_plain_json(r)


def test_span_report_errors_name_sentence():
    with pytest.raises(ValueError, match="sentence 1"):
        span_report([["O"], ["O", "B-A"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match=r"sentence 2.*'X-y'"):
        span_report([["O"], ["O"], ["X-y"]], [["O"], ["O"], ["O"]])
    with pytest.raises(ValueError):
        span_report([["O"]], [])


def test_span_report_empty():
    r = span_report([], [])
    assert r == {
        "slot_precision": 0.0,
        "slot_recall": 0.0,
        "slot_f1": 0.0,
        "per_slot": {},
        "token_accuracy": 0.0,
        "sentences": 0,
    }


def _random_corpus(rng: random.Random, n: int, types: str = "ABC"):
    """Gold/pred tag sequences incl. ill-formed I- starts; pred is a noisy gold."""
    tagset = ["O"] + [f"{p}-{t}" for t in types for p in "BI"]
    gold, pred = [], []
    for _ in range(n):
        length = rng.randint(1, 12)
        g = [rng.choice(tagset) if rng.random() < 0.6 else "O" for _ in range(length)]
        p = [t if rng.random() < 0.75 else rng.choice(tagset) for t in g]
        gold.append(g)
        pred.append(p)
    return gold, pred


def _assert_matches_seqeval(gold, pred):
    sq = pytest.importorskip("seqeval.metrics")
    from seqeval.metrics.sequence_labeling import get_entities

    for g in gold + pred:
        ours = bio_spans(g)
        theirs = [(t, s, e + 1) for t, s, e in get_entities(g)]
        assert ours == theirs, g
    r = span_report(gold, pred)
    kw = {"zero_division": 0}
    assert r["slot_precision"] == pytest.approx(
        sq.precision_score(gold, pred, **kw), abs=1e-9
    )
    assert r["slot_recall"] == pytest.approx(
        sq.recall_score(gold, pred, **kw), abs=1e-9
    )
    assert r["slot_f1"] == pytest.approx(sq.f1_score(gold, pred, **kw), abs=1e-9)
    rep = sq.classification_report(gold, pred, output_dict=True, **kw)
    types = sorted(k for k in rep if not k.endswith(" avg"))
    assert sorted(r["per_slot"]) == types
    for t in types:
        ours, theirs = r["per_slot"][t], rep[t]
        assert ours["precision"] == pytest.approx(theirs["precision"], abs=1e-9)
        assert ours["recall"] == pytest.approx(theirs["recall"], abs=1e-9)
        assert ours["f1"] == pytest.approx(theirs["f1-score"], abs=1e-9)
        assert ours["support"] == theirs["support"]
    if types:
        assert r["slot_f1"] == pytest.approx(rep["micro avg"]["f1-score"], abs=1e-9)


def test_span_report_matches_seqeval_random():
    pytest.importorskip("seqeval")
    rng = random.Random(1234)
    # One 300-sentence corpus plus 30 small corpora (sparser, more 0/0 cases).
    _assert_matches_seqeval(*_random_corpus(rng, 300))
    for _ in range(30):
        _assert_matches_seqeval(*_random_corpus(rng, rng.randint(1, 10)))


def test_span_report_matches_seqeval_iobes():
    pytest.importorskip("seqeval")
    rng = random.Random(99)
    tagset = ["O"] + [f"{p}-{t}" for t in "AB" for p in "BIES"]
    gold = [[rng.choice(tagset) for _ in range(rng.randint(1, 10))] for _ in range(100)]
    pred = [[t if rng.random() < 0.7 else rng.choice(tagset) for t in g] for g in gold]
    _assert_matches_seqeval(gold, pred)


# ---------------------------------------------------------------- joint_report


def test_joint_report_frame_accuracy_by_hand():
    gold_intents = ["play", "book", "play"]
    pred_intents = ["play", "book", "book"]
    gold_tags = [["B-A", "I-A", "O"], ["O", "B-B"], ["B-A", "O"]]
    pred_tags = [
        # same chunk as gold (IOB1 spelling) and intent right -> frame ok
        ["I-A", "I-A", "O"],
        ["O", "O"],  # slot missed -> frame wrong
        ["B-A", "O"],  # slots right, intent wrong -> frame wrong
    ]
    r = joint_report(gold_intents, pred_intents, gold_tags, pred_tags)
    assert r["frame_accuracy"] == approx(1 / 3)
    assert r["intent_accuracy"] == approx(2 / 3)
    assert r["slot_precision"] == 1.0
    assert r["slot_recall"] == approx(2 / 3)
    assert r["slot_f1"] == approx(0.8)
    assert r["token_accuracy"] == approx(5 / 7)
    assert r["sentences"] == 3
    assert r["intent"] == classification_report(gold_intents, pred_intents)
    for key in span_report(gold_tags, pred_tags):
        assert key in r
    assert_plain_json(r)


def test_joint_report_length_checks():
    with pytest.raises(ValueError):
        joint_report(["a"], ["a", "b"], [["O"]], [["O"]])
    with pytest.raises(ValueError):
        joint_report(["a", "b"], ["a", "b"], [["O"]], [["O"]])


# --------------------------------------------------------------------- import


def test_metrics_module_is_lightweight():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('m', {str(METRICS_PATH)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "heavy = {'numpy', 'tensorflow', 'pandas', 'keras'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert set(metrics.__all__) >= {
        "bio_spans",
        "classification_report",
        "joint_report",
        "multilabel_report",
        "prf",
        "span_report",
    }
