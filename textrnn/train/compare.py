"""`textrnn compare`: train several encoders on the same data, split and seed; score each."""

from __future__ import annotations

import copy
import time

from textrnn.data.examples import Corpus
from textrnn.train.defaults import resolve_spec
from textrnn.train.fit import task_score, train
from textrnn.train.prepare import TrainConfig


def compare(corpus: Corpus, valid: Corpus | None, encoders: list[str], config: TrainConfig,
            task: str, progress=None) -> tuple[list[dict], tuple | None]:
    """One row per encoder (validation score, parameters, training time, prediction speed),
    and (model, meta) of the best one. Every encoder sees the same split, seed and options."""
    from textrnn.nn.export import UnsupportedLayer, export
    from textrnn.predict.predictor import Predictor, evaluate
    from textrnn.predict.runtime import NumpyModel

    rows, best, best_score = [], None, float("-inf")
    for encoder in encoders:
        if progress is not None:
            progress(encoder)
        spec, defaulted = resolve_spec(task, encoder)
        model, meta, valid_examples = train(corpus, valid, spec, copy.deepcopy(config),
                                            defaulted=defaulted)
        report = evaluate(Predictor(model, meta), valid_examples)
        meta["metrics"] = report
        try:
            graph, weights = export(model)
            predictor = Predictor(NumpyModel(graph, weights), meta, length_step=1)
        except UnsupportedLayer:
            predictor = Predictor(model, meta)
        texts = [example.text for example in valid_examples]
        texts = texts * max(1, 2000 // len(texts))
        started = time.perf_counter()
        predictor.predict(texts)
        score = task_score(report)
        rows.append({
            "encoder": encoder,
            "score": score,
            "metrics": {key: report[key] for key in (
                "accuracy", "macro_f1", "micro_f1", "intent_accuracy", "slot_f1",
                "frame_accuracy") if key in report},
            "parameters": int(model.count_params()),
            "train_seconds": meta["training"]["seconds"],
            "epochs": meta["training"]["epochs_run"],
            "predict_sentences_per_second": round(len(texts) / (time.perf_counter() - started)),
        })
        if score > best_score:
            best, best_score = (model, meta), score
    return rows, best
