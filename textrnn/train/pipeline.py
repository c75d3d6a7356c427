"""The tf.data input pipeline: encoded sentences in, length-bucketed training batches out.

Sentences come either from arrays in memory or from a Python generator that streams files
(training.py decides which); from there on both take the same path: rare-word dropout, the
Jordan tagger's teacher forcing, and batches of sentences of similar length.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from textrnn.nn.factory import ModelSpec
from textrnn.text import MAX_CHARS

RARE_WORD_DROPOUT = 0.5  # as Lample et al. (2016) did for singletons
# Length buckets: sentences of similar length share a batch, so little compute goes to padding.
BUCKET_BOUNDARIES = (8, 12, 16, 24, 32, 48, 64, 96, 128, 192)
SHUFFLE_BUFFER = 10_000  # sentences, when streaming
# Streamed sentences cross from Python to tf.data this many at a time: one element at a time
# costs ~0.2 ms each, more than tokenizing and encoding the sentence.
CHUNK = 256
PER_TOKEN = ("tokens", "chars", "bigrams", "lookup", "tags")
FEATURES = ("chars", "bigrams", "lookup")  # model inputs beside the tokens


@dataclass
class Encoded:
    """Sentences as token ids, ready for the input pipeline."""

    tokens: list[np.ndarray]
    labels: np.ndarray | None = None  # class ids, or a multi-hot matrix
    tags: list[np.ndarray] | None = None
    chars: list[np.ndarray] | None = None  # (tokens, MAX_CHARS) character ids per sentence
    bigrams: list[np.ndarray] | None = None  # a bigram id per token
    lookup: list[np.ndarray] | None = None  # (tokens, features) lookup-list features


@dataclass
class Layout:
    """Which parts a sentence has, and their types: the signature of streamed chunks."""

    chars: bool
    bigrams: bool
    tags: bool
    labels: int  # 0: none; else how many classes
    multilabel: bool
    weights: bool
    lookup: int = 0  # lookup-list features per token

    def chunk_signature(self) -> dict:
        """CHUNK sentences at a time: every per-token part flat, with the sentence lengths."""
        import tensorflow as tf

        spec = {"lengths": tf.TensorSpec([None], tf.int64),
                "tokens": tf.TensorSpec([None], tf.int32)}
        if self.chars:
            spec["chars"] = tf.TensorSpec([None, MAX_CHARS], tf.int32)
        if self.bigrams:
            spec["bigrams"] = tf.TensorSpec([None], tf.int32)
        if self.lookup:
            spec["lookup"] = tf.TensorSpec([None, self.lookup], tf.float32)
        if self.tags:
            spec["tags"] = tf.TensorSpec([None], tf.int32)
        if self.labels:
            spec["label"] = (tf.TensorSpec([None, self.labels], tf.float32) if self.multilabel
                             else tf.TensorSpec([None], tf.int32))
        if self.weights:
            spec["weight"] = tf.TensorSpec([None], tf.float32)
        return spec


def chunks(sentences: Iterator[dict], size: int = CHUNK) -> Iterator[dict]:
    """Sentences (dicts of arrays) grouped `size` at a time into flat arrays."""
    batch: list[dict] = []
    for sentence in sentences:
        batch.append(sentence)
        if len(batch) == size:
            yield _join(batch)
            batch = []
    if batch:
        yield _join(batch)


def _join(batch: list[dict]) -> dict:
    joined = {"lengths": np.array([len(parts["tokens"]) for parts in batch], dtype=np.int64)}
    for name in batch[0]:
        values = [parts[name] for parts in batch]
        joined[name] = (np.concatenate(values) if name in PER_TOKEN else np.stack(values))
    return joined


def in_memory(encoded: Encoded, spec: ModelSpec, batch_size: int, shuffle: bool, seed: int,
              sample_weights: np.ndarray | None = None, rare_ids: np.ndarray | None = None):
    """Batches over arrays in memory, and the exact number of batches in one pass."""
    dataset = sentence_dataset(encoded, shuffle, seed, sample_weights)
    return batches(dataset, spec, batch_size, seed, rare_ids), steps_for(encoded, batch_size)


def sentence_dataset(encoded: Encoded, shuffle: bool, seed: int,
                     sample_weights: np.ndarray | None = None):
    """A dataset of sentences (dicts of arrays) over arrays in memory."""
    import tensorflow as tf

    lengths = np.array([len(tokens) for tokens in encoded.tokens], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    # One flat tensor per part, sliced per sentence: far cheaper than ragged tensor slices.
    flat = {name: tf.constant(np.concatenate(getattr(encoded, name)))
            for name in ("tokens", *FEATURES, "tags") if getattr(encoded, name) is not None}
    columns = {"start": starts, "length": lengths}
    if encoded.labels is not None:
        columns["label"] = encoded.labels
    if sample_weights is not None:
        columns["weight"] = sample_weights.astype(np.float32)

    def sentence(row):
        start, length = row["start"], row["length"]
        parts = {name: values[start:start + length] for name, values in flat.items()}
        parts.update({name: row[name] for name in ("label", "weight") if name in row})
        return parts

    dataset = tf.data.Dataset.from_tensor_slices(columns)
    if shuffle:
        dataset = dataset.shuffle(len(lengths), seed=seed, reshuffle_each_iteration=True)
    return dataset.map(sentence, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def steps_for(encoded: Encoded, batch_size: int) -> int:
    """The number of length-bucketed batches one pass over `encoded` makes."""
    return sum(math.ceil(count / batch_size) for count in Counter(
        int(np.searchsorted(BUCKET_BOUNDARIES, len(tokens), side="right"))
        for tokens in encoded.tokens).values())


def streamed(sentences: Callable[[], Iterator[dict]], layout: Layout, spec: ModelSpec,
             batch_size: int, seed: int, rare_ids: np.ndarray | None = None):
    """Endless batches over sentences a generator yields (one pass over the files each time
    it is called), shuffled within a buffer."""
    return batches(streamed_dataset(sentences, layout, seed), spec, batch_size, seed, rare_ids)


def streamed_dataset(sentences: Callable[[], Iterator[dict]], layout: Layout, seed: int):
    """An endless dataset of the sentences a generator yields, shuffled within a buffer."""
    import tensorflow as tf

    def split(chunk):
        lengths = chunk.pop("lengths")
        return {name: (tf.RaggedTensor.from_row_lengths(values, lengths) if name in PER_TOKEN
                       else values) for name, values in chunk.items()}

    dataset = tf.data.Dataset.from_generator(lambda: chunks(sentences()),
                                             output_signature=layout.chunk_signature())
    dataset = dataset.map(split).unbatch().shuffle(SHUFFLE_BUFFER, seed=seed,
                                                   reshuffle_each_iteration=True)
    return dataset.repeat()


def batches(dataset, spec: ModelSpec, batch_size: int, seed: int, rare_ids=None):
    """(inputs, targets[, sample weights]) batches grouped by sentence length.

    With `rare_ids` (a boolean per vocabulary id), each occurrence of a rare word is read as the
    unknown word with probability RARE_WORD_DROPOUT, so that the unknown-word vector is trained
    and the model learns to tag a word it has never seen from its context (and spelling).
    """
    import tensorflow as tf

    rare = tf.constant(rare_ids) if rare_ids is not None else None
    label_name = "label" if spec.task == "classify" else "intent"

    def to_model(parts):
        tokens = parts["tokens"] if rare is None else drop_rare(parts["tokens"], rare, seed)
        inputs = {"tokens": tokens}
        inputs.update({name: parts[name] for name in FEATURES if name in parts})
        targets = {}
        if "tags" in parts:
            targets["tags"] = parts["tags"]
            if spec.jordan_tagger:  # teacher forcing: the gold previous tag, 0 at the start
                inputs["prev_tags"] = tf.concat([[0], parts["tags"][:-1]], axis=0)
        if "label" in parts:
            targets[label_name] = parts["label"]
            if spec.token_intent:  # trained: the sentence's intent at every token
                targets["token_intent"] = tf.fill(tf.shape(tokens), parts["label"])
        if "weight" in parts:
            return inputs, targets, {label_name: parts["weight"]}
        return inputs, targets

    return bucketed(dataset.map(to_model, num_parallel_calls=tf.data.AUTOTUNE,
                                deterministic=True), batch_size)


def drop_rare(tokens, rare, seed: int):
    """The token ids with each rare one (`rare`: a boolean tensor per vocabulary id) read as
    the unknown word with probability RARE_WORD_DROPOUT."""
    import tensorflow as tf

    drop = tf.gather(rare, tokens) & (
        tf.random.uniform(tf.shape(tokens), seed=seed) < RARE_WORD_DROPOUT)
    return tf.where(drop, tf.ones_like(tokens), tokens)


def bucketed(dataset, batch_size: int):
    """Batches of (inputs, ...) elements whose `inputs["tokens"]` have similar lengths."""
    import tensorflow as tf

    dataset = dataset.bucket_by_sequence_length(
        lambda inputs, *_: tf.shape(inputs["tokens"])[0],
        list(BUCKET_BOUNDARIES), [batch_size] * (len(BUCKET_BOUNDARIES) + 1))
    return dataset.prefetch(tf.data.AUTOTUNE)


def auto_batch_size(rows: int, largest: int = 64) -> int:
    """`largest` sentences a batch, fewer for small data so that an epoch still makes ~30
    updates: on the 248-row sample set, batches of 64 give 4 updates an epoch and early stopping
    ends training before the slots are learnt."""
    return int(min(largest, max(8, rows // 30)))
