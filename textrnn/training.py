"""Training: encode a corpus, split it, feed it through one length-bucketed tf.data pipeline,
fit with clipping and early stopping, and return the model with everything needed to reload it.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from textrnn import __version__
from textrnn.bundle import FORMAT_VERSION
from textrnn.data import Corpus
from textrnn.errors import DataError, UsageError
from textrnn.models import ENCODERS, ModelSpec, check_spec
from textrnn.text import (
    Tokenizer,
    Vocabulary,
    align_tags,
    bigrams,
    char_matrix,
    choose_max_len,
    cjk_share,
)

PAD_TAG = "<pad>"
RARE_WORD_DROPOUT = 0.5  # as Lample et al. (2016) did for singletons
# Bigram features are on by default when more than this share of the training tokens are CJK
# characters: a Chinese character alone is ambiguous, and words are mostly 2 characters.
BIGRAM_CJK_SHARE = 0.5
BIGRAM_MIN_COUNT = 2  # a bigram seen once in training reads as the unknown bigram
# Length buckets: sentences of similar length share a batch, so little compute goes to padding.
BUCKET_BOUNDARIES = (8, 12, 16, 24, 32, 48, 64, 96, 128, 192)


@dataclass
class TrainConfig:
    epochs: int = 40
    batch_size: int | None = None  # None: auto_batch_size
    learning_rate: float = 1e-3
    clipnorm: float = 1.0
    patience: int = 4
    valid_split: float = 0.1
    seed: int = 13
    class_weight: str | None = None  # None or "balanced"
    save_on_interrupt: bool = False
    embeddings: str | None = None  # a word-vector file
    min_count: int = 1
    max_vocab: int | None = None
    lowercase: bool = True


@dataclass
class Encoded:
    """A corpus as token ids, ready for the input pipeline."""

    tokens: list[np.ndarray]
    labels: np.ndarray | None = None  # class ids, or a multi-hot matrix
    tags: list[np.ndarray] | None = None
    chars: list[np.ndarray] | None = None  # (tokens, MAX_CHARS) character ids per sentence
    bigrams: list[np.ndarray] | None = None  # a bigram id per token
    truncated: int = 0


@dataclass
class Prepared:
    tokenizer: Tokenizer
    vocab: Vocabulary
    labels: list[str]
    tags: list[str]
    max_len: int
    train: Encoded | None
    valid_examples: list = field(default_factory=list)  # scored by the predictor each epoch
    notes: list[str] = field(default_factory=list)
    token_counts: Counter = field(default_factory=Counter)
    chars: Vocabulary | None = None
    bigrams: Vocabulary | None = None


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


def prepare(corpus: Corpus, valid_corpus: Corpus | None, config: TrainConfig,
            task: str, char_features: bool = False, use_bigrams: bool | None = False
            ) -> Prepared:
    """Tokenize, split, build the vocabulary and label sets from the training part, encode.

    `use_bigrams` None decides from the data: bigram features for mostly-CJK text."""
    tokenizer = Tokenizer(lowercase=config.lowercase)
    if valid_corpus is None and config.valid_split > 0:
        train_rows, valid_rows = split_indices(
            [_stratum(example) for example in corpus.examples], config.valid_split, config.seed)
        train_examples = [corpus.examples[i] for i in train_rows]
        valid_examples = [corpus.examples[i] for i in valid_rows]
    else:
        train_examples = corpus.examples
        valid_examples = valid_corpus.examples if valid_corpus else []
    if not train_examples:
        raise DataError(f"{corpus.source}: too few rows to train on")

    tokenized = [tokenize_example(tokenizer, example) for example in train_examples]
    token_counts = Counter(token for tokens, _ in tokenized for token in tokens)
    vocab = Vocabulary.build([tokens for tokens, _ in tokenized], config.min_count,
                             config.max_vocab)
    max_len = choose_max_len([len(tokens) for tokens, _ in tokenized])
    labels = tags = []
    if task in ("classify", "joint"):
        labels = sorted({label for example in train_examples for label in example.labels})
        if len(labels) < 2 and not corpus.multilabel:
            raise DataError(f"{corpus.source}: only one class ('{labels[0]}'); a classifier "
                            "needs at least two")
    if task in ("tag", "joint"):
        tags = [PAD_TAG, *sorted({tag for _, token_tags in tokenized for tag in token_tags})]
    prepared = Prepared(tokenizer, vocab, labels, tags, max_len, None, valid_examples,
                        token_counts=token_counts)
    if char_features:
        prepared.chars = Vocabulary.build([list(token) for token in token_counts],
                                          config.min_count)
    if use_bigrams is None:
        use_bigrams = cjk_share([tokens for tokens, _ in tokenized]) > BIGRAM_CJK_SHARE
    if use_bigrams:
        prepared.bigrams = Vocabulary.build(
            [bigrams(tokens[:max_len]) for tokens, _ in tokenized],
            max(config.min_count, BIGRAM_MIN_COUNT))
    prepared.train = encode(prepared, tokenized, train_examples, corpus.multilabel, task)
    unseen = sorted({label for example in valid_examples for label in example.labels or []}
                    - set(labels))
    if unseen:
        prepared.notes.append(f"validation labels never seen in training: {', '.join(unseen)}")
    return prepared


def tokenize_example(tokenizer: Tokenizer, example) -> tuple[list[str], list[str] | None]:
    tokens, offsets = tokenizer.tokenize(example.text)
    if example.tags is None:
        return tokens, None
    return tokens, align_tags(example.words, example.tags, offsets)


def encode(prepared: Prepared, tokenized, examples, multilabel: bool, task: str) -> Encoded:
    max_len = prepared.max_len
    token_ids = [np.asarray(prepared.vocab.encode(tokens[:max_len]) or [1], dtype=np.int32)
                 for tokens, _ in tokenized]
    encoded = Encoded(token_ids, truncated=sum(len(tokens) > max_len for tokens, _ in tokenized))
    if prepared.chars is not None:
        encoded.chars = [char_matrix(tokens[:max_len] or [""], prepared.chars)
                         for tokens, _ in tokenized]
    if prepared.bigrams is not None:
        encoded.bigrams = [
            np.asarray(prepared.bigrams.encode(bigrams(tokens[:max_len])) or [1], dtype=np.int32)
            for tokens, _ in tokenized]
    if task in ("classify", "joint"):
        index = {label: i for i, label in enumerate(prepared.labels)}
        if multilabel:
            matrix = np.zeros((len(examples), len(index)), dtype=np.float32)
            for row, example in enumerate(examples):
                for label in example.labels:
                    matrix[row, index[label]] = 1.0
            encoded.labels = matrix
        else:
            encoded.labels = np.array([index[example.labels[0]] for example in examples],
                                      dtype=np.int32)
    if task in ("tag", "joint"):
        tag_index = {tag: i for i, tag in enumerate(prepared.tags)}
        # A tag unseen in training counts as O (id of "O" if present, else 1).
        fallback = tag_index.get("O", 1)
        encoded.tags = [np.asarray([tag_index.get(tag, fallback) for tag in (tags or ["O"])]
                                   [:max_len], dtype=np.int32) for _, tags in tokenized]
    return encoded


def auto_batch_size(rows: int) -> int:
    """64 sentences a batch, fewer for small data so that an epoch still makes ~30 updates:
    on the 248-row sample set, batches of 64 give 4 updates an epoch and early stopping ends
    training before the slots are learnt."""
    return int(min(64, max(8, rows // 30)))


def make_dataset(encoded: Encoded, spec: ModelSpec, batch_size: int, shuffle: bool, seed: int,
                 sample_weights: np.ndarray | None = None, rare_ids: np.ndarray | None = None):
    """A tf.data pipeline of (inputs, targets[, weights]) batches grouped by sentence length.

    With `rare_ids` (a boolean per vocabulary id), each occurrence of a rare word is read as the
    unknown word with probability RARE_WORD_DROPOUT, so that the unknown-word vector is trained
    and the model learns to tag a word it has never seen from its context (and spelling).
    """
    import tensorflow as tf

    lengths = np.array([len(tokens) for tokens in encoded.tokens], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    flat_tokens = tf.constant(np.concatenate(encoded.tokens))
    flat_tags = tf.constant(np.concatenate(encoded.tags)) if encoded.tags is not None else None
    flat_chars = (tf.constant(np.concatenate(encoded.chars)) if encoded.chars is not None
                  else None)
    flat_bigrams = (tf.constant(np.concatenate(encoded.bigrams))
                    if encoded.bigrams is not None else None)
    columns = [starts, lengths]
    if encoded.labels is not None:
        columns.append(encoded.labels)
    if sample_weights is not None:
        columns.append(sample_weights.astype(np.float32))
    label_name = "label" if spec.task == "classify" else "intent"

    rare = tf.constant(rare_ids) if rare_ids is not None else None

    def to_example(start, length, *rest):
        inputs = {"tokens": flat_tokens[start:start + length]}
        if rare is not None:
            tokens = inputs["tokens"]
            drop = tf.gather(rare, tokens) & (
                tf.random.uniform(tf.shape(tokens), seed=seed) < RARE_WORD_DROPOUT)
            inputs["tokens"] = tf.where(drop, tf.ones_like(tokens), tokens)
        if flat_chars is not None:
            inputs["chars"] = flat_chars[start:start + length]
        if flat_bigrams is not None:
            inputs["bigrams"] = flat_bigrams[start:start + length]
        targets = {}
        if flat_tags is not None:
            tags = flat_tags[start:start + length]
            targets["tags"] = tags
            if spec.jordan_tagger:  # teacher forcing: the gold previous tag, 0 at the start
                inputs["prev_tags"] = tf.concat([[0], tags[:-1]], axis=0)
        if encoded.labels is not None:
            targets[label_name] = rest[0]
        if sample_weights is not None:
            return inputs, targets, {label_name: rest[-1]}
        return inputs, targets

    dataset = tf.data.Dataset.from_tensor_slices(tuple(columns))
    if shuffle:
        dataset = dataset.shuffle(len(lengths), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(to_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.bucket_by_sequence_length(
        lambda inputs, *_: tf.shape(inputs["tokens"])[0],
        list(BUCKET_BOUNDARIES), [batch_size] * (len(BUCKET_BOUNDARIES) + 1))
    steps = sum(math.ceil(count / batch_size) for count in Counter(
        int(np.searchsorted(BUCKET_BOUNDARIES, length, side="right")) for length in lengths
    ).values())
    return dataset.prefetch(tf.data.AUTOTUNE), steps


def balanced_weights(labels: np.ndarray, num_labels: int) -> np.ndarray:
    """Per-example weights n / (k * count[class]), as scikit-learn's 'balanced'."""
    counts = np.bincount(labels, minlength=num_labels).astype(np.float64)
    return (counts.sum() / (num_labels * counts))[labels]


def compile_model(model, spec: ModelSpec, config: TrainConfig) -> None:
    import keras

    losses, metrics = {}, {}
    for name in model.output_names:
        if name == "tags":
            if spec.crf:
                from textrnn.crf import crf_loss

                losses[name] = crf_loss(model.get_layer("tags"))
            else:
                losses[name] = "sparse_categorical_crossentropy"
                metrics[name] = ["accuracy"]
        elif spec.multilabel:
            losses[name] = "binary_crossentropy"
            metrics[name] = [keras.metrics.BinaryAccuracy(name="accuracy")]
        else:
            losses[name] = "sparse_categorical_crossentropy"
            metrics[name] = ["accuracy"]
    optimizer = keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm or None)
    model.compile(optimizer=optimizer, loss=losses, metrics=metrics)


def set_seeds(seed: int) -> None:
    import keras
    import tensorflow as tf

    os.environ["PYTHONHASHSEED"] = str(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train(corpus: Corpus, valid_corpus: Corpus | None, spec: ModelSpec, config: TrainConfig,
          progress=None, checkpoint_dir: Path | None = None, resume: bool = False,
          extra_callbacks: list = ()):
    """Fit a model; returns (keras model, metadata dict for textrnn.json, validation examples).

    `progress`, if given, is told about epochs and batches (see report.TrainingProgress).
    With `checkpoint_dir`, every epoch is checkpointed there; `resume` continues from it.
    `extra_callbacks` (e.g. TensorBoard) run after the validation score, so they see val_score.
    """
    check_spec(spec)
    if config.class_weight and (spec.task != "classify" or corpus.multilabel):
        raise UsageError("--class-weight balanced applies to single-label classification")
    set_seeds(config.seed)
    prepared = prepare(corpus, valid_corpus, config, spec.task, spec.char_features,
                       spec.bigrams)
    spec.vocab_size = len(prepared.vocab)
    spec.num_chars = len(prepared.chars) if prepared.chars else 0
    spec.bigrams = prepared.bigrams is not None
    spec.num_bigrams = len(prepared.bigrams) if prepared.bigrams else 0
    spec.num_labels = len(prepared.labels)
    spec.num_tags = len(prepared.tags)
    spec.multilabel = corpus.multilabel
    vectors = None
    if config.embeddings:
        from textrnn.embeddings import load_vectors

        # An embedding size of 0 means "the file's".
        vectors = load_vectors(config.embeddings, prepared.vocab.tokens,
                               spec.embedding_dim or None, config.seed)
        spec.embedding_dim = vectors.dim
    spec.embedding_dim = spec.embedding_dim or 128
    model = build_and_compile(spec, config)
    if vectors is not None:
        model.get_layer("embedding").set_weights([vectors.matrix])

    meta = {
        "format": "textrnn",
        "format_version": FORMAT_VERSION,
        "textrnn_version": __version__,
        "task": spec.task,
        "multilabel": corpus.multilabel,
        "tokenizer": {**prepared.tokenizer.to_json(), "max_len": prepared.max_len},
        "vocab": prepared.vocab.tokens,
        "chars": prepared.chars.tokens if prepared.chars else None,
        "bigrams": prepared.bigrams.tokens if prepared.bigrams else None,
        "labels": prepared.labels,
        "tags": prepared.tags,
        "model": spec.to_json(),
        "training": {},
        "data": {"source": corpus.source, "sha256": corpus.sha256, "rows": len(corpus.examples)},
        "embeddings": ({**vectors.to_json(), **vectors.coverage(prepared.token_counts)}
                       if vectors is not None else None),
        "metrics": {},
    }
    meta["training"] = _fit(model, meta, prepared, corpus, valid_corpus, spec, config, progress,
                            checkpoint_dir, resume, extra_callbacks)
    return model, meta, prepared.valid_examples


def _fit(model, meta, prepared, corpus, valid_corpus, spec, config, progress, checkpoint_dir,
         resume, extra_callbacks=()) -> dict:
    """model.fit with the callbacks we rely on; returns the training figures for textrnn.json."""
    from textrnn import checkpoint

    weights = (balanced_weights(prepared.train.labels, spec.num_labels)
               if config.class_weight == "balanced" else None)
    config.batch_size = config.batch_size or auto_batch_size(len(prepared.train.tokens))
    rare = np.zeros(len(prepared.vocab), dtype=bool)
    rare[2:] = [prepared.token_counts[token] <= 1 for token in prepared.vocab.tokens[2:]]
    train_data, steps = make_dataset(prepared.train, spec, config.batch_size, True, config.seed,
                                     weights, rare)
    identity = {"data_sha256": corpus.sha256,
                "valid_sha256": valid_corpus.sha256 if valid_corpus else None,
                "options": {**spec.to_json(), **asdict(config), "epochs": None,
                            "patience": None, "save_on_interrupt": None}}
    state = checkpoint.resume(checkpoint_dir, identity, model) if resume else {}
    past = state.get("history", {})
    callbacks, stopper = [], None
    if prepared.valid_examples:
        # Early stopping watches the figure users judge the model by, on the validation set.
        callbacks.append(_score_callback(meta, prepared.valid_examples))
        stopper = checkpoint.ResumableEarlyStopping(
            state.get("early_stopping"), monitor="val_score", mode="max",
            patience=config.patience, restore_best_weights=True)
        callbacks.append(stopper)
    if checkpoint_dir is not None:
        callbacks.append(checkpoint.EpochCheckpoint(
            checkpoint_dir, identity, stopper, {key: list(values) for key, values in past.items()}))
    callbacks.extend(extra_callbacks)
    if progress is not None:
        callbacks.append(_progress_callback(progress, config.epochs, steps))
    started = time.perf_counter()
    interrupted = False
    try:
        model.fit(train_data, epochs=config.epochs, initial_epoch=state.get("epoch", 0),
                  callbacks=callbacks, verbose=0)
    except KeyboardInterrupt:
        if progress is not None:
            progress.finish()
        best = stopper.best_weights if stopper is not None else None
        if not config.save_on_interrupt or best is None:
            raise
        model.set_weights(best)  # keep the best epoch so far, as the user asked
        interrupted = True
    seconds = time.perf_counter() - started
    run = model.history.history if getattr(model, "history", None) else {}
    history = {key: past.get(key, []) + run.get(key, []) for key in {*past, *run}}
    epochs_run = len(history.get("loss", []))
    return {
        **asdict(config),
        "epochs_run": epochs_run,
        "best_epoch": (int(np.argmax(history["val_score"])) + 1 if "val_score" in history
                       else epochs_run),
        "resumed_from_epoch": state.get("epoch"),
        "interrupted": interrupted,
        "seconds": round(seconds, 2),
        "sentences_per_second": round(
            (epochs_run - state.get("epoch", 0)) * len(prepared.train.tokens) / seconds, 1),
        "train_rows": len(prepared.train.tokens),
        "valid_rows": len(prepared.valid_examples),
        "truncated_rows": prepared.train.truncated,
        "history": {key: [round(float(v), 5) for v in values]
                    for key, values in history.items()},
        "notes": prepared.notes,
    }


def task_score(report: dict) -> float:
    """One figure per task for early stopping: accuracy (micro-F1 when multi-label), slot F1,
    or the mean of intent accuracy and slot F1 for joint models."""
    if "intent_accuracy" in report:
        return (report["intent_accuracy"] + report["slot_f1"]) / 2
    for key in ("slot_f1", "accuracy", "micro_f1"):
        if key in report:
            return report[key]
    raise KeyError("no score in the report")


def _score_callback(meta: dict, examples: list):
    import keras

    from textrnn.inference import Predictor, evaluate

    class ValidationScore(keras.callbacks.Callback):
        """Adds `val_score` to the epoch's logs, for early stopping and the history."""

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["val_score"] = task_score(evaluate(Predictor(self.model, meta), examples))

    return ValidationScore()


def build_and_compile(spec: ModelSpec, config: TrainConfig):
    from textrnn.models import build_model

    model = build_model(spec)
    compile_model(model, spec, config)
    return model


def _progress_callback(progress, epochs: int, steps: int):
    import keras

    class ProgressCallback(keras.callbacks.Callback):
        """Forwards Keras' events to a plain progress object (report.py draws it)."""

        def on_train_begin(self, logs=None):
            progress.start(epochs, steps)

        def on_epoch_begin(self, epoch, logs=None):
            progress.epoch_start(epoch + 1)

        def on_train_batch_end(self, batch, logs=None):
            progress.batch_end(batch + 1, logs or {})

        def on_epoch_end(self, epoch, logs=None):
            progress.epoch_end(epoch + 1, logs or {})

        def on_train_end(self, logs=None):
            progress.finish()

    return ProgressCallback()


def mostly_cjk(corpus: Corpus, sample: int = 2000) -> bool:
    """Whether most tokens of the corpus (its first `sample` texts) are CJK characters."""
    tokenizer = Tokenizer()
    texts = [example.text for example in corpus.examples[:sample]]
    return cjk_share([tokenizer.tokenize(text)[0] for text in texts]) > BIGRAM_CJK_SHARE


def default_encoder(task: str, corpus: Corpus) -> str:
    """The BiLSTM, except for classifying mostly-CJK text: there the CNN (with bigram
    features) scored 55.25% on TNEWS dev against the BiLSTM's 53.86%, in 181 s against 494 s
    (docs/benchmarks.md's protocol, seed 13)."""
    return "cnn" if task == "classify" and mostly_cjk(corpus) else "lstm"


def default_spec(task: str, encoder: str = "lstm", **overrides) -> ModelSpec:
    """A spec with the encoder's defaults; `overrides` that are None keep the default."""
    info = ENCODERS.get(encoder)
    # Bidirectional by default where it applies; the Jordan tagger decodes left to right.
    # Slot filling gets a CRF (SNIPS dev slot F1 87.5 -> 90.1) and character features
    # (92.5 -> 93.2), both measured with `make bench` / docs/benchmarks.md.
    tagging = task in ("tag", "joint")
    jordan_tagger = encoder == "jordan" and tagging
    values = {"units": info.units if info else 128,
              "bidirectional": bool(info and info.recurrent and not jordan_tagger),
              "crf": tagging and not jordan_tagger, "char_features": tagging}
    values.update({key: value for key, value in overrides.items() if value is not None})
    return ModelSpec(task=task, vocab_size=0, encoder=encoder, **values)
