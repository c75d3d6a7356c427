"""Lookup lists and synonyms at run time: matching list entries in a sentence's tokens, the
per-token features the model reads, and the canonical value of a found span.

An entry is matched over tokens, after our own tokenisation and lower-casing: "New York" and
"new  york" are the entry `new york`. Matching is leftmost-longest and non-overlapping: from
each token, the longest entry starting there wins, and the search goes on after it. Each list
gives every token two features, (begins a match, continues a match); a token outside every
match of the list has (0, 0). The model learns how much to trust them: lists hold common words.

A list is held as two hash sets, its entries and their proper token prefixes (a trie without
nodes): for 100,000 GeoNames city names it builds in 0.31 s where a dict-of-dicts trie takes
1.4 s (median of 5, loaded 2-core machine), and matching costs one set lookup per token tried.
The model directory keeps both sets in `lookups.json` (plain JSON, no code), so loading
those 100,000 entries takes 0.14 s: the cold start of `textrnn predict` matters.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textrnn.errors import BundleError, DataError
from textrnn.text import joined_tokens

LOOKUP_FILE = "lookups.json"
FORMAT = "textrnn-lookups"
VERSION = 1
FEATURES_PER_LIST = 2  # begins a match, continues a match


def normalise(text: str) -> str:
    """An entry or a span as it is matched: our tokens, lower-cased, joined by spaces."""
    return joined_tokens(text)


class Matcher:
    """Leftmost-longest matching of one list's (normalised) entries over tokens."""

    def __init__(self, entries: list[str], prefixes: list[str] | None = None):
        """`prefixes`: the entries' proper prefixes, when known (stored with the model:
        loading them is ~5x faster than finding them again)."""
        self.entries = frozenset(entries)
        self.prefixes = frozenset(prefixes if prefixes is not None else _prefixes(entries))

    def spans(self, tokens: list[str]) -> list[tuple[int, int]]:
        """(start, end) token ranges of the matches, end exclusive; `tokens` lower-cased."""
        found, start, count = [], 0, len(tokens)
        while start < count:
            end, key, stop = 0, tokens[start], start + 1
            while True:
                if key in self.entries:
                    end = stop
                if stop == count or key not in self.prefixes:
                    break
                key = f"{key} {tokens[stop]}"
                stop += 1
            if end:
                found.append((start, end))
                start = end
            else:
                start += 1
        return found


def _prefixes(entries: list[str]) -> set[str]:
    """The proper token prefixes of the entries: "a b c" has "a b" and "a"."""
    found: set[str] = set()
    for entry in entries:
        cut = entry.rfind(" ")
        while cut > 0:
            entry = entry[:cut]
            if entry in found:
                break  # and so are its own prefixes
            found.add(entry)
            cut = entry.rfind(" ")
    return found


@dataclass
class LookupList:
    name: str
    slot: bool  # the name is a slot type of the training tags (its entries are values too)
    entries: list[str]  # normalised, distinct, in the order given


class Lookups:
    """The lists of a model, in feature order, and its synonyms (normalised text -> value)."""

    def __init__(self, lists: list[LookupList], synonyms: dict[str, str] | None = None,
                 matchers: list[Matcher] | None = None):
        self.lists = lists
        self.synonyms = synonyms or {}
        self.matchers = matchers or [Matcher(lookup.entries) for lookup in lists]

    @classmethod
    def compile(cls, named: dict[str, list[str]], slot_types: set[str],
                synonyms: dict[str, str]) -> Lookups:
        """From values as written: entries normalised, repeats and empty ones left out; a
        list whose name is in `slot_types` holds values of that slot. A list left with no
        entry is an error."""
        lists = []
        for name, values in named.items():
            entries = list(dict.fromkeys(filter(None, map(normalise, values))))
            if not entries:
                raise DataError(f"lookup list '{name}': no values")
            lists.append(LookupList(name, name in slot_types, entries))
        keys = {normalise(text): value for text, value in synonyms.items()}
        return cls(lists, {key: value for key, value in keys.items() if key})

    @property
    def width(self) -> int:
        """The model input's features per token."""
        return FEATURES_PER_LIST * len(self.lists)

    def features(self, tokens: list[str], rng: random.Random | None = None,
                 drop: float = 0.0) -> np.ndarray:
        """(tokens, width) float32 features; with `rng`, each match is left out with
        probability `drop` (training: the model must not learn that a match is a slot)."""
        out = np.zeros((len(tokens), self.width), dtype=np.float32)
        lowered = [token.lower() for token in tokens]
        for index, matcher in enumerate(self.matchers):
            column = FEATURES_PER_LIST * index
            for start, end in matcher.spans(lowered):
                if rng is not None and rng.random() < drop:
                    continue
                out[start, column] = 1.0
                out[start + 1: end, column + 1] = 1.0
        return out

    def value(self, text: str) -> str | None:
        """The canonical value of a span's text, if it is a synonym (case-insensitive)."""
        return self.synonyms.get(normalise(text)) if self.synonyms else None

    def summary(self) -> dict:
        """What textrnn.json says of the lists (name, slot or not, number of entries) and
        the number of synonyms."""
        return {"lists": [{"name": lookup.name, "slot": lookup.slot,
                           "entries": len(lookup.entries)} for lookup in self.lists],
                "synonyms": len(self.synonyms)}

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION,
                "lists": [{"name": lookup.name, "slot": lookup.slot, "entries": lookup.entries,
                           "prefixes": sorted(matcher.prefixes)}
                          for lookup, matcher in zip(self.lists, self.matchers)],
                "synonyms": self.synonyms}

    @classmethod
    def from_json(cls, data: dict) -> Lookups:
        if data.get("format") != FORMAT or int(data.get("version", 0)) > VERSION:
            raise ValueError(f"not a {FORMAT} file of version <= {VERSION}")
        lists = [LookupList(str(item["name"]), bool(item["slot"]), list(item["entries"]))
                 for item in data["lists"]]
        matchers = [Matcher(lookup.entries, list(item["prefixes"]))
                    for lookup, item in zip(lists, data["lists"])]
        return cls(lists, dict(data.get("synonyms") or {}), matchers)

    def save(self, folder: Path) -> None:
        (folder / LOOKUP_FILE).write_text(json.dumps(self.to_json(), ensure_ascii=False),
                                          encoding="utf-8")


def load(directory: str | Path) -> Lookups:
    """A model directory's lists; a missing or damaged file is a BundleError."""
    path = Path(directory) / LOOKUP_FILE
    try:
        return Lookups.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise BundleError(f"{directory}: {LOOKUP_FILE} missing (textrnn.json names lookup "
                          "lists)") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BundleError(f"{path}: damaged ({error})") from None


def with_lookups(meta: dict, directory: str | Path) -> dict:
    """A model directory's `meta` with the lists' summary replaced by the lists themselves."""
    return {**meta, "lookups": load(directory)} if meta.get("lookups") else meta
