"""Training: learn the vocabulary and label sets from the training data (a corpus in memory, or
one streaming pass over files), feed the sentences through the length-bucketed tf.data pipeline,
fit with clipping and early stopping (model.fit in one process, distributed.py's loop across
workers), and return the model with everything needed to reload it.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import random
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from textrnn import __version__
from textrnn.bundle import FORMAT_VERSION
from textrnn.data.examples import Corpus, is_multilabel
from textrnn.data.shards import Shards, estimate_rows, fingerprint, held_out
from textrnn.errors import DataError, UsageError
from textrnn.nn.factory import ENCODERS, ModelSpec, check_spec
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
from textrnn.train.pipeline import Encoded, Layout, auto_batch_size, in_memory, streamed

PAD_TAG = "<pad>"
# Bigram features are on by default when more than this share of the training tokens are CJK
# characters: a Chinese character alone is ambiguous, and words are mostly 2 characters.
BIGRAM_CJK_SHARE = 0.5
BIGRAM_MIN_COUNT = 2  # a bigram seen once in training reads as the unknown bigram
CJK_SAMPLE = 2000  # texts looked at to tell whether the data is mostly CJK
VALID_CAP = 5000  # validation rows held out of a streamed file (kept in memory, scored each epoch)


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
    steps_per_epoch: int | None = None  # streaming: batches per epoch (None: one pass)
    vocab_file: str | None = None  # a fixed vocabulary, one token per line


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
    valid_examples: list = field(default_factory=list)  # scored by the predictor each epoch
    notes: list[str] = field(default_factory=list)
    token_counts: Counter = field(default_factory=Counter)
    label_counts: Counter = field(default_factory=Counter)
    chars: Vocabulary | None = None
    bigrams: Vocabulary | None = None
    truncated: int = 0
    holdout: float = 0.0  # streaming: the fraction of rows held_out() keeps for validation

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
        return tokens, tags


def prepare(corpus: Corpus, valid_corpus: Corpus | None, config: TrainConfig,
            task: str, char_features: bool = False, use_bigrams: bool = False) -> Prepared:
    """Tokenize, split, build the vocabulary and label sets from the training part, encode."""
    tokenizer = Tokenizer(lowercase=config.lowercase)
    if valid_corpus is None and config.valid_split > 0:
        train_rows, valid_rows = split_indices(
            [_stratum(example) for example in corpus.examples], config.valid_split, config.seed)
        train_examples = [corpus.examples[i] for i in train_rows]
        valid_examples = [corpus.examples[i] for i in valid_rows]
    else:
        train_examples = corpus.examples
        valid_examples = valid_corpus.examples if valid_corpus else []
    tally = _Tally(tokenizer, use_bigrams)
    tokenized = [tally.add(example) for example in train_examples]
    prepared = _from_tally(tally, corpus.source, valid_examples, corpus.multilabel, config,
                           task, char_features)
    prepared.train = encode(prepared, tokenized, train_examples, task)
    return prepared


def prepare_streamed(shards: Shards, valid_corpus: Corpus | None, config: TrainConfig,
                     task: str, char_features: bool = False, use_bigrams: bool = False
                     ) -> Prepared:
    """One streaming pass over the files: vocabulary, lengths, labels and tags, with memory
    bounded by the vocabulary, not the data. Without --valid, a seeded ~10% of the rows (at
    most about VALID_CAP) is held out for validation, the same rows on every pass."""
    fraction = 0.0
    if valid_corpus is None and config.valid_split > 0:
        fraction = min(config.valid_split, VALID_CAP / estimate_rows(shards.files))
    tally = _Tally(Tokenizer(lowercase=config.lowercase), use_bigrams)
    valid_examples = list(valid_corpus.examples) if valid_corpus else []
    warnings: list[str] = []
    multilabel = False
    for file_index, example in shards.examples(warnings):
        multilabel |= is_multilabel(example, shards.options)
        if fraction and held_out(file_index, example.row, fraction, config.seed):
            valid_examples.append(example)
        else:
            tally.add(example)
    prepared = _from_tally(tally, shards.pattern, valid_examples, multilabel, config, task,
                           char_features)
    prepared.notes.extend(warnings)
    prepared.holdout = fraction
    return prepared


def _from_tally(tally: _Tally, source: str, valid_examples: list, multilabel: bool,
                config: TrainConfig, task: str, char_features: bool) -> Prepared:
    if not tally.rows:
        raise DataError(f"{source}: too few rows to train on")
    if config.vocab_file:
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
        tags = [PAD_TAG, *sorted(tally.tags)]
    max_len = choose_max_len(tally.lengths)
    prepared = Prepared(tally.tokenizer, vocab, labels, tags, max_len, multilabel, tally.rows,
                        valid_examples=valid_examples, token_counts=tally.token_counts,
                        label_counts=tally.label_counts,
                        truncated=sum(n for length, n in tally.lengths.items() if length > max_len))
    if char_features:
        prepared.chars = Vocabulary.build([list(token) for token in tally.token_counts],
                                          config.min_count)
    if tally.count_bigrams:
        prepared.bigrams = Vocabulary.from_counts(tally.bigram_counts,
                                                  max(config.min_count, BIGRAM_MIN_COUNT))
    unseen = sorted({label for example in valid_examples for label in example.labels or []}
                    - set(labels))
    if unseen:
        prepared.notes.append(f"validation labels never seen in training: {', '.join(unseen)}")
    return prepared


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
                   task: str) -> dict:
    """One training sentence as arrays: token ids, character ids, tag ids, label."""
    tokens = tokens[: prepared.max_len]
    parts = {"tokens": np.asarray(prepared.vocab.encode(tokens) or [1], dtype=np.int32)}
    if prepared.chars is not None:
        parts["chars"] = char_matrix(tokens or [""], prepared.chars)
    if prepared.bigrams is not None:
        parts["bigrams"] = np.asarray(prepared.bigrams.encode(bigrams(tokens)) or [1],
                                      dtype=np.int32)
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

    def sentences():
        dealt = 0
        for file_index, example in shards.examples([], worker, workers):
            if prepared.holdout and held_out(file_index, example.row, prepared.holdout, seed):
                continue
            dealt += 1
            if by_row and dealt % workers != worker:
                continue
            tokens, tags = tokenize_example(prepared.tokenizer, example)
            parts = sentence_parts(prepared, tokens, tags, example, task)
            if weights is not None:
                parts["weight"] = np.float32(weights[parts["label"]])
            yield parts

    return sentences


def class_weights(label_counts: Counter, labels: list[str]) -> np.ndarray:
    """Per-class weights n / (k * count[class]), as scikit-learn's 'balanced'."""
    counts = np.array([label_counts[label] for label in labels], dtype=np.float64)
    return counts.sum() / (len(labels) * counts)


def compile_model(model, spec: ModelSpec, config: TrainConfig) -> None:
    import keras

    losses, metrics = {}, {}
    for name in model.output_names:
        if name == "tags":
            if spec.crf:
                from textrnn.nn.crf import crf_loss

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


def train(data: Corpus | Shards, valid_corpus: Corpus | None, spec: ModelSpec,
          config: TrainConfig, progress=None, checkpoint_dir: Path | None = None,
          resume: bool = False, extra_callbacks: list = (), cluster=None,
          worker_timeout: float = 300):
    """Fit a model; returns (keras model, metadata dict for textrnn.json, validation examples).

    `data` is a corpus in memory, or Shards streamed from files as training goes.
    `progress`, if given, is told about epochs and batches (see report.TrainingProgress).
    With `checkpoint_dir`, every epoch is checkpointed there; `resume` continues from it.
    `extra_callbacks` (e.g. TensorBoard) run after the validation score, so they see val_score.
    With a `cluster` (distributed.Cluster), this process is one of several workers.
    """
    check_spec(spec)
    if spec.bigrams is None:
        spec.bigrams = mostly_cjk(sample_texts(data))
    strategy = None
    if cluster is not None:  # first: the strategy must exist before TensorFlow runs anything
        from textrnn.train import distributed

        strategy = distributed.connect(cluster, worker_timeout)
    set_seeds(config.seed)
    if isinstance(data, Shards):
        prepared = prepare_streamed(data, valid_corpus, config, spec.task, spec.char_features,
                                    spec.bigrams)
        source = {"source": data.pattern, "files": len(data.files), "streamed": True,
                  "sha256": fingerprint(data.files), "rows": prepared.train_rows}
    else:
        prepared = prepare(data, valid_corpus, config, spec.task, spec.char_features,
                           spec.bigrams)
        source = {"source": data.source, "sha256": data.sha256, "rows": len(data.examples)}
    if config.class_weight and (spec.task != "classify" or prepared.multilabel):
        raise UsageError("--class-weight balanced applies to single-label classification")
    model, meta = _build(prepared, spec, config, source, strategy)
    if strategy is None:
        meta["training"] = _fit(model, meta, prepared, data, valid_corpus, spec, config,
                                progress, checkpoint_dir, resume, extra_callbacks)
        return model, meta, prepared.valid_examples
    from textrnn.nn.factory import build_model

    local = build_model(spec)  # outside the strategy: validated and saved as a plain model
    meta["training"] = _fit_distributed(strategy, cluster, model, local, meta, prepared, data,
                                        spec, config, progress, extra_callbacks, worker_timeout)
    return local, meta, prepared.valid_examples


def _build(prepared: Prepared, spec: ModelSpec, config: TrainConfig, source: dict,
           strategy=None):
    """The compiled model (with pretrained vectors if asked; under the strategy's scope when
    distributed) and its textrnn.json metadata."""
    spec.vocab_size = len(prepared.vocab)
    spec.num_chars = len(prepared.chars) if prepared.chars else 0
    spec.num_bigrams = len(prepared.bigrams) if prepared.bigrams else 0
    spec.num_labels = len(prepared.labels)
    spec.num_tags = len(prepared.tags)
    spec.multilabel = prepared.multilabel
    vectors = None
    if config.embeddings:
        from textrnn.data.vectors import load_vectors

        # An embedding size of 0 means "the file's".
        vectors = load_vectors(config.embeddings, prepared.vocab.tokens,
                               spec.embedding_dim or None, config.seed)
        spec.embedding_dim = vectors.dim
    spec.embedding_dim = spec.embedding_dim or 128
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_and_compile(spec, config)
        if vectors is not None:
            model.get_layer("embedding").set_weights([vectors.matrix])
    meta = {
        "format": "textrnn",
        "format_version": FORMAT_VERSION,
        "textrnn_version": __version__,
        "task": spec.task,
        "multilabel": prepared.multilabel,
        "tokenizer": {**prepared.tokenizer.to_json(), "max_len": prepared.max_len},
        "vocab": prepared.vocab.tokens,
        "chars": prepared.chars.tokens if prepared.chars else None,
        "bigrams": prepared.bigrams.tokens if prepared.bigrams else None,
        "labels": prepared.labels,
        "tags": prepared.tags,
        "model": spec.to_json(),
        "training": {},
        "data": source,
        "embeddings": ({**vectors.to_json(), **vectors.coverage(prepared.token_counts)}
                       if vectors is not None else None),
        "metrics": {},
    }
    return model, meta


def training_data(prepared: Prepared, data: Corpus | Shards, spec: ModelSpec,
                  config: TrainConfig, worker: int = 0, workers: int = 1):
    """The batches to fit on and the number of batches an epoch takes."""
    weights = (class_weights(prepared.label_counts, prepared.labels)
               if config.class_weight == "balanced" else None)
    config.batch_size = config.batch_size or auto_batch_size(prepared.train_rows)
    rare = np.zeros(len(prepared.vocab), dtype=bool)
    rare[2:] = [prepared.token_counts[token] <= 1 for token in prepared.vocab.tokens[2:]]
    if prepared.train is not None:
        train = prepared.train
        if workers > 1:  # each worker its share of the rows
            train = Encoded(*(None if part is None else part[worker::workers]
                              for part in (getattr(train, f.name) for f in fields(train))))
        return in_memory(train, spec, config.batch_size, True, config.seed,
                         weights[train.labels] if weights is not None else None, rare)
    layout = Layout(chars=prepared.chars is not None, bigrams=prepared.bigrams is not None,
                    tags=bool(prepared.tags),
                    labels=len(prepared.labels), multilabel=prepared.multilabel,
                    weights=weights is not None)
    sentences = streamed_sentences(prepared, data, spec.task, config.seed, weights, worker,
                                   workers)
    return (streamed(sentences, layout, spec, config.batch_size, config.seed, rare),
            steps_per_epoch(prepared, config))


def steps_per_epoch(prepared: Prepared, config: TrainConfig) -> int:
    """Batches an epoch of streamed (or distributed) training takes: --steps-per-epoch, else
    about one pass over the training rows."""
    return config.steps_per_epoch or max(1, math.ceil(prepared.train_rows / config.batch_size))


def _fit(model, meta, prepared, data, valid_corpus, spec, config, progress, checkpoint_dir,
         resume, extra_callbacks=()) -> dict:
    """model.fit with the callbacks we rely on; returns the training figures for textrnn.json."""
    from textrnn.train import checkpoint

    train_data, steps = training_data(prepared, data, spec, config)
    identity = {"data_sha256": meta["data"]["sha256"],
                "valid_sha256": valid_corpus.sha256 if valid_corpus else None,
                "options": {**spec.to_json(), **asdict(config), "epochs": None,
                            "patience": None, "save_on_interrupt": None}}
    state = checkpoint.resume(checkpoint_dir, identity, model) if resume else {}
    past = state.get("history", {})
    callbacks, stopper = _validation_callbacks(meta, prepared, config, state)
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
                  steps_per_epoch=steps if prepared.train is None else None,
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
    return training_figures(prepared, config, history, seconds, state.get("epoch"),
                            interrupted, steps)


def _validation_callbacks(meta: dict, prepared: Prepared, config: TrainConfig,
                          state: dict | None = None) -> tuple[list, object]:
    """The validation score and early stopping on it (none without validation data)."""
    if not prepared.valid_examples:
        return [], None
    from textrnn.train.checkpoint import ResumableEarlyStopping

    # Early stopping watches the figure users judge the model by, on the validation set.
    stopper = ResumableEarlyStopping((state or {}).get("early_stopping"), monitor="val_score",
                                     mode="max", patience=config.patience,
                                     restore_best_weights=True)
    return [_score_callback(meta, prepared.valid_examples), stopper], stopper


def _fit_distributed(strategy, cluster, model, local, meta, prepared, data, spec, config,
                     progress, extra_callbacks, timeout) -> dict:
    """The custom multi-worker loop of distributed.py, with our callbacks. The batch size is
    the global one: each worker takes its share; every worker runs the same number of steps."""
    from textrnn.train import distributed

    workers = len(cluster.workers)
    config.batch_size = config.batch_size or auto_batch_size(prepared.train_rows)
    per_worker = replace(config, batch_size=max(1, config.batch_size // workers))
    steps = steps_per_epoch(prepared, config)

    def datasets(worker: int, count: int):
        dataset, _ = training_data(prepared, data, spec, per_worker, worker, count)
        return dataset.repeat()

    callbacks, _ = _validation_callbacks(meta, prepared, config)
    if cluster.is_chief:  # other workers write nothing
        callbacks.extend(extra_callbacks)
    if progress is not None:
        callbacks.append(_progress_callback(progress, config.epochs, steps))
    history, seconds = distributed.fit(strategy, cluster, model, local, datasets, steps,
                                       config.epochs, callbacks, timeout)
    figures = training_figures(prepared, config, history, seconds, None, False, steps)
    figures["workers"] = workers
    figures["weights_sha256"] = distributed.weights_fingerprint(local)
    return figures


def training_figures(prepared: Prepared, config: TrainConfig, history: dict, seconds: float,
                     resumed_from: int | None, interrupted: bool, steps: int) -> dict:
    """What textrnn.json records of a training run."""
    epochs_run = len(history.get("loss", []))
    per_epoch = (prepared.train_rows if prepared.train is not None or not config.steps_per_epoch
                 else steps * config.batch_size)
    return {
        **asdict(config),
        "epochs_run": epochs_run,
        "best_epoch": (int(np.argmax(history["val_score"])) + 1 if "val_score" in history
                       else epochs_run),
        "resumed_from_epoch": resumed_from,
        "interrupted": interrupted,
        "seconds": round(seconds, 2),
        "sentences_per_second": round(
            (epochs_run - (resumed_from or 0)) * per_epoch / max(seconds, 1e-9), 1),
        "train_rows": prepared.train_rows,
        "valid_rows": len(prepared.valid_examples),
        "truncated_rows": prepared.truncated,
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

    from textrnn.predict.predictor import Predictor, evaluate

    class ValidationScore(keras.callbacks.Callback):
        """Adds `val_score` to the epoch's logs, for early stopping and the history."""

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["val_score"] = task_score(evaluate(Predictor(self.model, meta), examples))

    return ValidationScore()


def build_and_compile(spec: ModelSpec, config: TrainConfig):
    from textrnn.nn.factory import build_model

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


def sample_texts(data: Corpus | Shards, count: int = CJK_SAMPLE) -> list[str]:
    """The first `count` texts of the training data."""
    if isinstance(data, Shards):
        return [example.text for _, example in itertools.islice(data.examples([]), count)]
    return [example.text for example in data.examples[:count]]


def mostly_cjk(texts: list[str]) -> bool:
    """Whether most tokens of these texts are CJK characters."""
    tokenizer = Tokenizer()
    return cjk_share([tokenizer.tokenize(text)[0] for text in texts]) > BIGRAM_CJK_SHARE


def default_encoder(task: str, data: Corpus | Shards) -> str:
    """The BiLSTM, except for classifying mostly-CJK text: there the CNN (with bigram
    features) scored 55.25% on TNEWS dev against the BiLSTM's 53.86%, in 181 s against 494 s
    (docs/benchmarks.md's protocol, seed 13)."""
    return "cnn" if task == "classify" and mostly_cjk(sample_texts(data)) else "lstm"


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
