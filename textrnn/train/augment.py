"""Slot noise: training sentences whose slot values change every epoch, so that the tagger learns
to find a slot from its context rather than from the few values the data names.

Two kinds, each per gold span and seeded: the span's tokens are replaced by another value of
the same slot type (the training data's values, and the user's lookup lists), with the tags
rebuilt (Kim et al. 2019, data noising for open-vocabulary slots); or the span's tokens are read
as the unknown word while the character features still see their spelling.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from textrnn.metrics import bio_spans
from textrnn.text import OOV_ID


@dataclass
class SlotNoise:
    substitute: float  # probability that a span takes another value of its type
    unknown: float  # probability that a span's tokens read as the unknown word
    values: dict[str, list[list[str]]]  # per slot type, the values to substitute (tokens)

    @classmethod
    def from_values(cls, substitute: float, unknown: float,
                    values: dict[str, list[str]]) -> SlotNoise:
        return cls(substitute, unknown, {kind: [value.split(" ") for value in found]
                                         for kind, found in values.items() if found})

    @property
    def active(self) -> bool:
        return self.substitute > 0 or self.unknown > 0

    def apply(self, tokens: list[str], tags: list[str], rng: random.Random, spans=None
              ) -> tuple[list[str], list[str], list[int]]:
        """The sentence with its spans (`spans`: bio_spans(tags), if known) noised, and the
        positions to read as unknown."""
        out_tokens: list[str] = []
        out_tags: list[str] = []
        unknown: list[int] = []
        position = 0
        for kind, start, end in bio_spans(tags) if spans is None else spans:
            out_tokens += tokens[position:start]
            out_tags += tags[position:start]
            value = tokens[start:end]
            choices = self.values.get(kind)
            if choices and rng.random() < self.substitute:
                value = rng.choice(choices)
            if rng.random() < self.unknown:
                unknown.extend(range(len(out_tokens), len(out_tokens) + len(value)))
            out_tokens += value
            out_tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(value) - 1)
            position = end
        out_tokens += tokens[position:]
        out_tags += tags[position:]
        return out_tokens, out_tags, unknown


def noisy_sentences(tokenized: list[tuple[list[str], list[str] | None]], examples: list,
                    encode: Callable[[list[str], list[str] | None, object, random.Random],
                                     dict],
                    noise: SlotNoise, seed: int) -> Callable[[], Iterator[dict]]:
    """A generator factory for pipeline.streamed: every call is one epoch over the training
    sentences in a fresh seeded order, each with fresh slot noise, encoded by `encode` (which
    draws its own per-epoch features, the lookup lists', from the same generator)."""
    epochs = itertools.count()
    spans = [None if tags is None else bio_spans(tags) for _, tags in tokenized]

    def sentences():
        rng = random.Random(seed * 100_003 + next(epochs))
        order = list(range(len(examples)))
        rng.shuffle(order)
        for index in order:
            tokens, tags = tokenized[index]
            unknown: list[int] = []
            if tags is not None:
                tokens, tags, unknown = noise.apply(tokens, tags, rng, spans[index])
            parts = encode(tokens, tags, examples[index], rng)
            if unknown:
                ids = parts["tokens"]
                ids[[i for i in unknown if i < len(ids)]] = OOV_ID
            yield parts

    return sentences

