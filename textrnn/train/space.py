"""What `--autotune` searches: `train`'s own options, each over a range that depends on the task
and the data size, around the defaults of the command as the user typed it (trial 0).

The defaults are not written here: they are the values train/defaults.py resolved for the
user's command (its model spec and configuration), and every range holds them. Options the
user set are fixed, out of the search. A trial's options are rounded before training, so the
command printed for the winner (its options that differ from the defaults) trains it again.
"""

from __future__ import annotations

from dataclasses import dataclass

SMALL_DATA = 1000  # training rows below which the search keeps to small models, one layer
FEWEST_UPDATES = 10  # batches an epoch at least: larger batches are left out


@dataclass(frozen=True)
class Choice:
    values: tuple


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    step: float | None = None  # None with log: a log scale, 2 significant digits kept
    log: bool = False


class Space:
    """The options a search varies (`dimensions`, by `train`'s option names), their values in
    the default model (`defaults`) and the options the user fixed."""

    def __init__(self, dimensions: dict, defaults: dict, fixed: dict, hurried: dict):
        self.dimensions = dimensions
        self.defaults = defaults
        self.fixed = fixed
        self.hurried = hurried  # what a slow search's later trials change: less patience

    def suggest(self, trial) -> dict:
        """A trial's options, drawn by the Optuna `trial`, rounded as the command shows them."""
        options = {}
        for name, dimension in self.dimensions.items():
            if isinstance(dimension, Choice):
                options[name] = trial.suggest_categorical(name, list(dimension.values))
            else:
                value = trial.suggest_float(name, dimension.low, dimension.high,
                                            step=dimension.step, log=dimension.log)
                options[name] = float(f"{value:.2g}") if dimension.log else round(value, 4)
        return options

    def changes(self, options: dict) -> dict:
        """The options that differ from the default model's."""
        return {name: value for name, value in options.items() if value != self.defaults[name]}

    def describe(self) -> dict:
        """The search space as plain data, for autotune.json."""
        return {name: list(dimension.values) if isinstance(dimension, Choice)
                else {"low": dimension.low, "high": dimension.high, "step": dimension.step,
                      "log": dimension.log}
                for name, dimension in self.dimensions.items()}


def space_for(task: str, train_rows: int, spec, config, given: dict) -> Space:
    """The space for `task` on `train_rows` rows, around `spec` and `config` (the default
    model: train/defaults.py's resolution of the user's command); `given` holds the options the
    user set (by `train`'s names), which stay fixed."""
    small = train_rows < SMALL_DATA
    start = given.get("pretrained") is not None  # its layers fix the sizes and features
    tagging = task in ("tag", "joint")
    encoders = ("lstm", "gru") if tagging or given.get("bidirectional") is not None \
        else ("lstm", "gru", "cnn")
    candidates = {
        "encoder": Choice(encoders),
        "units": Choice((32, 64, 128) if small else (64, 128, 256)),
        "layers": Choice((1,) if small else (1, 2)),
        "embedding_dim": Choice((32, 64, 128) if small else (64, 128, 256)),
        "char_features": Choice((False, True)),
        "dropout": Range(0.1, 0.6, 0.05),
        "lr": Range(3e-4, 1e-2, log=True),
        "lr_decay": Range(0.85, 1.0, 0.01),
        "batch_size": Choice(tuple(size for size in (8, 16, 32, 64, 128)
                                   if size * FEWEST_UPDATES <= train_rows)),
    }
    if tagging:
        candidates.update(crf=Choice((True, False)),
                          slot_substitution=Range(0.0, 0.5, 0.05))
    if task == "joint":
        candidates["token_intent"] = Choice((True, False))
    if start:
        for name in ("encoder", "units", "layers", "embedding_dim", "char_features"):
            del candidates[name]
        candidates["freeze_epochs"] = Choice((0, 1, 2, 3))
    if given.get("embeddings") is not None:
        candidates.pop("embedding_dim", None)  # the vector file's size
    # What a given encoder rules out (factory.check_spec): the tree is one layer, the Jordan
    # tagger one left-to-right layer without a CRF or an intent per token.
    ruled_out = {"tree": ("layers",), "jordan": ("layers", "crf", "token_intent")}
    for name in ruled_out.get(given.get("encoder"), ()):
        candidates.pop(name, None)
    values = {"lr": config.learning_rate, "lr_decay": config.lr_decay,
              "batch_size": config.batch_size, "slot_substitution": config.slot_substitution,
              "freeze_epochs": config.freeze_epochs}
    dimensions, defaults = {}, {}
    for name, dimension in candidates.items():
        if name in given:
            continue
        default = values[name] if name in values else getattr(spec, name)
        dimension = _holding(dimension, default)
        if isinstance(dimension, Range) or len(dimension.values) > 1:
            dimensions[name], defaults[name] = dimension, default
    fixed = {name: value for name, value in given.items() if name in candidates}
    hurried = {} if "patience" in given else {"patience": max(1, config.patience // 2)}
    return Space(dimensions, defaults, fixed, hurried)


def _holding(dimension, value):
    """`dimension` widened to hold the default `value` (trial 0 must be a point of it)."""
    if isinstance(dimension, Choice):
        return dimension if value in dimension.values else \
            Choice(tuple(sorted({*dimension.values, value})))
    return Range(min(dimension.low, value), max(dimension.high, value), dimension.step,
                 dimension.log)
