"""The page that shows predictions: each sentence's intent and confidence, its slots highlighted
inline (one colour per slot type, a legend, each slot's confidence on hover).

`static/index.html` is the page `textrnn serve` answers at `GET /`; its script renders the batch
route's JSON. This module renders the same structure in Python for `textrnn predict --format
html`: a standalone file with the page's stylesheet and no script, so it opens anywhere and runs
nothing. tests/test_browser.py holds the two renderings equal: change them together.
"""

from __future__ import annotations

import base64
import hashlib
import re
from html import escape
from importlib.resources import files

PALETTE = 12  # the colour classes .c0 ... .c11 in the page's stylesheet
TRUNCATED = "truncated to the model's maximum length"
NO_LABEL = "(none)"  # a label below --threshold, or no label of a multi-label model
TAIL = "</main>\n</body>\n</html>\n"


def source() -> str:
    """The served page, as shipped in the package."""
    return files("textrnn.predict").joinpath("static/index.html").read_text(encoding="utf-8")


def _inline(tag: str, page: str) -> str:
    return re.search(rf"<{tag}>(.*?)</{tag}>", page, re.DOTALL).group(1)


def _hash(code: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"


def served() -> tuple[str, str]:
    """The page and its Content-Security-Policy: its own inline style and script, requests to
    its own server, nothing from anywhere else."""
    page = source()
    return page, (f"default-src 'none'; style-src {_hash(_inline('style', page))}; "
                  f"script-src {_hash(_inline('script', page))}; connect-src 'self'; "
                  "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def colour(name: str, types: list[str]) -> str:
    """The colour class of a slot type: its place in the model's slot types, modulo PALETTE."""
    return f"c{types.index(name) % PALETTE}" if name in types else ""


def legend(types: list[str]) -> str:
    return "".join(f'<li class="{colour(name, types)}">{escape(name)}</li>' for name in types)


def sentence(result: dict, types: list[str]) -> str:
    """One prediction (a line of `predict --format jsonl`, with slot confidences) as a
    `<div>`; a blank line gives an empty one."""
    if not result["text"].strip():
        return '<div class="sentence empty"></div>'
    parts = ['<div class="sentence">']
    if "intent" in result or "label" in result:
        name = (", ".join(result["labels"]) if "labels" in result
                else result.get("intent", result.get("label")))
        prob = result.get("intent_prob", result.get("prob"))
        parts.append(f'<p class="frame"><span class="intent">{escape(name or NO_LABEL)}</span> '
                     f'<span class="prob">{prob:.3f}</span></p>')
    text, at = result["text"], 0
    parts.append('<p class="text">')
    for slot in result.get("slots", []):
        kind, start, end = escape(slot["slot"]), slot["start"], slot["end"]
        classes = f"slot {colour(slot['slot'], types)}".strip()
        parts.append(f'{escape(text[at:start])}<mark class="{classes}" data-slot="{kind}" '
                     f'title="{kind} {slot["confidence"]:.3f}">{escape(text[start:end])}</mark>')
        at = end
    parts.append(f"{escape(text[at:])}</p>")
    if result.get("truncated"):
        parts.append(f'<p class="note">{escape(TRUNCATED)}</p>')
    return "".join(parts) + "</div>"


def confidence(result: dict) -> float:
    """How sure the model is of a sentence: the lowest of its intent's (or label's)
    probability and its slots' confidences (1 when it has none of them)."""
    scores = [slot["confidence"] for slot in result.get("slots", [])]
    prob = result.get("intent_prob", result.get("prob"))
    return min(scores + ([] if prob is None else [prob]), default=1.0)


def head(types: list[str], title: str) -> str:
    """A standalone file's beginning, up to where its sentences go (then `TAIL`)."""
    style = _inline("style", source())
    return ("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            f"style-src {_hash(style)}\">\n<title>textrnn: {escape(title)}</title>\n"
            f"<style>{style}</style>\n</head>\n<body>\n<h1>textrnn<span class=\"model\">"
            f"{escape(title)}</span></h1>\n<ul class=\"legend\">{legend(types)}</ul>\n"
            "<main id=\"results\">\n")
