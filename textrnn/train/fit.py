"""Fitting: build the model from its spec, feed prepared sentences through the length-bucketed
tf.data pipeline, fit with clipping and early stopping on the validation score (model.fit in
one process, distributed.py's loop across workers), and return the model with everything
needed to reload it.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np

from textrnn import __version__
from textrnn.bundle import FORMAT_VERSION
from textrnn.data.examples import Corpus
from textrnn.data.shards import Shards, fingerprint
from textrnn.errors import UsageError
from textrnn.nn.factory import ModelSpec, check_spec
from textrnn.train.augment import SlotNoise, noisy_sentences
from textrnn.train.defaults import RESOLVED, resolve_config
from textrnn.train.pipeline import (
    Encoded,
    Layout,
    in_memory,
    steps_for,
    streamed,
)
from textrnn.train.prepare import (
    Prepared,
    TrainConfig,
    class_weights,
    mostly_cjk,
    prepare,
    prepare_streamed,
    sample_texts,
    sentence_parts,
    streamed_sentences,
)
from textrnn.train.schedules import with_warmup

# --lr-decay counts updates, not epochs, so that small data (few updates an epoch) is not
# starved of learning rate: 400 updates are one epoch of SNIPS in batches of 32.
DECAY_UPDATES = 400


def compile_model(model, spec: ModelSpec, config: TrainConfig, pretrained: list[str] = ()
                  ) -> None:
    """Losses per output and Adam; with `config.lr_decay`, the learning rate is multiplied by
    it every DECAY_UPDATES updates, after `config.warmup` updates of linear warm-up; the
    `pretrained` layers learn at config.pretrained_lr_scale x the rate."""
    import keras

    losses, metrics = {}, {}
    for name in model.output_names:
        if name == "intent" and spec.token_intent:  # the mean of 'token_intent', trained
            metrics[name] = ["accuracy"]
            continue
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
    learning_rate = config.learning_rate
    if config.lr_decay not in (None, 1):
        learning_rate = keras.optimizers.schedules.ExponentialDecay(
            config.learning_rate, DECAY_UPDATES, config.lr_decay, staircase=True)
    learning_rate = with_warmup(learning_rate, config.warmup)
    if pretrained and config.pretrained_lr_scale != 1:
        from textrnn.train.finetune import layerwise_adam

        optimizer = layerwise_adam(learning_rate, config.clipnorm or None, list(pretrained),
                                   config.pretrained_lr_scale)
    else:
        optimizer = keras.optimizers.Adam(learning_rate, clipnorm=config.clipnorm or None)
    model.compile(optimizer=optimizer, loss=losses, metrics=metrics)


def build_training_state(model, batch_spec) -> None:
    """Create the optimizer's, the losses' and the metrics' variables before `fit`. Keras
    creates them inside the first trace of the train step, and TensorFlow then traces the step
    a second time without them (a sixth of a short training's wall time). Keras' own symbolic
    build, which it runs for distributed models, does it from the batches' shapes."""
    model._symbolic_build(data_batch=batch_spec)


def set_seeds(seed: int) -> None:
    import keras
    import tensorflow as tf

    os.environ["PYTHONHASHSEED"] = str(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train(data: Corpus | Shards, valid_corpus: Corpus | None, spec: ModelSpec,
          config: TrainConfig, progress=None, checkpoint_dir: Path | None = None,
          resume: bool = False, extra_callbacks: list = (), cluster=None,
          worker_timeout: float = 300, defaulted: list[str] = ()):
    """Fit a model; returns (keras model, metadata dict for textrnn.json, validation examples).

    `spec` and `config` come from train/defaults.py: options of `config` left as None take the
    task's defaults here, once the training rows are counted; `defaulted` names the spec's
    options that were defaults, recorded beside the configuration's.

    `data` is a corpus in memory, or Shards streamed from files as training goes.
    `progress`, if given, is told about epochs and batches (see report.TrainingProgress).
    With `checkpoint_dir`, every epoch is checkpointed there; `resume` continues from it.
    `extra_callbacks` (e.g. TensorBoard) run after the validation score, so they see val_score.
    With a `cluster` (distributed.Cluster), this process is one of several workers.
    """
    check_spec(spec)
    if spec.freeze_embeddings and not (config.embeddings or config.pretrained):
        raise UsageError("--freeze-embeddings needs --embeddings FILE or --pretrained DIR")
    start = None
    if config.pretrained:
        if cluster is not None:
            raise UsageError("--pretrained is for training in one process, not with --workers")
        from textrnn.train import finetune

        start = finetune.load(spec, config)
    if spec.bigrams is None:
        spec.bigrams = mostly_cjk(sample_texts(data))
    strategy = None
    if cluster is not None:  # first: the strategy must exist before TensorFlow runs anything
        from textrnn.train import distributed

        strategy = distributed.connect(cluster, worker_timeout)
    set_seeds(config.seed)
    if isinstance(data, Shards):
        prepared = prepare_streamed(data, valid_corpus, config, spec.task, spec.char_features,
                                    spec.bigrams, start[0] if start else None)
        source = {"source": data.pattern, "files": len(data.files), "streamed": True,
                  "sha256": fingerprint(data.files), "rows": prepared.train_rows}
    else:
        prepared = prepare(data, valid_corpus, config, spec.task, spec.char_features,
                           spec.bigrams, start[0] if start else None)
        source = {"source": data.source, "sha256": data.sha256, "rows": len(data.examples)}
    if config.class_weight and (spec.task != "classify" or prepared.multilabel):
        raise UsageError("--class-weight balanced applies to single-label classification")
    defaulted = sorted({*defaulted, *resolve_config(config, spec.task, prepared.train_rows)})
    model, meta = _build(prepared, spec, config, source, strategy, start)
    if strategy is None:
        meta["training"] = _fit(model, meta, prepared, data, valid_corpus, spec, config,
                                progress, checkpoint_dir, resume, extra_callbacks)
        meta["training"].update(options_by_origin(spec, config, defaulted))
        return model, meta, prepared.valid_examples
    from textrnn.nn.factory import build_model

    local = build_model(spec)  # outside the strategy: validated and saved as a plain model
    meta["training"] = _fit_distributed(strategy, cluster, model, local, meta, prepared, data,
                                        spec, config, progress, extra_callbacks, worker_timeout)
    meta["training"].update(options_by_origin(spec, config, defaulted))
    return local, meta, prepared.valid_examples


def options_by_origin(spec: ModelSpec, config: TrainConfig, defaulted: list[str]) -> dict:
    """The options train/defaults.py resolves, split into those left to their defaults and
    those given, each with its value (what `textrnn info` shows)."""
    values = {name: getattr(config, name, getattr(spec, name, None)) for name in RESOLVED}
    return {"defaults": {name: values[name] for name in RESOLVED if name in defaulted},
            "given": {name: values[name] for name in RESOLVED if name not in defaulted}}


def _build(prepared: Prepared, spec: ModelSpec, config: TrainConfig, source: dict,
           strategy=None, start: tuple[dict, dict] | None = None):
    """The compiled model (with pretrained vectors, or the layers of a pretrained directory
    `start`, if asked; under the strategy's scope when distributed) and its textrnn.json
    metadata."""
    spec.vocab_size = len(prepared.vocab)
    spec.num_chars = len(prepared.chars) if prepared.chars else 0
    spec.num_bigrams = len(prepared.bigrams) if prepared.bigrams else 0
    spec.num_labels = len(prepared.labels)
    spec.num_tags = len(prepared.tags)
    spec.lookup_features = prepared.lookups.width if prepared.lookups is not None else 0
    spec.multilabel = prepared.multilabel
    if spec.multilabel and spec.token_intent:  # a sentence with several intents: pooled head
        spec.token_intent = False
        prepared.notes.append("several intents per sentence: the intent head pools the tokens "
                              "(no per-token intent)")
    vectors = None
    if config.embeddings:
        from textrnn.data.vectors import load_vectors

        # An embedding size of 0 means "the file's".
        vectors = load_vectors(config.embeddings, prepared.vocab.tokens,
                               spec.embedding_dim or None, config.seed)
        spec.embedding_dim = vectors.dim
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_and_compile(spec, config)
        if vectors is not None:
            model.get_layer("embedding").set_weights([vectors.matrix])
    carried = None
    if start is not None:
        from textrnn.train.finetune import initialise

        carried = initialise(model, *start, config.pretrained)
        prepared.notes.extend(carried["notes"])
        if config.pretrained_lr_scale != 1:  # the optimizer must know the pretrained layers
            compile_model(model, spec, config, carried["layers"])
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
        "slot_values": prepared.slot_values or None,
        # The compiled lists: saving.save writes them to lookups.json, their summary here.
        "lookups": prepared.lookups,
        "model": spec.to_json(),
        "training": {},
        "data": source,
        "embeddings": ({**vectors.to_json(), **vectors.coverage(prepared.token_counts)}
                       if vectors is not None else None),
        "pretrained": carried,
        "metrics": {},
    }
    return model, meta


def training_data(prepared: Prepared, data: Corpus | Shards, spec: ModelSpec,
                  config: TrainConfig, worker: int = 0, workers: int = 1):
    """The batches to fit on, the number of batches an epoch takes, and whether the batches
    are endless (streamed, or rebuilt every epoch with slot noise: fit needs the step count)."""
    weights = (class_weights(prepared.label_counts, prepared.labels)
               if config.class_weight == "balanced" else None)
    rare = np.zeros(len(prepared.vocab), dtype=bool)
    rare[2:] = [prepared.token_counts[token] <= 1 for token in prepared.vocab.tokens[2:]]
    layout = Layout(chars=prepared.chars is not None, bigrams=prepared.bigrams is not None,
                    tags=bool(prepared.tags),
                    labels=len(prepared.labels), multilabel=prepared.multilabel,
                    weights=weights is not None, lookup=spec.lookup_features)
    noise = slot_noise(prepared, config)
    if noise is None and spec.lookup_features:  # the lookup features change every epoch
        noise = SlotNoise(0.0, 0.0, {})
    if prepared.train is not None and noise is not None:
        tokenized = prepared.tokenized[worker::workers]
        sentences = noisy_sentences(
            tokenized, prepared.train_examples[worker::workers],
            lambda tokens, tags, example, rng: sentence_parts(prepared, tokens, tags, example,
                                                              spec.task, rng),
            noise, config.seed + worker)
        steps = steps_for(prepared.train, config.batch_size)
        return streamed(sentences, layout, spec, config.batch_size, config.seed, rare), steps, True
    if prepared.train is not None:
        train = prepared.train
        if workers > 1:  # each worker its share of the rows
            train = Encoded(*(None if part is None else part[worker::workers]
                              for part in (getattr(train, f.name) for f in fields(train))))
        dataset, steps = in_memory(train, spec, config.batch_size, True, config.seed,
                                   weights[train.labels] if weights is not None else None, rare)
        return dataset, steps, False
    sentences = streamed_sentences(prepared, data, spec.task, config.seed, weights, worker,
                                   workers)
    return (streamed(sentences, layout, spec, config.batch_size, config.seed, rare),
            steps_per_epoch(prepared, config), True)


def slot_noise(prepared: Prepared, config: TrainConfig) -> SlotNoise | None:
    """The slot noise training uses (None: none, or no slots to noise). A slot's values to
    substitute are the training data's and those of the lookup list named after it."""
    values = {kind: list(found) for kind, found in prepared.slot_values.items()}
    for lookup in prepared.lookups.lists if prepared.lookups is not None else []:
        if lookup.slot:
            known = set(values.get(lookup.name, []))
            values.setdefault(lookup.name, []).extend(
                entry for entry in lookup.entries if entry not in known)
    noise = SlotNoise.from_values(config.slot_substitution or 0.0, config.slot_unknown or 0.0,
                                  values)
    return noise if noise.active and prepared.slot_values else None


def steps_per_epoch(prepared: Prepared, config: TrainConfig) -> int:
    """Batches an epoch of streamed (or distributed) training takes: --steps-per-epoch, else
    about one pass over the training rows."""
    return config.steps_per_epoch or max(1, math.ceil(prepared.train_rows / config.batch_size))


def _fit(model, meta, prepared, data, valid_corpus, spec, config, progress, checkpoint_dir,
         resume, extra_callbacks=()) -> dict:
    """model.fit with the callbacks we rely on; returns the training figures for textrnn.json."""
    from textrnn.train import checkpoint, interrupts

    train_data, steps, endless = training_data(prepared, data, spec, config)
    identity = checkpoint.run_identity(meta["data"]["sha256"],
                                       valid_corpus.sha256 if valid_corpus else None, spec, config)
    state = checkpoint.resume(checkpoint_dir, identity, model) if resume else {}
    past = state.get("history", {})
    callbacks, stopper = _validation_callbacks(meta, prepared, config, state)
    if meta.get("pretrained") and config.freeze_epochs:
        from textrnn.train.finetune import freeze_callback

        frozen = [name for name in meta["pretrained"]["layers"]
                  if not (name == "embedding" and spec.freeze_embeddings)]
        callbacks.insert(0, freeze_callback(frozen, config.freeze_epochs))
    checkpointer = None
    if checkpoint_dir is not None:
        checkpointer = checkpoint.EpochCheckpoint(
            checkpoint_dir, identity, stopper, {key: list(values) for key, values in past.items()},
            state.get("epoch"))
        callbacks.append(checkpointer)
    callbacks.extend(extra_callbacks)
    if progress is not None:
        callbacks.append(progress_callback(progress, config.epochs, steps))
    callbacks.append(interrupts.stop_callback())
    build_training_state(model, train_data.element_spec)
    started = time.perf_counter()
    interrupted = False
    try:
        with interrupts.stopping(lambda: checkpointer.saved_epoch if checkpointer else None):
            model.fit(train_data, epochs=config.epochs, initial_epoch=state.get("epoch", 0),
                      steps_per_epoch=steps if endless else None,
                      callbacks=callbacks, verbose=0)
    except interrupts.TrainingInterrupted:
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
    # Early stopping watches the figure users judge the model by, on the validation set.
    stopper = early_stopping((state or {}).get("early_stopping"), config.patience)
    return [_score_callback(meta, prepared.valid_examples), stopper], stopper


def early_stopping(restored: dict | None, patience: int):
    """Early stopping on val_score whose patience counts from the first epoch that learnt
    something (learnt()). A fixed minimum of epochs would be arbitrary, as the epochs a model
    needs depend on the data and the learning rate: a slot tagger on our 60-sentence
    flights_slots.conll tags everything O (slot F1 0) for 12 epochs, and stopping at epoch 5
    returned that model. A model that has learnt nothing after UNLEARNT_PATIENCE x patience
    epochs stops (the epoch cap alone would let it run for hours)."""
    from textrnn.train.checkpoint import ResumableEarlyStopping

    class PatientUntilLearnt(ResumableEarlyStopping):
        def on_epoch_end(self, epoch, logs=None):
            if not learnt((logs or {}).get(self.monitor)) and not learnt(self.best):
                self.start_from_epoch = epoch + 1  # Keras' warm-up: this epoch is not counted
                if epoch + 1 >= UNLEARNT_PATIENCE * self.patience:
                    self.model.stop_training = True
            super().on_epoch_end(epoch, logs)

    return PatientUntilLearnt(restored, monitor="val_score", mode="max", patience=patience,
                              restore_best_weights=True)


def _fit_distributed(strategy, cluster, model, local, meta, prepared, data, spec, config,
                     progress, extra_callbacks, timeout) -> dict:
    """The custom multi-worker loop of distributed.py, with our callbacks. The batch size is
    the global one: each worker takes its share; every worker runs the same number of steps."""
    from textrnn.train import distributed

    workers = len(cluster.workers)
    per_worker = replace(config, batch_size=max(1, config.batch_size // workers))
    steps = steps_per_epoch(prepared, config)

    def datasets(worker: int, count: int):
        dataset, _, _ = training_data(prepared, data, spec, per_worker, worker, count)
        return dataset.repeat()

    callbacks, _ = _validation_callbacks(meta, prepared, config)
    if cluster.is_chief:  # other workers write nothing
        callbacks.extend(extra_callbacks)
    if progress is not None:
        callbacks.append(progress_callback(progress, config.epochs, steps))
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


TIE_WEIGHT = 1e-3  # of the tie-breaker in a joint model's score
UNLEARNT_PATIENCE = 5  # x patience: epochs a model may take to learn anything at all


def task_score(report: dict) -> float:
    """One figure per task for early stopping: accuracy (micro-F1 when multi-label), slot F1,
    or, for joint models, frame accuracy (intent and every slot right: the measure that needs
    both heads; on SNIPS dev it chose better checkpoints than the mean of the two). Frame
    accuracy stays at 0 for the first epochs on small data, so the mean of intent accuracy and
    slot F1 breaks its ties, with a weight too small to outvote it."""
    name = score_name(report)
    if name == "frame_accuracy":
        return report[name] + TIE_WEIGHT * (report["intent_accuracy"] + report["slot_f1"]) / 2
    return report[name]


def score_name(report: dict) -> str:
    """The figure task_score is: the first of these a report has."""
    for key in ("frame_accuracy", "slot_f1", "accuracy", "micro_f1"):
        if key in report:
            return key
    raise KeyError("no score in the report")


def learnt(score: float | None) -> bool:
    """Whether a task_score shows the model has learnt anything: its figure is above 0 (not
    counting a joint model's tie-breaker)."""
    return score is not None and score > TIE_WEIGHT


def _score_callback(meta: dict, examples: list):
    import keras

    from textrnn.predict.predictor import Predictor, evaluate

    class ValidationScore(keras.callbacks.Callback):
        """Adds `val_score` to the epoch's logs, for early stopping and the history."""

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                report = evaluate(Predictor(self.model, meta), examples)
                logs["val_score"] = task_score(report)
                # The figure itself, by name: the progress shows it, as the summary will.
                logs[f"val_{score_name(report)}"] = report[score_name(report)]

    return ValidationScore()


def build_and_compile(spec: ModelSpec, config: TrainConfig):
    from textrnn.nn.factory import build_model

    model = build_model(spec)
    compile_model(model, spec, config)
    return model


def progress_callback(progress, epochs: int, steps: int):
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
