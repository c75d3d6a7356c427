"""Evaluation metrics for text classification and slot filling.

Pure Python (no numpy/TensorFlow import) so it loads in milliseconds. Every
function returns plain dicts/lists of Python ``float``/``int`` values that are
JSON-serialisable; nothing is rounded (the display layer rounds).

Conventions:

* Undefined ratios (0/0) are reported as ``0.0``; no warnings, never NaN.
* Macro averages are the unweighted mean of per-class scores over the labels
  that occur in gold *or* predictions (sklearn's default label set).  Labels
  passed explicitly via ``labels=`` that occur in neither are still listed in
  ``per_class`` (all zeros) but do not drag the macro averages down.
* Span metrics follow CoNLL ``conlleval`` chunk semantics (identical to
  seqeval's default, non-strict mode).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Sequence

__all__ = [
    "bio_spans",
    "classification_report",
    "joint_report",
    "multilabel_report",
    "prf",
    "span_report",
    "value_split_report",
]

Span = tuple[str, int, int]

# Chunk prefixes accepted by bio_spans. E-/S- (IOBES) are tolerated with
# conlleval semantics; anything else is rejected.
_PREFIXES = frozenset("BIES")


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts; 0.0 wherever undefined."""
    p = tp / (tp + fp) if tp + fp > 0 else 0.0
    r = tp / (tp + fn) if tp + fn > 0 else 0.0
    f = 2.0 * p * r / (p + r) if p + r > 0 else 0.0
    return float(p), float(r), float(f)


def _ratio(num: float, den: float) -> float:
    return float(num) / den if den else 0.0


def _mean(values: list[float]) -> float:
    return float(sum(values)) / len(values) if values else 0.0


def _check_same_length(a: Sequence, b: Sequence, what: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{what}: gold has {len(a)} items but pred has {len(b)}")


def _label_list(
    labels: Sequence[Hashable] | None, observed: set[Hashable]
) -> list[Hashable]:
    """Explicit labels (in the given order) followed by any unlisted observed
    labels (sorted); or the sorted observed labels when ``labels`` is None."""
    if labels is None:
        return sorted(observed)
    out = list(labels)
    if len(set(out)) != len(out):
        raise ValueError("labels contains duplicates")
    known = set(out)
    out.extend(sorted(x for x in observed if x not in known))
    return out


def _per_class_block(
    lab_list: list[Hashable],
    tp: dict[Hashable, int],
    n_pred: dict[Hashable, int],
    n_gold: dict[Hashable, int],
) -> tuple[dict, list[float], list[float], list[float]]:
    """Per-label scores plus the P/R/F lists over labels seen in gold or pred."""
    per_class: dict = {}
    ps: list[float] = []
    rs: list[float] = []
    fs: list[float] = []
    for lab in lab_list:
        t, g, q = tp.get(lab, 0), n_gold.get(lab, 0), n_pred.get(lab, 0)
        p, r, f = prf(t, q - t, g - t)
        per_class[lab] = {"precision": p, "recall": r, "f1": f, "support": int(g)}
        if g or q:
            ps.append(p)
            rs.append(r)
            fs.append(f)
    return per_class, ps, rs, fs


def classification_report(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] | None = None
) -> dict:
    """Single-label classification metrics.

    ``labels`` fixes the order of ``per_class`` and the confusion matrix; it
    defaults to the sorted union of gold and predicted labels. Observed labels
    missing from an explicit ``labels`` are appended (sorted) rather than
    dropped. Macro averages run over labels occurring in gold or pred (the
    union, as sklearn does); ``weighted_f1`` weights by gold support.

    Returns keys ``accuracy``, ``macro_f1``, ``weighted_f1``,
    ``macro_precision``, ``macro_recall``, ``per_class`` (label ->
    {precision, recall, f1, support}), ``confusion`` ({labels, matrix}; rows
    are gold, columns pred) and ``support`` (number of examples).
    """
    gold, pred = list(gold), list(pred)
    _check_same_length(gold, pred, "classification_report")
    lab_list = _label_list(labels, set(gold) | set(pred))
    index = {lab: i for i, lab in enumerate(lab_list)}
    k = len(lab_list)
    matrix = [[0] * k for _ in range(k)]
    for g, p in zip(gold, pred):
        matrix[index[g]][index[p]] += 1

    tp = {lab: matrix[i][i] for i, lab in enumerate(lab_list)}
    n_gold = {lab: sum(matrix[i]) for i, lab in enumerate(lab_list)}
    n_pred = {lab: sum(row[i] for row in matrix) for i, lab in enumerate(lab_list)}
    per_class, ps, rs, fs = _per_class_block(lab_list, tp, n_pred, n_gold)

    n = len(gold)
    correct = sum(tp.values())
    weighted = _ratio(sum(per_class[lab]["f1"] * n_gold[lab] for lab in lab_list), n)
    return {
        "accuracy": _ratio(correct, n),
        "macro_f1": _mean(fs),
        "weighted_f1": weighted,
        "macro_precision": _mean(ps),
        "macro_recall": _mean(rs),
        "per_class": per_class,
        "confusion": {"labels": list(lab_list), "matrix": matrix},
        "support": n,
    }


def multilabel_report(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    labels: Sequence[str] | None = None,
) -> dict:
    """Multi-label metrics; each example is a collection of labels (treated as a set).

    Micro scores pool (label, example) decisions over all labels; macro scores
    average per-label scores over labels occurring in gold or pred.
    ``subset_accuracy`` is the fraction of examples whose predicted label set
    equals the gold set exactly.

    Returns keys ``micro_f1``, ``micro_precision``, ``micro_recall``,
    ``macro_f1``, ``macro_precision``, ``macro_recall``, ``subset_accuracy``,
    ``per_class`` (label -> {precision, recall, f1, support}; support = number
    of gold examples carrying the label) and ``support`` (number of examples).
    """
    gold_sets = [_as_label_set(x, "gold", i) for i, x in enumerate(gold)]
    pred_sets = [_as_label_set(x, "pred", i) for i, x in enumerate(pred)]
    _check_same_length(gold_sets, pred_sets, "multilabel_report")
    observed: set = set()
    for s in gold_sets + pred_sets:
        observed |= s
    lab_list = _label_list(labels, observed)

    tp: dict = {}
    n_gold: dict = {}
    n_pred: dict = {}
    exact = 0
    for g, p in zip(gold_sets, pred_sets):
        exact += g == p
        for lab in g:
            n_gold[lab] = n_gold.get(lab, 0) + 1
        for lab in p:
            n_pred[lab] = n_pred.get(lab, 0) + 1
        for lab in g & p:
            tp[lab] = tp.get(lab, 0) + 1
    per_class, ps, rs, fs = _per_class_block(lab_list, tp, n_pred, n_gold)

    t = sum(tp.values())
    mp, mr, mf = prf(t, sum(n_pred.values()) - t, sum(n_gold.values()) - t)
    return {
        "micro_f1": mf,
        "micro_precision": mp,
        "micro_recall": mr,
        "macro_f1": _mean(fs),
        "macro_precision": _mean(ps),
        "macro_recall": _mean(rs),
        "subset_accuracy": _ratio(exact, len(gold_sets)),
        "per_class": per_class,
        "support": len(gold_sets),
    }


def _as_label_set(labels: Sequence[str], side: str, i: int) -> set:
    if isinstance(labels, str):
        raise TypeError(
            f"{side} example {i} is the string {labels!r}; expected a list of labels"
        )
    return set(labels)


def _parse_tag(tag: str, i: int) -> tuple[str, str]:
    """Split a tag into (prefix, type); 'O' -> ('O', '')."""
    if tag == "O":
        return "O", ""
    if isinstance(tag, str) and len(tag) > 2 and tag[1] == "-" and tag[0] in _PREFIXES:
        return tag[0], tag[2:]
    raise ValueError(
        f"malformed tag {tag!r} at position {i}: expected 'O' or B-<type>/I-<type>"
    )


def _chunk_ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    # conlleval endOfChunk
    if prev_tag == "O":
        return False
    if prev_tag in ("E", "S"):
        return True
    if tag in ("B", "S", "O"):
        return True
    return prev_type != type_


def _chunk_starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    # conlleval startOfChunk
    if tag == "O":
        return False
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O"):
        return True
    return prev_type != type_


def bio_spans(tags: Sequence[str]) -> list[Span]:
    """Chunks of a BIO/IOB1/IOB2 tag sequence as sorted (type, start, end_exclusive).

    conlleval semantics: a chunk starts at ``B-x``, or at ``I-x`` after ``O``,
    after a different type, or at sentence start; it ends before ``O``, any
    ``B-``, or a different type. ``E-``/``S-`` (IOBES) tags are also accepted
    with conlleval's rules. Any other tag raises ``ValueError`` naming it.
    """
    spans: list[Span] = []
    prev_tag, prev_type, begin = "O", "", 0
    n = len(tags)
    for i in range(n + 1):
        tag, type_ = _parse_tag(tags[i], i) if i < n else ("O", "")
        if _chunk_ends(prev_tag, tag, prev_type, type_):
            spans.append((prev_type, begin, i))
        if _chunk_starts(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return spans


def _sentence_spans(tags: Sequence[str], side: str, i: int) -> set[Span]:
    try:
        return set(bio_spans(tags))
    except ValueError as exc:
        raise ValueError(f"{side} sentence {i}: {exc}") from None


def _span_stats(
    gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]
) -> tuple[dict, list[bool]]:
    """span_report dict plus, per sentence, whether the span sets match exactly."""
    _check_same_length(gold, pred, "span_report (sentences)")
    tp: dict[str, int] = {}
    n_gold: dict[str, int] = {}
    n_pred: dict[str, int] = {}
    tokens = correct_tokens = 0
    spans_match: list[bool] = []
    for i, (g_tags, p_tags) in enumerate(zip(gold, pred)):
        if len(g_tags) != len(p_tags):
            raise ValueError(
                f"sentence {i}: gold has {len(g_tags)} tags but pred has {len(p_tags)}"
            )
        g_spans = _sentence_spans(g_tags, "gold", i)
        p_spans = _sentence_spans(p_tags, "pred", i)
        spans_match.append(g_spans == p_spans)
        for s in g_spans:
            n_gold[s[0]] = n_gold.get(s[0], 0) + 1
        for s in p_spans:
            n_pred[s[0]] = n_pred.get(s[0], 0) + 1
        for s in g_spans & p_spans:
            tp[s[0]] = tp.get(s[0], 0) + 1
        tokens += len(g_tags)
        correct_tokens += sum(a == b for a, b in zip(g_tags, p_tags))

    types = sorted(set(n_gold) | set(n_pred))
    per_slot, _, _, _ = _per_class_block(types, tp, n_pred, n_gold)
    t = sum(tp.values())
    p, r, f = prf(t, sum(n_pred.values()) - t, sum(n_gold.values()) - t)
    report = {
        "slot_precision": p,
        "slot_recall": r,
        "slot_f1": f,
        "per_slot": per_slot,
        "token_accuracy": _ratio(correct_tokens, tokens),
        "sentences": len(gold),
    }
    return report, spans_match


def span_report(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """Slot-filling metrics over tag sequences (one list of tags per sentence).

    ``slot_*`` are micro-averaged over exact (type, start, end) chunk matches
    with conlleval semantics (equal to seqeval's default mode). Raises
    ``ValueError`` naming the sentence index if a gold/pred pair differs in
    length or contains a malformed tag.

    Returns keys ``slot_precision``, ``slot_recall``, ``slot_f1``,
    ``per_slot`` (type -> {precision, recall, f1, support}; types from gold or
    pred, sorted), ``token_accuracy`` and ``sentences`` (count).
    """
    return _span_stats(gold, pred)[0]


def joint_report(
    gold_intents: Sequence[str],
    pred_intents: Sequence[str],
    gold_tags: Sequence[Sequence[str]],
    pred_tags: Sequence[Sequence[str]],
) -> dict:
    """Joint intent detection + slot filling metrics.

    A sentence counts towards ``frame_accuracy`` iff its intent is right and
    its set of predicted chunks equals the gold set (tag spellings may differ,
    e.g. IOB1 vs IOB2, as long as the chunks agree).

    Returns ``intent_accuracy``, ``frame_accuracy``, every key of
    :func:`span_report`, and ``intent`` (:func:`classification_report` of the
    intents).
    """
    gold_intents, pred_intents = list(gold_intents), list(pred_intents)
    _check_same_length(gold_intents, pred_intents, "joint_report (intents)")
    if len(gold_intents) != len(gold_tags):
        raise ValueError(
            f"joint_report: {len(gold_intents)} intents but {len(gold_tags)} tag sequences"
        )
    slots, spans_match = _span_stats(gold_tags, pred_tags)
    intent = classification_report(gold_intents, pred_intents)
    frames = sum(
        ok and g == p for ok, g, p in zip(spans_match, gold_intents, pred_intents)
    )
    return {
        "intent_accuracy": intent["accuracy"],
        "frame_accuracy": _ratio(frames, len(gold_intents)),
        **slots,
        "intent": intent,
    }


def value_split_report(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    span_values: Sequence[Callable[[int, int], str]],
    known: Collection[str],
) -> dict:
    """Span P/R/F1 split by whether a span's value occurs in `known` (the training data's slot
    values): ``seen`` and ``unseen``, each {precision, recall, f1, support}.

    ``span_values[i](start, end)`` is the normalised text of sentence i's tokens start..end.
    A gold span counts by its own value (recall), a predicted span by the value it covers
    (precision); an exact match has the same value on both sides, so the split is consistent.
    """
    _check_same_length(gold, pred, "value_split_report (sentences)")
    counts = {side: {"tp": 0, "gold": 0, "pred": 0} for side in ("seen", "unseen")}
    for i, (g_tags, p_tags, value) in enumerate(zip(gold, pred, span_values)):
        g_spans = _sentence_spans(g_tags, "gold", i)
        p_spans = _sentence_spans(p_tags, "pred", i)
        for spans, key in ((g_spans, "gold"), (p_spans, "pred")):
            for _, start, end in spans:
                counts["seen" if value(start, end) in known else "unseen"][key] += 1
        for _, start, end in g_spans & p_spans:
            counts["seen" if value(start, end) in known else "unseen"]["tp"] += 1
    report = {}
    for side, c in counts.items():
        p, r, f = prf(c["tp"], c["pred"] - c["tp"], c["gold"] - c["tp"])
        report[side] = {"precision": p, "recall": r, "f1": f, "support": c["gold"]}
    return report
