"""The Python API: `load` a model directory and predict, `train`, `evaluate`, `pretrain`.

The command line is a thin layer over these functions, so the two cannot drift: the same
options (keyword arguments named as the CLI's options), defaults, checks and error types
(`textrnn.errors`). Nothing here prints; data problems that textrnn works around (skipped rows,
widened spans) are `TextrnnWarning`s. Importing this module is light: TensorFlow is imported
only by what needs it (training, or a model without the NumPy export), pandas only by
`Model.predict_frame`.

A `Model` pickles as its directory's path and fingerprint: a worker process loads the
directory once (later unpickles reuse it), after checking that it still holds the same model.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import shutil
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Union

from textrnn.errors import BundleError, TextrnnWarning, UsageError

if TYPE_CHECKING:
    import pandas

    from textrnn.data.examples import Corpus
    from textrnn.predict.predictor import Predictor

PathLike = Union[str, os.PathLike]
DEFAULT_MODEL = "textrnn-model"
DEFAULT_PRETRAINED = "textrnn-pretrained"
STREAM_ABOVE_MB = 200  # larger training files are streamed (pandas would need ~5x in memory)
BATCH_SIZE = 256  # texts per model batch when predicting
# Texts read at once by predict_iter (and `textrnn predict`): the predictor sorts them by length,
# so each batch holds sentences of about one length (mixed 256-line batches pad twice the work).
READ_AHEAD_BATCHES = 16


class Model:
    """A trained model directory, loaded for prediction (see `load`).

    `predict` returns per text exactly the record `textrnn predict --format jsonl` writes.
    Safe to call from several threads. Pickles as its path and fingerprint, for workers.
    """

    def __init__(self, path: Path, predictor: Predictor, meta: dict, fingerprint: str,
                 engine: str):
        self.path = path  # absolute
        self.meta = meta  # the directory's textrnn.json
        self.fingerprint = fingerprint  # sha256 of textrnn.json, first 12 hex digits
        self.engine = engine  # 'numpy' or 'keras'
        self._predictor = predictor
        # The NumPy engine keeps no state between calls; Keras is not known to be reentrant.
        self._lock = threading.Lock() if self.engine == "keras" else contextlib.nullcontext()

    @property
    def task(self) -> str:
        """'classify', 'tag' (slots only) or 'joint' (intent and slots)."""
        return self.meta["task"]

    @property
    def labels(self) -> list[str]:
        """The labels (intents, for a joint model) it predicts; empty for a slot tagger."""
        return list(self.meta["labels"])

    @property
    def slots(self) -> list[str]:
        """The slot types it finds, in the order of its tag list; empty for a classifier."""
        return self._predictor.slot_types

    @property
    def max_len(self) -> int:
        """The most tokens of a text it reads; the rest is cut (`truncated` in the record)."""
        return self._predictor.max_len

    def predict(self, texts: Iterable[str], top_k: int = 1, threshold: float | None = None,
                *, batch_size: int = BATCH_SIZE, slot_confidence: bool = False) -> list[dict]:
        """One record per text, in order: `text`, then `label`/`prob` or `intent`/`intent_prob`
        (`top` with top_k > 1, `labels` for multi-label models), `tokens`, `tags` and `slots`
        ({slot, text, start, end}, character offsets) for slot models, `truncated` when the text
        was longer than the model reads. An empty text gives an empty result.
        `slot_confidence=True` adds each slot's `confidence` (its least certain tag's
        probability)."""
        check_predict_options(top_k, batch_size, threshold)
        if isinstance(texts, str):
            raise UsageError("predict takes a list of texts, not one string: predict([text])")
        texts = list(texts)
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise UsageError(f"text {index} is a {type(text).__name__}, not a str")
        with self._lock:
            return self._predictor.predict(texts, top_k, threshold, batch_size, slot_confidence)

    def predict_iter(self, texts: Iterable[str], *, batch_size: int = BATCH_SIZE,
                     top_k: int = 1, threshold: float | None = None,
                     slot_confidence: bool = False) -> Iterator[dict]:
        """`predict` over any iterable (a file, a generator), streamed: records come out in
        order while at most `batch_size` x 16 texts are held in memory."""
        check_predict_options(top_k, batch_size, threshold)
        source = iter(texts)
        chunks = iter(lambda: list(itertools.islice(source, batch_size * READ_AHEAD_BATCHES)), [])
        return (record for chunk in chunks
                for record in self.predict(chunk, top_k, threshold, batch_size=batch_size,
                                           slot_confidence=slot_confidence))

    def predict_frame(self, frame: pandas.DataFrame, text_column: str = "text", *,
                      top_k: int = 1, threshold: float | None = None,
                      batch_size: int = BATCH_SIZE) -> pandas.DataFrame:
        """The frame's columns plus the prediction's, as `predict` names them (`text` aside):
        `label`, `prob` or `intent`, `intent_prob`; `tokens`, `tags`, and `slots` as a list of
        {slot, text, start, end} structs; `truncated`. Arrow-typed columns, so partitions of
        Dask (`map_partitions`), Ray Data (`map_batches`) or Spark (`mapInPandas`) write Parquet
        with one schema. A missing text counts as empty (no label)."""
        import pandas
        import pyarrow

        if text_column not in frame.columns:
            raise UsageError(f"the frame has no column '{text_column}' (it has "
                             f"{', '.join(map(str, frame.columns))}): pass text_column=")
        schema = self._frame_schema(top_k)
        clash = [name for name in schema.names if name in frame.columns]
        if clash:
            raise UsageError(f"the frame already has the column(s) {', '.join(clash)} that the "
                             "prediction adds: rename them first")
        column = frame[text_column]
        texts = ["" if missing else value
                 for value, missing in zip(column.tolist(), column.isna().tolist())]
        records = self.predict(texts, top_k, threshold, batch_size=batch_size)
        table = pyarrow.Table.from_pylist(
            [{**record, "truncated": record.get("truncated", False)} for record in records],
            schema=schema)
        predicted = table.to_pandas(types_mapper=pandas.ArrowDtype)
        return frame.assign(**{name: predicted[name].array for name in schema.names})

    def _frame_schema(self, top_k: int):
        import pyarrow as pa

        fields = []
        if self.task in ("classify", "joint"):
            key, prob = ("label", "prob") if self.task == "classify" else ("intent", "intent_prob")
            fields += [(key, pa.string()), (prob, pa.float64())]
            if self.meta.get("multilabel"):
                fields.append(("labels", pa.list_(pa.string())))
            if top_k > 1:
                fields.append(("top", pa.list_(pa.struct([(key, pa.string()),
                                                          ("prob", pa.float64())]))))
        if self.task in ("tag", "joint"):
            slot = pa.struct([("slot", pa.string()), ("text", pa.string()),
                              ("start", pa.int64()), ("end", pa.int64())])
            fields += [("tokens", pa.list_(pa.string())), ("tags", pa.list_(pa.string())),
                       ("slots", pa.list_(slot))]
        return pa.schema([*fields, ("truncated", pa.bool_())])

    def info(self) -> dict:
        """What `textrnn info --json` shows: the architecture, parameters per layer, labels,
        the training figures."""
        return describe_model(self.path)

    def __reduce__(self):
        return _restore, (str(self.path), self.fingerprint, self.engine)

    def __repr__(self) -> str:
        return f"textrnn.Model({str(self.path)!r}, task={self.task!r}, engine={self.engine!r})"


def load(path: PathLike, engine: str = "auto") -> Model:
    """The model in directory `path`. `engine`: 'auto' (NumPy when the model has the export,
    as every model this version trains does; else Keras), 'numpy' (never imports TensorFlow)
    or 'keras'. A missing or damaged directory is a `BundleError`."""
    model = _load(Path(path).expanduser(), engine)
    with _cache_lock:
        _cache[str(model.path), model.engine] = model
    return model


def _load(directory: Path, engine: str) -> Model:
    from textrnn import bundle
    from textrnn.predict.predictor import Predictor, engine_for

    meta = bundle.read_meta(directory)
    chosen = engine_for(meta, engine)
    if chosen == "keras":
        quiet_tensorflow()
    return Model(directory.absolute(), Predictor.load(str(directory), chosen, meta), meta,
                 bundle.fingerprint(directory), chosen)


# Models restored from pickles, by (path, engine): a worker loads each directory once.
_cache: dict[tuple[str, str], Model] = {}
_cache_lock = threading.Lock()


def _restore(path: str, fingerprint: str, engine: str) -> Model:
    """Unpickling: the model at `path`, loaded once per process and checked to be the model
    that was pickled (same fingerprint)."""
    with _cache_lock:
        model = _cache.get((path, engine))
        if model is None or model.fingerprint != fingerprint:
            where = f"on {socket.gethostname()} (pid {os.getpid()})"
            try:
                model = _load(Path(path), engine)
            except BundleError as error:
                raise BundleError(f"cannot restore the textrnn model {path} {where}: {error}; "
                                  "every worker needs the model directory at that path") from None
            if model.fingerprint != fingerprint:
                raise BundleError(f"{path} {where} holds another model (fingerprint "
                                  f"{model.fingerprint}) than the one pickled ({fingerprint}): "
                                  "the directory changed; load it again and resubmit")
            _cache[path, engine] = model
    return model


def check_predict_options(top_k: int, batch_size: int, threshold: float | None = None) -> None:
    """The checks `predict` and `textrnn predict` share (the command's options check their
    ranges before anything loads, with the same bounds)."""
    if threshold is not None and not 0 <= threshold <= 1:
        raise UsageError("--threshold must be in [0, 1]")
    if top_k < 1:
        raise UsageError("--top-k must be at least 1")
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")


def train(
    data: PathLike, out: PathLike = DEFAULT_MODEL, valid: PathLike | None = None, *,
    valid_split: float = 0.1, task: str | None = None, encoder: str | None = None,
    bidirectional: bool | None = None, layers: int | None = None, units: int | None = None,
    embedding_dim: int | None = None, embeddings: str | None = None,
    freeze_embeddings: bool = False, pretrained: str | None = None,
    freeze_epochs: int | None = None,
    pretrained_lr_scale: float = 1.0, char_features: bool | None = None,
    bigrams: bool | None = None, bigram_dropout: float = 0.0, dropout: float | None = None,
    crf: bool | None = None, token_intent: bool | None = None,
    slot_substitution: float | None = None, slot_unknown: float | None = None,
    lookup: Sequence[str] | None = None, epochs: int | None = None,
    batch_size: int | None = None, lr: float | None = None, lr_decay: float | None = None,
    warmup: int = 0, clipnorm: float = 1.0, patience: int | None = None, seed: int = 13,
    class_weight: str | None = None, min_count: int = 1, max_vocab: int | None = None,
    lowercase: bool = True, text_col: str | None = None, label_col: str | None = None,
    tags_col: str | None = None, label_sep: str | None = None, encoding: str = "utf-8",
    format: str | None = None, span_align: str = "expand", stream: bool | None = None,
    steps_per_epoch: int | None = None, vocab: str | None = None, workers: str | None = None,
    worker_index: int | None = None, worker_timeout: float = 300, resume: bool = False,
    save_on_interrupt: bool = False, plot: bool = False, tensorboard: PathLike | None = None,
    autotune: str | float | None = None, autotune_metric: str | None = None,
    autotune_trials: int | None = None, progress: bool = False,
) -> Model | None:
    """Train a model on `data` and write it to the directory `out` (replaced only once
    training succeeded); returns it loaded. Every option is `textrnn train`'s, with its default
    (`textrnn train --help` says what each does); `lookup` is a list of 'NAME=FILE'.
    `progress=True` shows the progress bar on stderr. With `workers`, only worker 0 writes the
    model; the others return None.

    Ctrl-C stops training with `textrnn.train.interrupts.TrainingInterrupted` (a
    KeyboardInterrupt; `out` is as it was), or with `save_on_interrupt` saves the best model
    so far (its textrnn.json says `"interrupted": true`); a Ctrl-C while saving lets the model
    go into place whole and then raises `InterruptedWhileSaving`.

    `autotune` ('20m', '1h', seconds) searches for the best model within that time instead
    (options given here stay fixed); `out` gets the best trial's model and `autotune.json`,
    the record of every trial; Ctrl-C ends the search and keeps the best model so far."""
    meta, written = run_training(**locals())
    return load(out) if written else None


class InterruptedWhileSaving(KeyboardInterrupt):
    """Ctrl-C while the trained model was being saved: it went into place whole first."""


def run_training(progress: bool, summary=None, started: float | None = None, **options
                 ) -> tuple[dict, bool]:
    """What `train` and `textrnn train` run: check the options, read the data, fit, write the
    model directory. Returns the model's textrnn.json and whether this process wrote it (with
    several workers, only worker 0 does). `summary(meta, worker)` (worker: None when this
    process wrote the model, else its index) runs in the same uninterruptible section as the
    saving. Ctrl-C leaves the directory as it was (see `train`). `started`
    (time.monotonic(); default: now) is when the command started: --autotune's budget covers
    it whole."""
    from textrnn import bundle

    started = started or time.monotonic()
    o = SimpleNamespace(**options)
    data, out = os.fspath(o.data), Path(o.out)
    bundle.check_target(out)
    if o.embedding_dim is not None and o.embedding_dim < 1:  # 0 stands for the vector file's
        raise UsageError("--embedding-dim must be positive")
    if o.worker_timeout <= 0:
        raise UsageError("--worker-timeout must be positive")
    check_vectors_file(o.embeddings)
    if o.vocab is not None and not Path(o.vocab).is_file():
        raise UsageError(f"--vocab {o.vocab}: no such file")
    tuning = None
    if o.autotune is not None:
        from textrnn.train.tuning import Tuning

        tuning = Tuning.from_options(o.autotune, o.autotune_metric, o.autotune_trials, started)
    elif o.autotune_metric is not None or o.autotune_trials is not None:
        raise UsageError("--autotune-metric and --autotune-trials go with --autotune DURATION")
    config = train_config(o)
    from textrnn.train.distributed import cluster_from

    cluster = cluster_from(o.workers, o.worker_index)
    if cluster is not None and (o.resume or o.save_on_interrupt):
        raise UsageError("--resume and --save-on-interrupt are for training in one process, "
                         "not with --workers")
    clashing = [name for name, value in (("--workers", cluster), ("--plot", o.plot),
                                         ("--tensorboard", o.tensorboard),
                                         ("--save-on-interrupt", o.save_on_interrupt)) if value]
    if tuning is not None and clashing:
        raise UsageError(f"--autotune trains many models: drop {', '.join(clashing)} (and "
                         "give it to the command printed for the winner)")
    from textrnn import plots

    tensorboard = None if o.tensorboard is None else Path(o.tensorboard)
    if o.plot:
        plots.check_plotting_available()
    if tensorboard is not None:
        plots.check_tensorboard_available()
        if out.resolve() in (tensorboard.resolve(), *tensorboard.resolve().parents):
            raise UsageError("--tensorboard DIR must be outside --out (which is replaced at "
                             "the end of training)")
    corpus, valid_corpus, task = training_data(
        data, None if o.valid is None else os.fspath(o.valid), o.task, o.text_col, o.label_col,
        o.tags_col, o.label_sep, o.encoding, o.format, o.stream, o.span_align)
    from textrnn.data.shards import Shards

    if o.steps_per_epoch is not None and not isinstance(corpus, Shards):
        raise UsageError("--steps-per-epoch applies to streamed data (--stream)")
    if tuning is not None:
        return _autotune(options, tuning, corpus, valid_corpus, task, progress, summary)
    spec, defaulted = model_spec(o, task, corpus)
    quiet_tensorflow()
    from textrnn import report
    from textrnn.nn import saving
    from textrnn.predict.predictor import Predictor, evaluate
    from textrnn.train import checkpoint, interrupts
    from textrnn.train.fit import train as fit

    checkpoints = checkpoint.directory_for(out) if cluster is None else None
    with interrupts.catching():
        model, meta, valid_examples = fit(
            corpus, valid_corpus, spec, config,
            report.TrainingProgress() if progress else None, checkpoints, o.resume,
            [plots.tensorboard_callback(str(tensorboard))] if tensorboard is not None else [],
            cluster, o.worker_timeout, defaulted)
        training = meta["training"]
        with interrupts.stopping(lambda: training["epochs_run"] if checkpoints else None):
            if valid_examples:
                meta["metrics"] = evaluate(Predictor(model, meta), valid_examples)
                _warn_if_nothing_learnt(meta)
            meta["label_sep"] = o.label_sep  # eval splits the gold labels the same way
            if not training["interrupted"]:
                interrupts.check()  # the last moment to leave the previous model
        written = cluster is None or cluster.is_chief  # other workers write nothing
        with interrupts.critical():
            if written:
                saving.save(out, model, meta, extra_files=_plotter(meta) if o.plot else None)
                if checkpoints is not None:
                    shutil.rmtree(checkpoints, ignore_errors=True)
            if summary is not None:
                summary(meta, None if written else cluster.index)
        if interrupts.requested():
            raise InterruptedWhileSaving(f"interrupted while saving; {out} holds the new model")
    return meta, written


def _autotune(options: dict, tuning, corpus, valid_corpus, task: str, progress: bool,
              summary) -> tuple[dict, bool]:
    """--autotune (train/autotune.py): every trial trains as `train` with its options would,
    around the default model of the options given (trial 0). Returns the winner's textrnn.json
    with the search's record (autotune.json) under "autotune"."""
    from textrnn import bundle
    from textrnn.data.shards import Shards

    o = SimpleNamespace(**options)
    out = Path(o.out)
    if isinstance(corpus, Shards):
        raise UsageError("--autotune reads the training data into memory: drop --stream")
    if valid_corpus is None and not o.valid_split > 0:
        raise UsageError("--autotune scores every trial on validation data: give --valid FILE "
                         "or a --valid-split above 0")
    tuning.check_metric(task, corpus)
    from textrnn.train.defaults import resolve_config
    from textrnn.train.prepare import split_corpus
    from textrnn.train.space import space_for

    spec, _ = model_spec(o, task, corpus)  # the default model: trial 0
    config = train_config(o)
    rows = len(split_corpus(corpus, valid_corpus, config)[0])
    resolve_config(config, task, rows)
    given = given_options(options)
    space = space_for(task, rows, spec, config, given)
    quiet_tensorflow()
    from textrnn import report
    from textrnn.nn import saving
    from textrnn.predict.predictor import Predictor, evaluate
    from textrnn.train import autotune, checkpoint, interrupts
    from textrnn.train.fit import train as fit

    def fit_trial(trial_options: dict, callbacks: list):
        trial = SimpleNamespace(**{**options, **trial_options})
        spec, defaulted = model_spec(trial, task, corpus)
        config = train_config(trial)
        config.save_on_interrupt = True  # the budget stops a trial so: at its best epoch
        model, meta, valid_examples = fit(corpus, valid_corpus, spec, config,
                                          extra_callbacks=callbacks, defaulted=defaulted)
        meta["metrics"] = evaluate(Predictor(model, meta), valid_examples)
        meta["label_sep"] = o.label_sep  # eval splits the gold labels the same way
        return model, meta

    def publish(record: dict, best) -> None:
        if best is not None:
            saving.save(out, *best, extra_files=lambda folder: bundle.write_autotune(folder,
                                                                                     record))
        elif (out / bundle.META_FILE).is_file():
            bundle.write_autotune(out, record)

    identity = {"data_sha256": corpus.sha256,  # what a resumed search must share
                "valid_sha256": valid_corpus.sha256 if valid_corpus else None,
                "metric": tuning.metric,
                "given": {name: value for name, value in given.items() if name != "out"}}
    with interrupts.catching():
        record = autotune.search(tuning, space, autotune.Trials(fit_trial, publish),
                                 checkpoint.directory_for(out), identity, given, o.resume,
                                 o.seed, report.AutotuneProgress() if progress else None)
    if not record["trials"] and record["interrupted"]:
        raise interrupts.TrainingInterrupted(None)
    if not record["trials"]:
        raise UsageError(f"--autotune {o.autotune}: the budget ended before the default model "
                         "finished an epoch (TensorFlow's start counts too): give it more time")
    meta = bundle.read_meta(out)
    if summary is not None:
        summary(meta, None)
    return {**meta, "autotune": record}, True


# train's options a search never fixes, nor records as the user's: they steer the search
SEARCH_OPTIONS = ("autotune", "autotune_metric", "autotune_trials", "resume", "progress")


def given_options(options: dict) -> dict:
    """The options of `train` set to other values than their defaults (paths as strings):
    what --autotune keeps fixed and repeats in the command it prints."""
    import inspect

    defaults = {name: parameter.default
                for name, parameter in inspect.signature(train).parameters.items()}
    plain = {name: os.fspath(value) if isinstance(value, os.PathLike) else value
             for name, value in options.items()}
    return {name: value for name, value in plain.items()
            if name in defaults and name not in SEARCH_OPTIONS and value != defaults[name]}


def train_config(o: SimpleNamespace):
    """The TrainConfig of `train`'s options (None: the task's default, resolved in fit)."""
    from textrnn.train.prepare import TrainConfig

    return TrainConfig(epochs=o.epochs, batch_size=o.batch_size, learning_rate=o.lr,
                       lr_decay=o.lr_decay, warmup=o.warmup, clipnorm=o.clipnorm,
                       patience=o.patience, valid_split=o.valid_split, seed=o.seed,
                       class_weight=o.class_weight, min_count=o.min_count,
                       max_vocab=o.max_vocab, lowercase=o.lowercase,
                       save_on_interrupt=o.save_on_interrupt, embeddings=o.embeddings,
                       steps_per_epoch=o.steps_per_epoch, vocab_file=o.vocab,
                       pretrained=o.pretrained, freeze_epochs=o.freeze_epochs,
                       pretrained_lr_scale=o.pretrained_lr_scale,
                       slot_substitution=o.slot_substitution, slot_unknown=o.slot_unknown,
                       lookup_files=list(o.lookup or []))


def model_spec(o: SimpleNamespace, task: str, corpus):
    """The checked model spec of `train`'s options and the names of those left to their
    defaults (train/defaults.py; a --pretrained directory's sizes and features first)."""
    from textrnn.nn.factory import check_spec
    from textrnn.train.defaults import default_encoder, resolve_spec

    encoder, units, embedding_dim = o.encoder, o.units, o.embedding_dim
    char_features, bigrams = o.char_features, o.bigrams
    if o.pretrained is not None:  # what lets the pretrained layers carry over, unless given
        from textrnn.pretrained import read_meta, train_defaults

        defaults = train_defaults(read_meta(o.pretrained), encoder)
        encoder = encoder or defaults["encoder"]
        units = units or defaults.get("units")
        embedding_dim = embedding_dim or defaults["embedding_dim"]
        char_features = defaults["char_features"] if char_features is None else char_features
        bigrams = defaults["bigrams"] if bigrams is None else bigrams
    if encoder is None:  # a recurrent-only option keeps the recurrent default
        encoder = "lstm" if o.bidirectional is not None else default_encoder(task, corpus)
    spec, defaulted = resolve_spec(
        task, encoder, vectors_given=o.embeddings is not None, bidirectional=o.bidirectional,
        layers=o.layers, units=units, embedding_dim=embedding_dim, dropout=o.dropout,
        crf=o.crf, freeze_embeddings=o.freeze_embeddings, char_features=char_features,
        bigrams=bigrams, bigram_dropout=o.bigram_dropout, token_intent=o.token_intent)
    check_spec(spec)  # before TensorFlow's import: a bad option fails at once
    return spec, defaulted


def _warn_if_nothing_learnt(meta: dict) -> None:
    from textrnn.train.fit import learnt, score_name, task_score

    if not learnt(task_score(meta["metrics"])):
        warnings.warn(f"validation {score_name(meta['metrics'])} is 0 after "
                      f"{meta['training']['epochs_run']} epochs: the model has learnt nothing "
                      "yet (more --epochs, another --lr or more data may help)",
                      TextrnnWarning, stacklevel=2)


def _plotter(meta: dict):
    """Draws the figures into the model folder before it goes into place; a drawing failure
    costs the figures (with a warning), never the trained model."""
    from textrnn import plots

    def draw(folder: Path) -> None:
        try:
            plots.write_plots(folder, meta)
        except Exception as error:  # matplotlib raises many types; the model matters more
            warnings.warn(f"--plot failed, model saved without figures: {error}",
                          TextrnnWarning, stacklevel=2)

    return draw


def evaluate(
    data: PathLike, model: PathLike | Model = DEFAULT_MODEL, *, errors: int = 0,
    engine: str = "auto", text_col: str | None = None, label_col: str | None = None,
    tags_col: str | None = None, label_sep: str | None = None, encoding: str = "utf-8",
    format: str | None = None, span_align: str = "expand",
) -> dict:
    """Score `model` (a directory or a loaded Model) on labelled `data`: the document
    `textrnn eval --json` prints (accuracy and F1; span F1 and frame accuracy for slots);
    `errors=N` adds the first N wrong examples."""
    from textrnn import bundle

    if errors < 0:
        raise UsageError("--errors must be 0 or more")
    meta = model.meta if isinstance(model, Model) else bundle.read_meta(model)
    where = model.path if isinstance(model, Model) else model
    if label_sep is None:  # the separator the model was trained with
        label_sep = meta.get("label_sep")
    corpus = read_data(os.fspath(data), text_col, label_col, tags_col, label_sep, encoding,
                       format, span_align=span_align)
    check_task(meta["task"], corpus, f"the {meta['task']} model in {where}")
    from textrnn.predict.predictor import evaluate as score

    loaded = model if isinstance(model, Model) else load(model, engine)
    with loaded._lock:
        result = score(loaded._predictor, corpus.examples, errors)
    if result.get("unseen_labels"):
        warnings.warn(f"{corpus.source}: labels the model never saw (every example with one is "
                      f"scored wrong): {', '.join(result['unseen_labels'])}", TextrnnWarning,
                      stacklevel=2)
    return result


def pretrain(
    corpus: PathLike | list[PathLike], out: PathLike = DEFAULT_PRETRAINED, *,
    encoder: str = "lstm", units: int | None = None, embedding_dim: int | None = None,
    char_features: bool | None = None, bigrams: bool | None = None,
    dropout: float | None = None, epochs: int | None = None, batch_size: int | None = None,
    lr: float | None = None, clipnorm: float = 1.0, patience: int | None = None,
    valid_split: float = 0.1,
    seed: int = 13, min_count: int = 1, max_vocab: int | None = None, lowercase: bool = True,
    text_col: str | None = None, encoding: str = "utf-8", format: str | None = None,
    stream: bool | None = None, steps_per_epoch: int | None = None, resume: bool = False,
    progress: bool = False,
) -> dict:
    """Train forward and backward language models on unlabelled text (files, or one) and
    write the embedding and encoder they learn to `out`, for `train(..., pretrained=out)`.
    Options as `textrnn pretrain`'s; returns what its `--json` prints (model, corpus,
    perplexity, training); epochs default to 20, patience to 3. Ctrl-C stops as in `train`."""
    return run_pretraining(**locals())


def run_pretraining(progress: bool, summary=None, **options) -> dict:
    """What `pretrain` and `textrnn pretrain` run; `summary(meta)` runs in the same
    uninterruptible section as the saving."""
    o = SimpleNamespace(**options)
    corpus, out, resume = o.corpus, o.out, o.resume
    from textrnn import bundle
    from textrnn.train.prepare import TrainConfig
    from textrnn.train.pretrain import pretrain_spec

    bundle.check_target(Path(out))
    spec = pretrain_spec(o.encoder, units=o.units, embedding_dim=o.embedding_dim,
                         char_features=o.char_features, bigrams=o.bigrams, dropout=o.dropout)
    config = TrainConfig(epochs=o.epochs, batch_size=o.batch_size, learning_rate=o.lr,
                         clipnorm=o.clipnorm, patience=o.patience, valid_split=o.valid_split,
                         seed=o.seed, min_count=o.min_count, max_vocab=o.max_vocab,
                         lowercase=o.lowercase, steps_per_epoch=o.steps_per_epoch)
    paths = [os.fspath(corpus)] if isinstance(corpus, (str, os.PathLike)) else \
        [os.fspath(path) for path in corpus]
    data = unlabelled(paths, o.text_col, o.encoding, o.format, o.stream)
    quiet_tensorflow()
    from textrnn import pretrained, report
    from textrnn.train import checkpoint, interrupts
    from textrnn.train.pretrain import pretrain as fit

    checkpoints = checkpoint.directory_for(Path(out))
    with interrupts.catching():
        meta, weights = fit(data, spec, config,
                            report.TrainingProgress() if progress else None, checkpoints, resume)
        with interrupts.critical():
            pretrained.save(out, meta, weights)
            shutil.rmtree(checkpoints, ignore_errors=True)
            if summary is not None:
                summary(meta)
        if interrupts.requested():
            raise InterruptedWhileSaving(f"interrupted while saving; {out} holds the new model")
    return {key: meta[key] for key in ("model", "corpus", "perplexity", "training")}


def describe_model(directory: PathLike) -> dict:
    """What `textrnn info --json` shows of a model directory: its textrnn.json without the
    vocabulary and slot values, the vocabulary's size, the number of values per slot type, and
    each layer's parameters with the textbook formula (stored in textrnn.json; TensorFlow only
    for a model saved before it was), and `autotune`: how `train --autotune` chose the model
    (its autotune.json; None without it)."""
    from textrnn import bundle

    meta = bundle.read_meta(directory)
    rows = meta.get("layers") or _keras_layer_table(directory)
    slim = {key: value for key, value in meta.items() if key not in ("vocab", "slot_values")}
    values = {kind: len(found) for kind, found in (meta.get("slot_values") or {}).items()}
    return {**slim, "vocab_size": len(meta["vocab"]), "slot_values": values or None,
            "layers": rows, "autotune": bundle.read_autotune(directory)}


def _keras_layer_table(directory: PathLike) -> list[dict]:
    """The layer table of a model saved before textrnn.json held it: from Keras (slow)."""
    quiet_tensorflow()
    from textrnn.nn import saving
    from textrnn.nn.factory import layer_table

    return layer_table(saving.load(directory)[0])


# Keras imports scikit-learn (for its estimator wrappers) and matplotlib (for an image
# gallery) whenever they are installed: about a quarter of TensorFlow's import time, for
# features textrnn never uses. The command line sets this False, as its process is textrnn's
# own; a Python caller's Keras stays whole.
keras_extras = True
KERAS_EXTRAS = ("sklearn", "matplotlib")


def quiet_tensorflow() -> None:
    """Import TensorFlow with its C++ start-up chatter (absl, oneDNN notices) silenced, unless
    TEXTRNN_DEBUG is set (as `textrnn --debug` does)."""
    debug = os.environ.get("TEXTRNN_DEBUG")
    if not debug:
        quiet_logs()
    if "tensorflow" in sys.modules:
        return
    muted = contextlib.nullcontext() if debug else _stderr_muted()
    with _unimportable(() if keras_extras else KERAS_EXTRAS), muted:
        import tensorflow  # noqa: F401


@contextlib.contextmanager
def _stderr_muted() -> Iterator[None]:
    """File descriptor 2 goes to /dev/null inside the block (C++ code writes there directly)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def _unimportable(names: Sequence[str]) -> Iterator[None]:
    """Inside the block, importing any of these modules not imported yet fails with
    ImportError (sys.modules maps them to None); afterwards they import as usual."""
    hidden = [name for name in names if name not in sys.modules]
    sys.modules.update(dict.fromkeys(hidden))
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


def quiet_logs() -> None:
    """Keep TensorFlow's own messages off the terminal for the whole run, whichever module
    imports it and whenever it logs: its C++ logging (absl start-up notices, oneDNN lines,
    errors about CPU features) reads TF_CPP_MIN_LOG_LEVEL once, at import, which comes later;
    its Python logger warns of retracing; Keras warns through `warnings`."""
    import logging

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    for module in ("keras", "tensorflow"):
        warnings.filterwarnings("ignore", module=module)


def read_data(path: str, text_col, label_col, tags_col, label_sep, encoding, fmt,
              unlabelled: bool = False, span_align: str = "expand") -> Corpus:
    """A data file (or - for stdin) read whole; its warnings become TextrnnWarnings."""
    from textrnn.data.examples import ReadOptions
    from textrnn.data.read import read_corpus

    corpus = read_corpus(path, ReadOptions(text_col, label_col, tags_col, label_sep, encoding,
                                           fmt, unlabelled=unlabelled, span_align=span_align))
    for warning in corpus.warnings:
        warnings.warn(warning, TextrnnWarning, stacklevel=2)
    return corpus


def training_data(data: str, valid: str | None, task, text_col, label_col, tags_col, label_sep,
                  encoding, fmt, stream: bool | None = False, span_align: str = "expand"):
    """The training data (a corpus in memory, or Shards to stream), the validation corpus (or
    None) and the task they are read for."""
    from textrnn.data.examples import Corpus, ReadOptions

    options = ReadOptions(text_col, label_col, tags_col, label_sep, encoding, fmt,
                          span_align=span_align)
    if streams(data, stream):
        from textrnn.data.shards import Shards

        shards = Shards(data, options)
        first = shards.first()
        corpus = shards
        sample = Corpus(data, [first], multilabel=bool(label_sep))
    else:
        corpus = sample = read_data(data, text_col, label_col, tags_col, label_sep, encoding, fmt,
                                    span_align=span_align)
    valid_corpus = (read_data(valid, text_col, label_col, tags_col, label_sep, encoding, fmt,
                              span_align=span_align) if valid else None)
    task = task or sample.task
    check_task(task, sample)
    return corpus, valid_corpus, task


def unlabelled(paths: list[str], text_col, encoding: str, fmt, stream):
    """The text to pretrain on: Shards to stream, or one corpus in memory."""
    from textrnn.data.examples import Corpus, ReadOptions

    if "-" in paths and (len(paths) > 1 or stream):
        raise UsageError("- (stdin) is read whole and alone: pass files to stream or combine")
    if any(streams(path, stream) for path in paths):
        from textrnn.data.shards import Shards

        return Shards(paths, ReadOptions(text_col=text_col, encoding=encoding, format=fmt,
                                         unlabelled=True))
    corpora = [read_data(path, text_col, None, None, None, encoding, fmt, unlabelled=True)
               for path in paths]
    if len(corpora) == 1:
        return corpora[0]
    digest = hashlib.sha256("".join(each.sha256 for each in corpora).encode()).hexdigest()
    return Corpus(" ".join(paths), [example for each in corpora for example in each.examples],
                  sha256=digest)


def streams(data: str, stream: bool | None) -> bool:
    """--stream, or by default: shards (a glob or a directory) and files over the threshold."""
    if data == "-":
        if stream:
            raise UsageError("--stream reads files, not stdin")
        return False
    path = Path(data)
    if stream is not None:
        return stream
    return not path.is_file() or path.stat().st_size > STREAM_ABOVE_MB * 2**20


def check_vectors_file(path: str | None) -> None:
    """--embeddings names a word-vector file (a pretrained directory goes to --pretrained)."""
    if path is None or Path(path).is_file():
        return
    if (Path(path) / "textrnn.json").is_file():
        raise UsageError(f"--embeddings {path}: a directory; to start from what `textrnn "
                         f"pretrain` wrote there, pass --pretrained {path}")
    problem = "a directory" if Path(path).is_dir() else "no such file"
    raise UsageError(f"--embeddings {path}: {problem}; it takes a word-vector file (.vec, "
                     "GloVe .txt, word2vec .bin)")


def check_task(task: str, corpus, who: str | None = None) -> None:
    """The data has what the task needs; the error names what it lacks. `who` needs it
    (default: --task TASK)."""
    needs = {"classify": ["label"], "tag": ["tags"], "joint": ["tags", "intent"]}
    if task not in needs:
        raise UsageError(f"unknown --task '{task}' (choose from classify, tag, joint)")
    has = {"label": corpus.has_labels, "intent": corpus.has_labels, "tags": corpus.has_tags}
    lacking = [column for column in needs[task] if not has[column]]
    if lacking:
        what = {"classify": "a label column", "tag": "a tags column",
                "joint": "both a tags and an intent column"}[task]
        raise UsageError(f"{who or f'--task {task}'} needs {what}; {corpus.source} has no "
                         f"{' and no '.join(lacking)} column")
