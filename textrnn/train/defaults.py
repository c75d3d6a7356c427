"""Every default of a training run, in one place: from the task, the encoder and the data to a
complete model spec and training configuration. `train`, `compare`, `pretrain` and the Python
API read them here, and the model directory records which values were defaults and which the
user gave (`textrnn info` shows both).

The model spec is resolved before training (`resolve_spec`); the configuration once the
training rows are counted (`resolve_config`), because the batch size follows the data size.
"""

from __future__ import annotations

from textrnn.nn.factory import ENCODERS, ModelSpec
from textrnn.train.pipeline import auto_batch_size
from textrnn.train.prepare import TrainConfig, mostly_cjk, sample_texts

# Joint intent + slot models train with their own recipe: chosen on SNIPS dev, one lever at a
# time (docs/benchmarks.md, "Joint models: what each lever gave").
JOINT_RECIPE = {"embedding_dim": 64, "dropout": 0.4, "batch_size": 32, "lr_decay": 0.92,
                "patience": 8}
DEFAULTS = {"embedding_dim": 128, "dropout": 0.3, "batch_size": 64, "lr_decay": 1.0,
            "patience": 4}
# Slot noise (train/augment.py) for models that tag; chosen on SNIPS dev (docs/benchmarks.md,
# "Slot values never seen in training"): substitution at 0.3 took slot F1 on values never seen
# in training from 80.2 to 83.6 and on all spans from 93.1 to 94.5.
SLOT_NOISE = {"slot_substitution": 0.3, "slot_unknown": 0.0}
# Every task: Adam's learning rate, and the epochs a pretrained encoder (--pretrained) stays
# fixed while the fresh layers learn.
COMMON = {"learning_rate": 1e-3, "freeze_epochs": 1}
# `textrnn pretrain`'s language models: epochs, and epochs without a better held-out
# perplexity before stopping.
PRETRAIN = {"epochs": 20, "patience": 3}
# Patience ends training; the cap only stops a run that would go on for hours. 40 epochs
# stopped a 4,500-sentence joint model still improving (best epoch 36).
MAX_EPOCHS = 200


# What resolve_spec and resolve_config decide (when not given), in the order info shows them.
RESOLVED = ("embedding_dim", "units", "layers", "bidirectional", "char_features", "crf",
            "token_intent", "dropout", "epochs", "batch_size", "learning_rate", "lr_decay",
            "patience", "slot_substitution", "slot_unknown")


def resolve_spec(task: str, encoder: str = "lstm", vectors_given: bool = False,
                 **given) -> tuple[ModelSpec, list[str]]:
    """The model spec for `task` and `encoder`, with `given` values (None: not given) over the
    defaults, and the names of the options left to their defaults. Without an embedding size,
    a word-vector file (`vectors_given`) decides it when it is read (0 until then)."""
    info = ENCODERS.get(encoder)
    # Bidirectional where it applies; the Jordan tagger decodes left to right. Slot filling
    # gets a CRF (SNIPS dev slot F1 87.5 -> 90.1) and character features (92.5 -> 93.2).
    tagging = task in ("tag", "joint")
    jordan_tagger = encoder == "jordan" and tagging
    recipe = JOINT_RECIPE if task == "joint" else DEFAULTS
    defaults = {"units": info.units if info else 128, "layers": 1,
                "bidirectional": bool(info and info.recurrent and not jordan_tagger),
                "crf": tagging and not jordan_tagger, "char_features": tagging,
                "token_intent": task == "joint" and not jordan_tagger,
                "dropout": recipe["dropout"],
                "embedding_dim": 0 if vectors_given else recipe["embedding_dim"]}
    chosen = {key: value for key, value in given.items() if value is not None}
    spec = ModelSpec(task=task, vocab_size=0, encoder=encoder, **{**defaults, **chosen})
    return spec, sorted(set(defaults) - set(chosen))


def resolve_config(config: TrainConfig, task: str, train_rows: int) -> list[str]:
    """Fill the options of `config` left as None with the task's defaults (the batch size
    from the number of training rows); returns their names."""
    recipe = JOINT_RECIPE if task == "joint" else DEFAULTS
    defaults = {**COMMON, "epochs": MAX_EPOCHS,
                "batch_size": auto_batch_size(train_rows, recipe["batch_size"]),
                "lr_decay": recipe["lr_decay"], "patience": recipe["patience"],
                **(SLOT_NOISE if task in ("tag", "joint") else dict.fromkeys(SLOT_NOISE, 0.0))}
    return _fill(config, defaults)


def resolve_pretrain_config(config: TrainConfig, train_rows: int) -> list[str]:
    """resolve_config for the language models of `textrnn pretrain`."""
    return _fill(config, {**COMMON, **PRETRAIN, "batch_size": auto_batch_size(train_rows)})


def _fill(config: TrainConfig, defaults: dict) -> list[str]:
    """Set the options of `config` that are None to `defaults`; returns their names."""
    filled = sorted(name for name in defaults if getattr(config, name) is None)
    for name in filled:
        setattr(config, name, defaults[name])
    return filled


def default_encoder(task: str, data) -> str:
    """The BiLSTM, except for classifying mostly-CJK text: there the CNN (with bigram
    features) scored 55.25% on TNEWS dev against the BiLSTM's 53.86%, in 181 s against 494 s
    (docs/benchmarks.md's protocol, seed 13)."""
    return "cnn" if task == "classify" and mostly_cjk(sample_texts(data)) else "lstm"
