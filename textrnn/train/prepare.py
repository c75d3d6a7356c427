"""Preparing the data for training: tokenize, split off validation, learn the vocabulary
(and characters, bigrams), label and tag sets from the training part, in memory or in one
streaming pass over files, and encode sentences as arrays for the tf.data pipeline.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from textrnn.data.examples import Corpus, Lexicon, is_multilabel
from textrnn.data.shards import Shards, estimate_rows, held_out
from textrnn.errors import DataError, UsageError
from textrnn.metrics import bio_spans
from textrnn.predict.lookup import Lookups
from textrnn.text import (
    OOV,
    PAD,
    Tokenizer,
    Vocabulary,
    align_tags,
    bigrams,
    char_matrix,
    choose_max_len,
    cjk_share,
)
from textrnn.train.lookups import MATCH_DROPOUT, compile_lookups
from textrnn.train.pipeline import Encoded

# Bigram features are on by default when more than this share of the training tokens are CJK
# characters: a Chinese character alone is ambiguous, and words are mostly 2 characters.
BIGRAM_CJK_SHARE = 0.5
BIGRAM_MIN_COUNT = 2  # a bigram seen once in training reads as the unknown bigram
CJK_SAMPLE = 2000  # texts looked at to tell whether the data is mostly CJK
VALID_CAP = 5000  # validation rows held out of a streamed file (kept in memory, scored each epoch)
# Distinct training values kept per slot type (for scoring unseen values and substituting
# values in training); a streamed corpus can name millions.
MAX_SLOT_VALUES = 100_000
CHAR_ROWS_CACHED = 200_000  # tokens whose character rows Prepared.char_rows keeps (~26 MB)


@dataclass
class TrainConfig:
    """Training options; those left as None take the task's defaults (train/defaults.py)."""

    epochs: int | None = None
    batch_size: int | None = None  # None: auto_batch_size
    learning_rate: float | None = None  # None: the task's default
    # The learning rate is multiplied by this every fit.DECAY_UPDATES updates (None: the
    # task's default).
    lr_decay: float | None = None
    warmup: int = 0  # updates of linear learning-rate warm-up first
    clipnorm: float = 1.0
    patience: int | None = None  # None: the task's default
    valid_split: float = 0.1
    seed: int = 13
    class_weight: str | None = None  # None or "balanced"
    save_on_interrupt: bool = False
    embeddings: str | None = None  # a word-vector file
    min_count: int = 1
    max_vocab: int | None = None
    lowercase: bool = True
    steps_per_epoch: int | None = None  # streaming: batches per epoch (None: one pass)
    vocab_file: str | None = None  # a fixed vocabulary, one token per line
    pretrained: str | None = None  # a pretrained directory to start from
    freeze_epochs: int | None = None  # epochs the pretrained layers stay fixed (None: 1)
    pretrained_lr_scale: float = 1.0  # the pretrained layers learn at this x the learning rate
    # Slot noise (train/augment.py), per gold span and epoch; None: the task's default.
    slot_substitution: float | None = None  # takes another value of its type
    slot_unknown: float | None = None  # its tokens read as the unknown word
    lookup_files: list[str] = field(default_factory=list)  # --lookup NAME=FILE options

    def __post_init__(self):
        at_least = {"--epochs": (self.epochs, 1), "--batch-size": (self.batch_size, 1),
                    "--patience": (self.patience, 0), "--min-count": (self.min_count, 1),
                    "--max-vocab": (self.max_vocab, 1), "--clipnorm": (self.clipnorm, 0)}
        for option, (value, least) in at_least.items():
            if value is not None and value < least:
                raise UsageError(f"{option} must be at least {least}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise UsageError("--lr must be positive")
        if self.class_weight not in (None, "balanced"):
            raise UsageError("--class-weight takes 'balanced'")
        if not 0 <= self.valid_split < 1:
            raise UsageError("--valid-split must be in [0, 1)")
        if self.lr_decay is not None and not 0 < self.lr_decay <= 1:
            raise UsageError("--lr-decay must be in (0, 1]")
        if self.warmup < 0:
            raise UsageError("--warmup must be 0 or more updates")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise UsageError("--steps-per-epoch must be positive")
        if self.pretrained and (self.embeddings or self.vocab_file):
            raise UsageError("--pretrained brings its own vectors and vocabulary: drop "
                             "--embeddings and --vocab")
        if self.freeze_epochs is not None and self.freeze_epochs < 0:
            raise UsageError("--freeze-epochs must be 0 or more")
        if not 0 < self.pretrained_lr_scale <= 1:
            raise UsageError("--pretrained-lr-scale must be in (0, 1]")
        for option, value in (("--slot-substitution", self.slot_substitution),
                              ("--slot-unknown", self.slot_unknown)):
            if value is not None and not 0 <= value <= 1:
                raise UsageError(f"{option} must be a probability in [0, 1]")


@dataclass
class Prepared:
    tokenizer: Tokenizer
    vocab: Vocabulary
    labels: list[str]
    tags: list[str]
    max_len: int
    multilabel: bool
    train_rows: int
    train: Encoded | None = None  # None when streaming
    # In memory: the training sentences as (tokens, tags) and their examples (for slot noise).
    tokenized: list | None = None
    train_examples: list | None = None
    valid_examples: list = field(default_factory=list)  # scored by the predictor each epoch
    notes: list[str] = field(default_factory=list)
    token_counts: Counter = field(default_factory=Counter)
    label_counts: Counter = field(default_factory=Counter)
    chars: Vocabulary | None = None
    bigrams: Vocabulary | None = None
    # Per slot type, the distinct values (tokens joined by spaces) training showed.
    slot_values: dict[str, list[str]] = field(default_factory=dict)
    truncated: int = 0
    holdout: float = 0.0  # streaming: the fraction of rows held_out() keeps for validation
    lookups: Lookups | None = None  # lookup lists and synonyms (train/lookups.py)
    _char_rows: dict = field(default_factory=dict, repr=False)

    def char_rows(self, tokens: list[str]) -> np.ndarray:
        """text.char_matrix of the tokens, each token's row encoded once (slot noise and
        streaming encode the same words every epoch)."""
        cache = self._char_rows
        missing = [token for token in dict.fromkeys(tokens) if token not in cache]
        if missing:
            if len(cache) + len(missing) > CHAR_ROWS_CACHED:
                cache.clear()
            cache.update(zip(missing, char_matrix(missing, self.chars)))
        return np.stack([cache[token] for token in tokens])

    @cached_property
    def label_index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    @cached_property
    def tag_index(self) -> dict[str, int]:
        return {tag: i for i, tag in enumerate(self.tags)}

    def label_ids(self, example) -> int | np.ndarray:
        if self.multilabel:
            vector = np.zeros(len(self.labels), dtype=np.float32)
            vector[[self.label_index[label] for label in example.labels]] = 1.0
            return vector
        return self.label_index[example.labels[0]]


def split_indices(keys: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded, stratified split: each class gives `fraction` of its rows to validation."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        by_key[key].append(index)
    rng = random.Random(seed)
    train, valid = [], []
    for key in sorted(by_key):
        rows = by_key[key]
        rng.shuffle(rows)
        take = round(fraction * len(rows)) if len(rows) > 1 else 0
        valid.extend(rows[:take])
        train.extend(rows[take:])
    return sorted(train), sorted(valid)


def _stratum(example) -> str:
    return "|".join(example.labels) if example.labels is not None else ""


class _Tally:
    """What one pass over the training rows learns: words (and bigrams, when they are
    features), lengths, labels, tags."""

    def __init__(self, tokenizer: Tokenizer, count_bigrams: bool):
        self.tokenizer = tokenizer
        self.count_bigrams = count_bigrams
        self.bigram_counts: Counter = Counter()
        self.token_counts: Counter = Counter()
        self.lengths: Counter = Counter()
        self.label_counts: Counter = Counter()
        self.tags: set[str] = set()
        self.slot_values: dict[str, set[str]] = defaultdict(set)
        self.rows = 0

    def add(self, example) -> tuple[list[str], list[str] | None]:
        tokens, tags = tokenize_example(self.tokenizer, example)
        self.rows += 1
        self.token_counts.update(tokens)
        if self.count_bigrams:
            self.bigram_counts.update(bigrams(tokens))
        self.lengths[len(tokens)] += 1
        if example.labels is not None:
            self.label_counts.update(example.labels)
        if tags is not None:
            self.tags.update(tags)
            for kind, start, end in bio_spans(tags):
                values = self.slot_values[kind]
                if len(values) < MAX_SLOT_VALUES:
                    values.add(" ".join(tokens[start:end]))
        return tokens, tags


def split_corpus(corpus: Corpus, valid_corpus: Corpus | None, config: TrainConfig
                 ) -> tuple[list, list]:
    """The training and validation examples: `valid_corpus`'s, or a seeded stratified split."""
    if valid_corpus is None and config.valid_split > 0:
        train_rows, valid_rows = split_indices(
            [_stratum(example) for example in corpus.examples], config.valid_split, config.seed)
        return ([corpus.examples[i] for i in train_rows],
                [corpus.examples[i] for i in valid_rows])
    return corpus.examples, valid_corpus.examples if valid_corpus else []


def prepare(corpus: Corpus, valid_corpus: Corpus | None, config: TrainConfig,
            task: str, char_features: bool = False, use_bigrams: bool = False,
            base: dict | None = None) -> Prepared:
    """Tokenize, split, build the vocabulary and label sets from the training part, encode."""
    tokenizer = Tokenizer(lowercase=config.lowercase)
    train_examples, valid_examples = split_corpus(corpus, valid_corpus, config)
    tally = _Tally(tokenizer, use_bigrams)
    tokenized = [tally.add(example) for example in train_examples]
    prepared = _from_tally(tally, corpus.source, valid_examples, corpus.multilabel, config,
                           task, char_features, base)
    prepared.lookups = compile_lookups(corpus.lexicon, config.lookup_files, prepared.tags,
                                       prepared.notes)
    prepared.train = encode(prepared, tokenized, train_examples, task)
    prepared.tokenized, prepared.train_examples = tokenized, train_examples
    return prepared


def prepare_streamed(shards: Shards, valid_corpus: Corpus | None, config: TrainConfig,
                     task: str, char_features: bool = False, use_bigrams: bool = False,
                     base: dict | None = None) -> Prepared:
    """One streaming pass over the files: vocabulary, lengths, labels and tags, with memory
    bounded by the vocabulary, not the data. Without --valid, a seeded ~10% of the rows (at
    most about VALID_CAP) is held out for validation, the same rows on every pass."""
    fraction = 0.0
    if valid_corpus is None and config.valid_split > 0:
        fraction = min(config.valid_split, VALID_CAP / estimate_rows(shards.files))
    tally = _Tally(Tokenizer(lowercase=config.lowercase), use_bigrams)
    valid_examples = list(valid_corpus.examples) if valid_corpus else []
    warnings: list[str] = []
    lexicon = Lexicon()
    multilabel = False
    for file_index, example in shards.examples(warnings, lexicon=lexicon):
        multilabel |= is_multilabel(example, shards.options)
        if fraction and held_out(file_index, example.row, fraction, config.seed):
            valid_examples.append(example)
        else:
            tally.add(example)
    prepared = _from_tally(tally, shards.pattern, valid_examples, multilabel, config, task,
                           char_features, base)
    prepared.notes.extend(warnings)
    prepared.holdout = fraction
    prepared.lookups = compile_lookups(lexicon, config.lookup_files, prepared.tags,
                                       prepared.notes)
    return prepared


def _from_tally(tally: _Tally, source: str, valid_examples: list, multilabel: bool,
                config: TrainConfig, task: str, char_features: bool,
                base: dict | None = None) -> Prepared:
    """`base`: a pretrained directory's vocabularies (`vocab`, `chars`, `bigrams`), which come
    first, in their order (see merged_vocabulary)."""
    if not tally.rows:
        raise DataError(f"{source}: too few rows to train on")
    base = base or {}
    if base.get("vocab"):
        vocab = merged_vocabulary(base["vocab"], tally.token_counts, config.min_count)
    elif config.vocab_file:
        vocab = read_vocab_file(config.vocab_file, config.max_vocab)
    else:
        vocab = Vocabulary.from_counts(tally.token_counts, config.min_count, config.max_vocab)
    labels = tags = []
    if task in ("classify", "joint"):
        labels = sorted(tally.label_counts)
        if len(labels) < 2 and not multilabel:
            raise DataError(f"{source}: only one class ('{labels[0]}'); a classifier "
                            "needs at least two")
    if task in ("tag", "joint"):
        tags = [PAD, *sorted(tally.tags)]  # tag id 0 (text.PAD_TAG) pads
    max_len = choose_max_len(tally.lengths)
    prepared = Prepared(tally.tokenizer, vocab, labels, tags, max_len, multilabel, tally.rows,
                        valid_examples=valid_examples, token_counts=tally.token_counts,
                        label_counts=tally.label_counts,
                        slot_values={kind: sorted(values)
                                     for kind, values in sorted(tally.slot_values.items())},
                        truncated=sum(n for length, n in tally.lengths.items() if length > max_len))
    if char_features:
        chars = Counter(char for token in tally.token_counts for char in token)
        prepared.chars = merged_vocabulary(base.get("chars"), chars, config.min_count)
    if tally.count_bigrams:
        prepared.bigrams = merged_vocabulary(base.get("bigrams"), tally.bigram_counts,
                                             max(config.min_count, BIGRAM_MIN_COUNT))
    unseen = sorted({label for example in valid_examples for label in example.labels or []}
                    - set(labels))
    if unseen:
        prepared.notes.append(f"validation labels never seen in training: {', '.join(unseen)}")
    return prepared


def merged_vocabulary(first: list[str] | None, counts: Counter, min_count: int) -> Vocabulary:
    """The tokens of `counts` seen at least `min_count` times, most frequent first, after the
    pretrained vocabulary `first` (when given) in its own order: its ids stay those of the
    pretrained rows, and the tokens it lacks take the ids after them."""
    if not first:
        return Vocabulary.from_counts(counts, min_count)
    known = set(first)
    extra = Vocabulary.from_counts(Counter({token: count for token, count in counts.items()
                                            if token not in known}), min_count)
    return Vocabulary([*first, *extra.tokens[2:]])


def read_vocab_file(path: str, max_size: int | None) -> Vocabulary:
    """A vocabulary file: one token per line (a word-count file's first column will do),
    most frequent first; tokens are matched as the tokenizer writes them (lowercased)."""
    tokens: dict[str, None] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                token = line.split(maxsplit=1)[0] if line.strip() else ""
                if token and token not in (PAD, OOV):
                    tokens[token] = None
    except OSError as error:
        raise UsageError(f"--vocab {path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text (--vocab expects one token per line)") from None
    if not tokens:
        raise DataError(f"{path}: no tokens (--vocab expects one token per line)")
    ranked = list(tokens)[: max_size - 2 if max_size else None]
    return Vocabulary([PAD, OOV, *ranked])


def tokenize_example(tokenizer: Tokenizer, example) -> tuple[list[str], list[str] | None]:
    tokens, offsets = tokenizer.tokenize(example.text)
    if example.tags is None:
        return tokens, None
    return tokens, align_tags(example.words, example.tags, offsets)


def sentence_parts(prepared: Prepared, tokens: list[str], tags: list[str] | None, example,
                   task: str, rng: random.Random | None = None) -> dict:
    """One training sentence as arrays: token ids, character ids, lookup-list features, tag
    ids, label. With `rng`, lookup matches are dropped at random (see train/lookups.py)."""
    tokens = tokens[: prepared.max_len]
    parts = {"tokens": np.asarray(prepared.vocab.encode(tokens) or [1], dtype=np.int32)}
    if prepared.chars is not None:
        parts["chars"] = prepared.char_rows(tokens or [""])
    if prepared.bigrams is not None:
        parts["bigrams"] = np.asarray(prepared.bigrams.encode(bigrams(tokens)) or [1],
                                      dtype=np.int32)
    if prepared.lookups is not None and prepared.lookups.width:
        parts["lookup"] = prepared.lookups.features(tokens or [""], rng, MATCH_DROPOUT)
    if task in ("classify", "joint"):
        parts["label"] = prepared.label_ids(example)
    if task in ("tag", "joint"):
        tag_index = prepared.tag_index
        # A tag unseen in training counts as O (id of "O" if present, else 1).
        fallback = tag_index.get("O", 1)
        parts["tags"] = np.asarray([tag_index.get(tag, fallback) for tag in (tags or ["O"])]
                                   [: prepared.max_len], dtype=np.int32)
    return parts


def encode(prepared: Prepared, tokenized, examples, task: str) -> Encoded:
    sentences = [sentence_parts(prepared, tokens, tags, example, task)
                 for (tokens, tags), example in zip(tokenized, examples)]
    encoded = Encoded([parts["tokens"] for parts in sentences])
    if prepared.chars is not None:
        encoded.chars = [parts["chars"] for parts in sentences]
    if prepared.bigrams is not None:
        encoded.bigrams = [parts["bigrams"] for parts in sentences]
    if sentences and "lookup" in sentences[0]:
        encoded.lookup = [parts["lookup"] for parts in sentences]
    if task in ("classify", "joint"):
        encoded.labels = np.asarray([parts["label"] for parts in sentences])
    if task in ("tag", "joint"):
        encoded.tags = [parts["tags"] for parts in sentences]
    return encoded


def streamed_sentences(prepared: Prepared, shards: Shards, task: str, seed: int,
                       weights: np.ndarray | None, worker: int = 0, workers: int = 1):
    """A generator factory for pipeline.streamed: this worker's training sentences, one pass
    over its files each call. With fewer files than workers the rows are dealt round-robin."""
    by_row = len(shards.files) < workers
    passes = itertools.count()

    def sentences():
        rng = random.Random(seed * 100_003 + next(passes))  # lookup matches dropped afresh
        dealt = 0
        for file_index, example in shards.examples([], worker, workers):
            if prepared.holdout and held_out(file_index, example.row, prepared.holdout, seed):
                continue
            dealt += 1
            if by_row and dealt % workers != worker:
                continue
            tokens, tags = tokenize_example(prepared.tokenizer, example)
            parts = sentence_parts(prepared, tokens, tags, example, task, rng)
            if weights is not None:
                parts["weight"] = np.float32(weights[parts["label"]])
            yield parts

    return sentences


def class_weights(label_counts: Counter, labels: list[str]) -> np.ndarray:
    """Per-class weights n / (k * count[class]), as scikit-learn's 'balanced'."""
    counts = np.array([label_counts[label] for label in labels], dtype=np.float64)
    return counts.sum() / (len(labels) * counts)


def sample_texts(data: Corpus | Shards, count: int = CJK_SAMPLE) -> list[str]:
    """The first `count` texts of the training data."""
    if isinstance(data, Shards):
        return [example.text for _, example in itertools.islice(data.examples([]), count)]
    return [example.text for example in data.examples[:count]]


def mostly_cjk(texts: list[str]) -> bool:
    """Whether most tokens of these texts are CJK characters."""
    tokenizer = Tokenizer()
    return cjk_share([tokenizer.tokenize(text)[0] for text in texts]) > BIGRAM_CJK_SHARE
