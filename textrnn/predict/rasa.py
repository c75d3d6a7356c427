"""Rasa NLU's `/model/parse` answer, so a Rasa client can switch servers without a change."""

from __future__ import annotations

from textrnn.predict.predictor import Analysis, Predictor

RANKING_LENGTH = 10  # Rasa's default intent_ranking length


def parse_result(predictor: Predictor, item: Analysis) -> dict:
    """{"text", "intent": {"name", "confidence"}, "intent_ranking", "entities"}; an entity's
    confidence is that of its least certain token."""
    result = predictor.describe(item, top_k=RANKING_LENGTH)
    key = "label" if predictor.task == "classify" else "intent"
    ranking = [{"name": entry[key], "confidence": entry["prob"]}
               for entry in result.get("top", [])]
    intent = ranking[0] if ranking else {"name": None, "confidence": 0.0}
    confidences = predictor.tag_confidences(item)
    entities = []
    for slot in result.get("slots", []):
        steps = [i for i, (start, end) in enumerate(item.offsets)
                 if start >= slot["start"] and end <= slot["end"]]
        entities.append({"entity": slot["slot"], "value": slot.get("value", slot["text"]),
                         "start": slot["start"],
                         "end": slot["end"],
                         "confidence_entity": round(min(confidences[i] for i in steps), 6),
                         "extractor": "textrnn"})
    return {"text": item.text, "intent": intent, "intent_ranking": ranking,
            "entities": entities}
