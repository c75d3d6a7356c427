"""Rasa NLU's `/model/parse` answer, so a Rasa client can switch servers without a change."""

from __future__ import annotations

from textrnn.predict.predictor import Analysis, Predictor

RANKING_LENGTH = 10  # Rasa's default intent_ranking length
FALLBACK_INTENT = "nlu_fallback"  # Rasa's name for "no intent": the best is below the threshold


def parse_result(predictor: Predictor, item: Analysis) -> dict:
    """{"text", "intent": {"name", "confidence"}, "intent_ranking", "entities"}; an entity's
    confidence is that of its least certain token. Where `predict` says null (the best label
    is below the threshold, multi-label models' 0.5), the intent is `nlu_fallback` with the
    best label's probability, first in the ranking, as `predict --format rasa` groups it."""
    result = predictor.describe(item, top_k=RANKING_LENGTH, slot_confidence=True)
    key = "label" if predictor.task == "classify" else "intent"
    ranking = [{"name": entry[key], "confidence": entry["prob"]}
               for entry in result.get("top", [])]
    best = result.get("prob", result.get("intent_prob"))
    if best is not None and result[key] is None:
        ranking.insert(0, {"name": FALLBACK_INTENT, "confidence": best})
    intent = ranking[0] if ranking else {"name": None, "confidence": 0.0}
    entities = [{"entity": slot["slot"], "value": slot.get("value", slot["text"]),
                 "start": slot["start"], "end": slot["end"],
                 "confidence_entity": slot["confidence"], "extractor": "textrnn"}
                for slot in result.get("slots", [])]
    return {"text": item.text, "intent": intent, "intent_ranking": ranking,
            "entities": entities}
