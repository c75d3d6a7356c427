"""Prediction over a trained model: raw text in, labels, tags and slot spans out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from textrnn.errors import UsageError
from textrnn.metrics import bio_spans
from textrnn.predict.decode import crf_marginals, viterbi_batch
from textrnn.predict.lookup import Lookups, with_lookups
from textrnn.text import MAX_CHARS, Tokenizer, Vocabulary, bigrams, char_matrix, token_words

# Keras traces a new graph per batch shape: rounding widths up to a multiple of 8 keeps their
# number small. The NumPy engine has no such cost, so it gets the exact width (no wasted steps).
KERAS_LENGTH_STEP = 8
MULTILABEL_THRESHOLD = 0.5  # a multi-label model predicts every label at or above this


@dataclass
class Analysis:
    """What the model says about one text, before formatting."""

    text: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    truncated: bool
    label_probs: np.ndarray | None = None
    tag_ids: list[int] | None = None
    tag_scores: np.ndarray | None = None  # (tokens, tags): the tag head's output, unpadded


class Predictor:
    def __init__(self, model, meta: dict, batch_size: int = 256,
                 length_step: int = KERAS_LENGTH_STEP):
        self.model = model
        self.length_step = length_step
        self.task = meta["task"]
        self.multilabel = bool(meta.get("multilabel"))
        self.tokenizer = Tokenizer(lowercase=meta["tokenizer"].get("lowercase", True))
        self.max_len = int(meta["tokenizer"]["max_len"])
        self.vocab = Vocabulary(meta["vocab"])
        self.chars = Vocabulary(meta["chars"]) if meta.get("chars") else None
        self.bigrams = Vocabulary(meta["bigrams"]) if meta.get("bigrams") else None
        self.labels = meta["labels"]
        self.tags = meta["tags"]
        # The training data's slot values (normalised), for scoring seen and unseen values.
        self.slot_values = {value for values in (meta.get("slot_values") or {}).values()
                            for value in values}
        self.lookups = meta.get("lookups")  # compiled lists (lookup.Lookups) or None
        if self.lookups is not None and not isinstance(self.lookups, Lookups):
            raise TypeError("meta['lookups'] holds a summary: load the model with "
                            "Predictor.load (or lookup.with_lookups)")
        self.batch_size = batch_size
        self._input_names = {tensor.name.split(":")[0] for tensor in model.inputs}
        self._crf = None
        if meta["model"].get("crf"):
            layer = model.get_layer("tags")
            self._crf = [np.asarray(w) for w in (layer.transitions, layer.start_transitions,
                                                 layer.end_transitions)]

    @classmethod
    def load(cls, directory: str, engine: str = "auto", meta: dict | None = None) -> Predictor:
        """`engine`: 'numpy' (no TensorFlow: fast start), 'onnx' (NumPy with ONNX Runtime's
        recurrent kernels), 'keras', or 'auto' (NumPy when the model was exported for it, else
        Keras). `meta`: the directory's, if already read."""
        from textrnn import bundle

        meta = meta or bundle.read_meta(directory)
        chosen = engine_for(meta, engine)
        if chosen != "keras":
            from textrnn.predict.runtime import NumpyModel

            return cls(NumpyModel.from_directory(directory, engine=chosen),
                       with_lookups(meta, directory), length_step=1)
        from textrnn.nn import saving  # Keras, asked for or needed

        model, meta = saving.load(directory)
        return cls(model, meta)

    def analyze(self, texts: list[str], batch_size: int | None = None) -> list[Analysis]:
        """Run the model over texts in length-sorted batches (of `batch_size`, or the
        predictor's); results in input order."""
        batch_size = batch_size or self.batch_size
        results = []
        for text in texts:
            tokens, offsets = self.tokenizer.tokenize(text)
            truncated = len(tokens) > self.max_len
            results.append(Analysis(text, tokens[: self.max_len], offsets[: self.max_len],
                                    truncated))
        order = sorted((i for i, r in enumerate(results) if r.tokens),
                       key=lambda i: len(results[i].tokens))
        for begin in range(0, len(order), batch_size):
            batch = [results[i] for i in order[begin: begin + batch_size]]
            self._run_batch(batch)
        return results

    def _run_batch(self, batch: list[Analysis]) -> None:
        lengths = [len(item.tokens) for item in batch]
        width = -(-max(lengths) // self.length_step) * self.length_step
        ids = np.zeros((len(batch), width), dtype=np.int32)
        for row, item in enumerate(batch):
            ids[row, : len(item.tokens)] = self.vocab.encode(item.tokens)
        inputs = {"tokens": ids}
        if self.chars is not None:
            inputs["chars"] = self._char_ids(batch, np.arange(width) < np.array(lengths)[:, None])
        if self.bigrams is not None:
            inputs["bigrams"] = np.zeros_like(ids)
            for row, item in enumerate(batch):
                inputs["bigrams"][row, : len(item.tokens)] = self.bigrams.encode(
                    bigrams(item.tokens))
        if "lookup" in self._input_names:
            inputs["lookup"] = np.zeros((*ids.shape, self.lookups.width), dtype=np.float32)
            for row, item in enumerate(batch):
                inputs["lookup"][row, : len(item.tokens)] = self.lookups.features(item.tokens)
        if "prev_tags" in self._input_names:
            inputs["prev_tags"] = np.zeros_like(ids)
        outputs = self.model.predict_on_batch(inputs)
        label_key = "label" if self.task == "classify" else "intent"
        if label_key in outputs:
            probs = np.asarray(outputs[label_key], dtype=np.float64)
            for item, row in zip(batch, probs):
                item.label_probs = row
        if "tags" in outputs:
            scores = np.asarray(outputs["tags"])
            for row, (item, tag_ids) in enumerate(zip(batch, self._decode_tags(scores, lengths))):
                item.tag_ids = tag_ids
                item.tag_scores = scores[row, : lengths[row]]

    def _char_ids(self, batch: list[Analysis], real: np.ndarray) -> np.ndarray:
        """(B, T, MAX_CHARS) character ids of the tokens at the `real` positions; each distinct
        token of the batch is spelled out once."""
        tokens = [token for item in batch for token in item.tokens]
        index = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
        chars = np.zeros((*real.shape, MAX_CHARS), dtype=np.int32)
        chars[real] = char_matrix(list(index), self.chars)[[index[t] for t in tokens]]
        return chars

    def _decode_tags(self, scores: np.ndarray, lengths: list[int]) -> list[list[int]]:
        if self._crf is not None:
            return viterbi_batch(scores, lengths, *self._crf)
        best = (np.argmax(scores[:, :, 1:], axis=-1) + 1).tolist()  # id 0 is padding
        return [row[:length] for row, length in zip(best, lengths)]

    def tag_confidences(self, item: Analysis) -> list[float]:
        """The probability of each predicted tag: the CRF's marginal, or the softmax's."""
        if item.tag_ids is None:
            return []
        probs = item.tag_scores if self._crf is None else crf_marginals(item.tag_scores,
                                                                         *self._crf)
        return [float(probs[step, tag]) for step, tag in enumerate(item.tag_ids)]

    @property
    def slot_types(self) -> list[str]:
        """The slot types in the order of the model's tag list (the page colours them so)."""
        return list(dict.fromkeys(tag.split("-", 1)[1] for tag in self.tags if "-" in tag))

    def predict(self, texts: list[str], top_k: int = 1, threshold: float | None = None,
                batch_size: int | None = None, slot_confidence: bool = False) -> list[dict]:
        """JSON-ready results, one per text, in order; an empty text gives an empty result."""
        return [self.describe(item, top_k, threshold, slot_confidence)
                for item in self.analyze(texts, batch_size)]

    def describe(self, item: Analysis, top_k: int = 1, threshold: float | None = None,
                 slot_confidence: bool = False) -> dict:
        """`slot_confidence` adds each slot's `confidence`: the probability of its least
        certain tag (a forward-backward pass per sentence under a CRF, so only when asked)."""
        result: dict = {"text": item.text}
        if self.task in ("classify", "joint"):
            key = "label" if self.task == "classify" else "intent"
            result.update(self._describe_labels(item.label_probs, key, top_k, threshold))
        if self.task in ("tag", "joint"):
            tags = [self.tags[t] for t in item.tag_ids] if item.tag_ids is not None else []
            result["tokens"] = [item.text[start:end] for start, end in item.offsets]
            result["tags"] = tags
            spans = bio_spans(tags)
            result["slots"] = [self._slot(item, kind, start, end) for kind, start, end in spans]
            if slot_confidence:
                confidences = self.tag_confidences(item)
                for slot, (_, start, end) in zip(result["slots"], spans):
                    slot["confidence"] = round(min(confidences[start:end]), 6)
        if item.truncated:
            result["truncated"] = True
        return result

    def _slot(self, item: Analysis, kind: str, start: int, end: int) -> dict:
        """A found slot: its type, text and character offsets; `value` when its text is a
        synonym (the canonical value)."""
        begin, stop = item.offsets[start][0], item.offsets[end - 1][1]
        slot = {"slot": kind, "text": item.text[begin:stop], "start": begin, "end": stop}
        value = self.lookups.value(slot["text"]) if self.lookups is not None else None
        if value is not None:
            slot["value"] = value
        return slot

    def _describe_labels(self, probs, key: str, top_k: int, threshold: float | None) -> dict:
        if probs is None:
            return {key: None, f"{key}_prob" if key == "intent" else "prob": None}
        prob_key = "intent_prob" if key == "intent" else "prob"
        ranked = np.argsort(-probs) if top_k > 1 or self.multilabel else [probs.argmax()]
        best = int(ranked[0])
        cutoff = threshold
        if cutoff is None and self.multilabel:
            cutoff = MULTILABEL_THRESHOLD
        result = {key: self.labels[best], prob_key: round(float(probs[best]), 6)}
        if cutoff is not None and probs[best] < cutoff:
            result[key] = None
        if self.multilabel:
            result["labels"] = [self.labels[i] for i in ranked if probs[i] >= cutoff]
        if top_k > 1:
            result["top"] = [{key: self.labels[i], "prob": round(float(probs[i]), 6)}
                             for i in ranked[:top_k]
                             if cutoff is None or probs[i] >= cutoff]
        return result

    def word_tags(self, item: Analysis, words: list[str]) -> list[str]:
        """Predicted tags per given word (the tag of its first token), for scoring tag data."""
        tags = ["O"] * len(words)
        seen = set()
        for word, tag_id in zip(token_words(words, item.offsets), item.tag_ids or []):
            if word not in seen:
                seen.add(word)
                tags[word] = self.tags[tag_id] if tag_id else "O"
        return tags


def missing_numpy_export(meta: dict) -> str | None:
    """Why a model has no NumPy export, or None when it has one."""
    engine = meta.get("engine", {})
    return None if engine.get("numpy", False) else engine.get("reason", "saved by an older textrnn")


def engine_for(meta: dict, engine: str = "auto") -> str:
    """Which engine runs a model: 'numpy', 'onnx' (only when asked) or 'keras'."""
    if engine not in ("auto", "numpy", "onnx", "keras"):
        raise UsageError(f"unknown --engine '{engine}' (choose from auto, numpy, onnx, keras)")
    missing = missing_numpy_export(meta)
    if engine in ("numpy", "onnx") and missing:
        raise UsageError(f"this model has no NumPy export ({missing}); use --engine keras")
    if engine == "onnx":
        from importlib.util import find_spec

        if find_spec("onnxruntime") is None:
            raise UsageError("--engine onnx needs onnxruntime: pip install 'textrnn[onnx]'")
        return engine
    return "numpy" if not missing and engine != "keras" else "keras"


def evaluate(predictor: Predictor, examples: list, show_errors: int = 0) -> dict:
    """Metrics of the predictor on labelled examples, by the field's conventions; with
    `show_errors`, the first that many wrong examples, gold against predicted."""
    from textrnn import metrics

    analyses = predictor.analyze([example.text for example in examples])
    report: dict = {"examples": len(examples)}
    n = len(examples)
    gold_tags = pred_tags = [None] * n
    gold_labels = pred_labels = [None] * n
    if predictor.task in ("tag", "joint"):
        gold_tags = [example.tags for example in examples]
        pred_tags = [predictor.word_tags(item, example.words)
                     for item, example in zip(analyses, examples)]
    if predictor.task in ("classify", "joint"):
        pred_labels = [_top_labels(predictor, item) for item in analyses]
        gold_labels = [example.labels for example in examples]
        unseen = sorted({label for labels in gold_labels for label in labels}
                        - set(predictor.labels))
        if unseen:
            report["unseen_labels"] = unseen
    value_of = None
    if predictor.task in ("tag", "joint") and predictor.slot_values:
        value_of = [_span_value(predictor.tokenizer, example.words) for example in examples]
    if predictor.task == "tag":
        report.update(metrics.span_report(gold_tags, pred_tags))
    elif predictor.multilabel:
        report.update(metrics.multilabel_report(gold_labels, pred_labels))
    else:
        gold = [labels[0] for labels in gold_labels]
        best = [labels[0] if labels else "" for labels in pred_labels]
        if predictor.task == "joint":
            report.update(metrics.joint_report(gold, best, gold_tags, pred_tags))
        else:
            report.update(metrics.classification_report(gold, best))
    if value_of is not None:
        report["by_value"] = metrics.value_split_report(gold_tags, pred_tags, value_of,
                                                        predictor.slot_values)
    if show_errors:
        report["errors"] = _errors(examples, gold_labels, pred_labels, gold_tags, pred_tags,
                                   show_errors, value_of, predictor.slot_values)
    return report


def _span_value(tokenizer: Tokenizer, words: list[str]):
    """value(start, end): the words start..end as the training data's slot values are kept
    (our tokens, normalised, joined by spaces)."""
    return lambda start, end: " ".join(tokenizer.tokenize(" ".join(words[start:end]))[0])


def _errors(examples, gold_labels, pred_labels, gold_tags, pred_tags, limit: int,
            value_of=None, known=frozenset()) -> list[dict]:
    """Wrong examples as {text, gold, pred}: labels, then slots as 'type=words'; with
    `value_of`, `unseen` lists the gold slots whose value training never showed."""
    found = []
    for i, (example, gl, pl, gt, pt) in enumerate(zip(examples, gold_labels, pred_labels,
                                                      gold_tags, pred_tags)):
        if set(gl or []) == set(pl or []) and gt == pt:
            continue
        found.append({"row": example.row, "text": example.text,
                      "gold": _frame(example, gl, gt), "pred": _frame(example, pl, pt)})
        if value_of is not None:
            found[-1]["unseen"] = [f"{kind}={' '.join(example.words[start:end])}"
                                   for kind, start, end in bio_spans(gt)
                                   if value_of[i](start, end) not in known]
        if len(found) == limit:
            break
    return found


def _frame(example, labels, tags) -> str:
    parts = [",".join(labels)] if labels is not None else []
    if tags is not None:
        parts += [f"{kind}={' '.join(example.words[start:end])}"
                  for kind, start, end in bio_spans(tags)]
    return " | ".join(parts)


def _top_labels(predictor: Predictor, item: Analysis) -> list[str]:
    probs = item.label_probs
    if probs is None:
        return []
    if predictor.multilabel:
        return [predictor.labels[i] for i in np.flatnonzero(probs >= MULTILABEL_THRESHOLD)]
    return [predictor.labels[int(probs.argmax())]]
