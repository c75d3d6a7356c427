"""Reading and checking request bodies: whatever a client sends, the answer is a `BadRequest`
naming the problem (a 4xx), never an exception that reaches the server."""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Query:
    """One request's texts for the model, and how to describe the results."""

    texts: list[str]
    top_k: int = 1
    threshold: float | None = None
    rasa: bool = False  # answer in Rasa's /model/parse shape
    slot_confidence: bool = False  # each slot's confidence (the page shows it on hover)


async def read_json(request: Request, limit: int) -> object:
    """The body as JSON: at most `limit` bytes of UTF-8."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BadRequest(f"body of {declared} bytes is over the limit of {limit} (--max-body)",
                         413)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BadRequest(f"body over the limit of {limit} bytes (--max-body)", 413)
            chunks.append(chunk)
    except ClientDisconnect:
        raise BadRequest("client disconnected") from None
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"body is not UTF-8 (byte {error.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BadRequest(f"body is not JSON ({error.msg}, line {error.lineno} column "
                         f"{error.colno})") from None


def parse_query(body: object) -> Query:
    """`{"text": "..."}` (Rasa's /model/parse)."""
    if not isinstance(body, dict) or "text" not in body:
        raise BadRequest('expected a JSON object with a "text" field')
    return Query([_text(body["text"], '"text"')], top_k=1, rasa=True)


def batch_query(body: object, max_instances: int) -> Query:
    """`{"instances": ["...", ...], "top_k": K, "threshold": P, "slot_confidence": true}` (the
    last three optional)."""
    if not isinstance(body, dict) or "instances" not in body:
        raise BadRequest('expected a JSON object with an "instances" list')
    instances = body["instances"]
    if not isinstance(instances, list):
        raise BadRequest('"instances" must be a list of strings')
    if not instances:
        raise BadRequest('"instances" is empty')
    if len(instances) > max_instances:
        raise BadRequest(f'{len(instances)} instances is over the limit of {max_instances} '
                         "(--max-instances)", 413)
    texts = [_text(text, f'"instances"[{i}]') for i, text in enumerate(instances)]
    top_k = body.get("top_k", 1)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise BadRequest('"top_k" must be an integer of at least 1')
    threshold = body.get("threshold")
    if threshold is not None and (isinstance(threshold, bool)
                                  or not isinstance(threshold, (int, float))
                                  or not 0 <= threshold <= 1):
        raise BadRequest('"threshold" must be a number from 0 to 1, or null')
    slot_confidence = body.get("slot_confidence", False)
    if not isinstance(slot_confidence, bool):
        raise BadRequest('"slot_confidence" must be true or false')
    return Query(texts, top_k, threshold, slot_confidence=slot_confidence)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{where} must be a string, not {_kind(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{where} is not valid Unicode (a lone surrogate escape)") from None
    return value


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
