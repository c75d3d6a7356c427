"""Pretraining on unlabelled text (`textrnn pretrain`): the embedding and a recurrent encoder
learnt as two language models (nn.language_model), with held-out perplexity after every
epoch, early stopping on it, epoch checkpoints and resume, as `train` has.

Data goes through train's own preparation (tokenizer, vocabulary, characters, bigrams, in
memory or streamed from disk) and tf.data pipeline (length buckets); only the targets differ:
each word's next and previous word.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from textrnn import __version__
from textrnn.data.examples import Corpus
from textrnn.data.shards import Shards, fingerprint
from textrnn.errors import UsageError
from textrnn.nn.factory import ModelSpec
from textrnn.train.defaults import resolve_pretrain_config
from textrnn.train.pipeline import (
    Layout,
    bucketed,
    drop_rare,
    sentence_dataset,
    steps_for,
    streamed_dataset,
)
from textrnn.train.prepare import (
    VALID_CAP,
    Prepared,
    TrainConfig,
    encode,
    mostly_cjk,
    prepare,
    prepare_streamed,
    sample_texts,
    streamed_sentences,
    tokenize_example,
)

TASK = "lm"  # the spec's task: no labels, no tags
CELLS = ("lstm", "gru", "rnn")
# A vocabulary larger than this trains with a sampled softmax of SAMPLED words (full softmax
# costs batch x length x vocabulary x dim per direction); perplexity always uses the full one.
SAMPLED_ABOVE = 20_000
SAMPLED = 1024


def pretrain_spec(encoder: str = "lstm", **overrides) -> ModelSpec:
    """The language models' settings; `overrides` that are None keep the default."""
    if encoder not in CELLS:
        raise UsageError(f"textrnn pretrain trains recurrent encoders: --encoder "
                         f"{'|'.join(CELLS)}, not '{encoder}'")
    values = {"units": 128, "embedding_dim": 128, "dropout": 0.3, "char_features": False}
    values.update({key: value for key, value in overrides.items() if value is not None})
    spec = ModelSpec(task=TASK, vocab_size=0, encoder=encoder, **values)
    if spec.units < 1 or spec.embedding_dim < 1 or not 0 <= spec.dropout < 1:
        raise UsageError("--units and --embedding-dim must be positive, --dropout in [0, 1)")
    return spec


def pretrain(data: Corpus | Shards, spec: ModelSpec, config: TrainConfig, progress=None,
             checkpoint_dir: Path | None = None, resume: bool = False
             ) -> tuple[dict, dict[str, list[np.ndarray]]]:
    """Train the language models; returns (textrnn.json of the pretrained directory, weights
    by layer name) for textrnn.pretrained.save."""
    from textrnn.train.fit import set_seeds

    if not config.valid_split:
        raise UsageError("pretraining needs held-out text for its perplexity: --valid-split > 0")
    if spec.bigrams is None:
        spec.bigrams = mostly_cjk(sample_texts(data))
    set_seeds(config.seed)
    if isinstance(data, Shards):
        prepared = prepare_streamed(data, None, config, TASK, spec.char_features, spec.bigrams)
        source = {"source": data.pattern, "files": len(data.files), "streamed": True,
                  "sha256": fingerprint(data.files)}
    else:
        capped = replace(config, valid_split=min(config.valid_split,
                                                 VALID_CAP / len(data.examples)))
        prepared = prepare(data, None, capped, TASK, spec.char_features, spec.bigrams)
        source = {"source": data.source, "streamed": False, "sha256": data.sha256}
    if not prepared.valid_examples:
        raise UsageError(f"{source['source']}: too little text to hold some out for perplexity")
    spec.vocab_size = len(prepared.vocab)
    spec.num_chars = len(prepared.chars) if prepared.chars else 0
    spec.num_bigrams = len(prepared.bigrams) if prepared.bigrams else 0
    resolve_pretrain_config(config, prepared.train_rows)
    from textrnn.nn.language_model import DIRECTIONS, build_language_model  # TensorFlow

    model = build_language_model(spec, SAMPLED if spec.vocab_size > SAMPLED_ABOVE else 0)
    model.compile(optimizer=_optimizer(config), jit_compile=False)
    figures = _fit(model, prepared, data, spec, config, source["sha256"], progress,
                   checkpoint_dir, resume)
    valid = _valid_batches(prepared, config.batch_size)
    scores = model.evaluate(valid, verbose=0, return_dict=True)
    corpus = {**source, "rows": prepared.train_rows, "valid_rows": len(prepared.valid_examples),
              "tokens": sum(prepared.token_counts.values()), "notes": prepared.notes}
    meta = {
        "textrnn_version": __version__,
        "tokenizer": {**prepared.tokenizer.to_json(), "max_len": prepared.max_len},
        "vocab": prepared.vocab.tokens,
        "chars": prepared.chars.tokens if prepared.chars else None,
        "bigrams": prepared.bigrams.tokens if prepared.bigrams else None,
        "model": spec.to_json(),
        "corpus": corpus,
        "perplexity": {direction: round(math.exp(scores[f"{direction}_loss"]), 3)
                       for direction in DIRECTIONS} | {"mean": round(math.exp(scores["loss"]), 3)},
        "training": {**figures, "sampled_softmax": model.sampled},
    }
    return meta, weights_of(model, spec)


def _optimizer(config: TrainConfig):
    import keras

    return keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm or None)


def language_model_targets(parts: dict, rare=None, seed: int = 0):
    """(inputs, targets) of one sentence: each word's next and previous word, 0 (nothing to
    predict) past either end. With `rare` (training), a word seen once is the unknown word
    half of the time, as input and as target alike: so the models learn how likely an unseen
    word is, which the held-out text's unseen words need for a fair perplexity.

    With bigram features the forward model predicts the word after next: the bigram vector at
    a position is that of the word and its right neighbour, so the next word is already among
    its inputs (and would be copied, not predicted)."""
    import tensorflow as tf

    tokens = parts["tokens"] if rare is None else drop_rare(parts["tokens"], rare, seed)
    inputs = {name: parts[name] for name in ("chars", "bigrams") if name in parts}
    inputs["tokens"] = tokens
    ahead = 2 if "bigrams" in parts else 1
    nothing = tf.zeros([1], tokens.dtype)
    return inputs, {"next": tf.concat([tokens[ahead:], tf.zeros([ahead], tokens.dtype)], 0)
                    [: tf.shape(tokens)[0]],
                    "previous": tf.concat([nothing, tokens[:-1]], 0)}


def _batches(dataset, batch_size: int, prepared: Prepared | None = None, seed: int = 0):
    """Length-bucketed language-model batches; with `prepared`, rare-word dropout from its
    training counts."""
    import tensorflow as tf

    rare = None
    if prepared is not None:
        counts = prepared.token_counts
        rare = tf.constant([False, False, *(counts[token] <= 1
                                            for token in prepared.vocab.tokens[2:])])
    return bucketed(dataset.map(lambda parts: language_model_targets(parts, rare, seed),
                                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True),
                    batch_size)


def _train_batches(prepared: Prepared, data: Corpus | Shards, config: TrainConfig):
    """The training batches and the number an epoch takes."""
    if prepared.train is not None:
        dataset = sentence_dataset(prepared.train, True, config.seed)
        return (_batches(dataset, config.batch_size, prepared, config.seed),
                steps_for(prepared.train, config.batch_size))
    from textrnn.train.fit import steps_per_epoch

    layout = Layout(chars=prepared.chars is not None, bigrams=prepared.bigrams is not None,
                    tags=False, labels=0, multilabel=False, weights=False)
    sentences = streamed_sentences(prepared, data, TASK, config.seed, None)
    dataset = streamed_dataset(sentences, layout, config.seed)
    return (_batches(dataset, config.batch_size, prepared, config.seed),
            steps_per_epoch(prepared, config))


def _valid_batches(prepared: Prepared, batch_size: int):
    examples = prepared.valid_examples
    tokenized = [tokenize_example(prepared.tokenizer, example) for example in examples]
    encoded = encode(prepared, tokenized, examples, TASK)
    return _batches(sentence_dataset(encoded, False, 0), batch_size)


def _fit(model, prepared: Prepared, data, spec: ModelSpec, config: TrainConfig, sha256: str,
         progress, checkpoint_dir: Path | None, resume: bool) -> dict:
    """model.fit with perplexity, early stopping on it, checkpoints and progress; returns the
    training figures."""
    from textrnn.train import checkpoint, interrupts
    from textrnn.train.fit import progress_callback

    train, steps = _train_batches(prepared, data, config)
    identity = checkpoint.run_identity(sha256, None, spec, config)
    state = checkpoint.resume(checkpoint_dir, identity, model) if resume else {}
    past = state.get("history", {})
    stopper = checkpoint.ResumableEarlyStopping(
        state.get("early_stopping"), monitor="val_loss", mode="min", patience=config.patience,
        restore_best_weights=True)
    callbacks = [_perplexity_callback(), stopper]
    checkpointer = None
    if checkpoint_dir is not None:
        checkpointer = checkpoint.EpochCheckpoint(
            checkpoint_dir, identity, stopper, {key: list(values) for key, values in past.items()},
            state.get("epoch"))
        callbacks.append(checkpointer)
    if progress is not None:
        callbacks.append(progress_callback(progress, config.epochs, steps))
    callbacks.append(interrupts.stop_callback())
    started = time.perf_counter()
    try:
        with interrupts.stopping(lambda: checkpointer.saved_epoch if checkpointer else None):
            model.fit(train, validation_data=_valid_batches(prepared, config.batch_size),
                      epochs=config.epochs, initial_epoch=state.get("epoch", 0),
                      steps_per_epoch=steps if prepared.train is None else None,
                      callbacks=callbacks, verbose=0)
    except interrupts.TrainingInterrupted:
        if progress is not None:
            progress.finish()
        raise
    seconds = time.perf_counter() - started
    run = model.history.history if getattr(model, "history", None) else {}
    history = {key: past.get(key, []) + run.get(key, []) for key in {*past, *run}}
    epochs_run = len(history.get("loss", []))
    tokens = sum(prepared.token_counts.values())
    if prepared.train is None and config.steps_per_epoch:  # an epoch is not one pass
        tokens *= steps * config.batch_size / prepared.train_rows
    done = epochs_run - state.get("epoch", 0)
    return {
        "epochs": config.epochs, "epochs_run": epochs_run,
        "best_epoch": int(np.argmin(history["val_loss"])) + 1 if history.get("val_loss") else 0,
        "resumed_from_epoch": state.get("epoch"), "batch_size": config.batch_size,
        "learning_rate": config.learning_rate, "seed": config.seed,
        "seconds": round(seconds, 2),
        "tokens_per_second": round(done * tokens / max(seconds, 1e-9), 1),
        "history": {key: [round(float(v), 5) for v in values] for key, values in history.items()},
    }


def _perplexity_callback():
    import keras

    class Perplexity(keras.callbacks.Callback):
        """Adds the held-out perplexity (full softmax, both directions) to the epoch's logs."""

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None and "val_loss" in logs:
                logs["val_perplexity"] = math.exp(min(logs["val_loss"], 50.0))

    return Perplexity()


def weights_of(model, spec: ModelSpec) -> dict[str, list[np.ndarray]]:
    """The language models' weights by the names textrnn.pretrained stores them under."""
    from textrnn.nn.language_model import DIRECTIONS, encoder_name

    weights = {"embedding": model.layer("embedding").get_weights()}
    for name in ("char_cnn", "bigram_embedding"):
        if any(layer.name == name for layer in model.network.layers):
            weights[name] = model.layer(name).get_weights()
    pair = model.layer(encoder_name(spec.encoder))
    weights["forward"] = pair.forward_layer.get_weights()
    weights["backward"] = pair.backward_layer.get_weights()
    for direction in DIRECTIONS:
        weights[f"{direction}_projection"] = model.layer(f"{direction}_projection").get_weights()
    weights["output"] = [np.asarray(model.output_bias)]
    return weights
