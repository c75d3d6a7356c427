"""`textrnn train --autotune DURATION`: the best model for the data within a time budget.

An Optuna study (TPE, multivariate, seeded) over train/space.py's options. Trial 0 is the
default model. Every trial trains as `textrnn train` with its options would (same seed, same
early stopping on the task's score), so the command printed for the winner trains it again; the
trial's validation score per epoch goes to a median pruner. A slow search, one whose default
model took more than a tenth of the budget, has room for few trials: its pruner judges from the
first finished trial on, and its later trials train with less patience (the command printed for
one says so). The budget covers the whole command: a trial stops at its best epoch so far when
the next epoch would not finish in time, and no trial starts that could not finish its first
epoch. The winner is the best trial's own model, saved as soon as it is the best (with
autotune.json, the record of every trial), so Ctrl-C or the end of the budget keeps it. The
study lives in SQLite beside the output, for `--resume`. Optuna (textrnn[tune]) is imported by
this module only.
"""

from __future__ import annotations

import gc
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textrnn.errors import UsageError
from textrnn.train import interrupts
from textrnn.train.tuning import Tuning

STUDY_FILE = "autotune.db"  # in the output's checkpoint directory
PRUNE_AFTER = 3  # trials that finish before the pruner judges others
# A default model (trial 0) that takes more than this share of the budget makes the search
# slow: three unjudged trials would take a third of it or more. Then the pruner judges from
# the first finished trial on, and later trials stop after half the patience (on TNEWS, four
# epochs past the best one were 40-60% of each trial's time).
SLOW_TRIAL = 0.1
SLOW_PRUNE_AFTER = 1
WARMUP_EPOCHS = 2  # epochs a trial always gets (the first scores say little)
# Seconds to score and save a trial, until one has been measured: the larger of these.
FINISH_GUESS = (3.0, 0.05)  # seconds, share of the budget
# Kept for the command's own end (its summary, TensorFlow's teardown: 5-10 s on a loaded
# 2-core machine) and for a trial's scoring taking longer than the longest so far: the larger.
SPARE = (3.0, 0.03)  # seconds, share of the budget


@dataclass
class Trials:
    """What the search hands to the caller: `fit(options, callbacks)` trains a trial as
    `textrnn train` with those options (beside the user's) would and returns (keras model,
    meta with validation metrics); `publish(record, best)` writes autotune.json into the
    output, with the model and meta of `best` when the trial just finished leads."""

    fit: Callable
    publish: Callable


def search(tuning: Tuning, space, trials: Trials, checkpoints: Path, identity: dict,
           given: dict, resume: bool, seed: int, progress=None) -> dict:
    """Run trials until the budget, the trial cap or Ctrl-C ends the search; returns the
    record (what autotune.json holds). `identity` (the data and the user's options) must
    match the study's to resume it; `given` (the options the user set) goes on record."""
    optuna = _optuna()
    study = _study(optuna, checkpoints / STUDY_FILE, identity, resume, seed)
    entries = [trial.user_attrs["entry"] for trial in study.trials if "entry" in trial.user_attrs]
    waiting = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
    if not entries and not waiting:
        study.enqueue_trial(space.defaults)  # trial 0: the default model
    record = {"metric": tuning.metric, "budget_seconds": tuning.seconds, "seed": seed,
              "sampler": "TPE (multivariate)", "pruner": type(study.pruner).__name__,
              "fixed": space.fixed, "defaults": space.defaults, "space": space.describe(),
              "given": given, "trials": entries, "slow": is_slow(entries, tuning.seconds)}
    timing = {"finish": max(FINISH_GUESS[0], FINISH_GUESS[1] * tuning.seconds),
              "first_epoch": None, "spare": max(SPARE[0], SPARE[1] * tuning.seconds)}
    if progress is not None:
        progress.start(tuning.seconds, tuning.started, space.fixed)
    stopped_by = "budget"
    while True:
        if tuning.trials is not None and len(entries) >= tuning.trials:
            stopped_by = "trials"
            break
        if tuning.left() < (timing["first_epoch"] or 0) + timing["finish"] + timing["spare"]:
            break  # no time for another trial's first epoch (the shortest so far)
        slow = is_slow(entries, tuning.seconds)
        record["slow"] = slow
        study.pruner = make_pruner(optuna, SLOW_PRUNE_AFTER if slow else PRUNE_AFTER)
        _clear_session()
        with interrupts.critical():
            trial = study.ask()
            options = space.suggest(trial)
            # Only what differs from the defaults, as the printed command gives it.
            changes = {**space.changes(options), **(space.hurried if slow else {})}
        monitor = _monitor(trial, tuning, timing, progress, _status(record, trial.number))
        started = time.monotonic()
        try:
            # Ctrl-C is only recorded during a trial and acted on after the next batch: raised
            # inside TensorFlow's tracing (every trial traces anew) it became another error.
            with interrupts.critical(), interrupts.stopping(lambda: None):
                interrupts.check()
                model, meta = trials.fit(changes, [monitor])
        except KeyboardInterrupt:  # Ctrl-C, or the budget, before the first epoch's end
            with interrupts.critical():
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            stopped_by = "budget" if monitor.cut else "ctrl-c"
            break
        name, score = tuning.score(meta["metrics"])
        training = meta["training"]
        # Stopped mid-epoch (the budget, or Ctrl-C) is kept at its best whole epoch so far.
        ctrl_c = training["interrupted"] and not monitor.cut
        entry = {"trial": trial.number, "options": options, "changes": changes,
                 "score": score, "epochs": training["epochs_run"],
                 "best_epoch": training["best_epoch"],
                 "seconds": round(time.monotonic() - started, 2),
                 "pruned": monitor.pruned, "cut": monitor.cut or ctrl_c}
        before = _best(entries)
        entries.append(entry)
        leader = _best(entries)
        record.update(metric=name, best_trial=leader["trial"] if leader else None)
        with interrupts.critical():
            trial.set_user_attr("entry", entry)
            if monitor.pruned:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, score)
            record["seconds"] = round(time.monotonic() - tuning.started, 2)
            trials.publish(record, (model, meta) if leader is not before else None)
        timing["finish"] = max(timing["finish"] if entries[:-1] else 0,
                               time.monotonic() - monitor.ended)
        del model, meta, monitor  # the monitor holds the model too: all go before the next
        if progress is not None:
            progress.update(**_status(record))
        if ctrl_c or interrupts.requested():
            stopped_by = "ctrl-c"
            break
    if progress is not None:
        progress.finish()
    record.update(seconds=round(time.monotonic() - tuning.started, 2), stopped_by=stopped_by,
                  interrupted=stopped_by == "ctrl-c")
    if entries:
        with interrupts.critical():
            trials.publish(record, None)
    return record


def _best(entries: list[dict]) -> dict | None:
    """The best trial that was not pruned; the earliest among equals."""
    finished = [entry for entry in entries if not entry["pruned"]]
    return max(finished, key=lambda entry: entry["score"]) if finished else None


def _status(record: dict, trial: int | None = None) -> dict:
    """What the progress line shows."""
    entries = record["trials"]
    best = _best(entries)
    return {"trial": trial, "done": len(entries),
            "pruned": sum(entry["pruned"] for entry in entries),
            "best": None if best is None else (best["score"], best["trial"])}


def _optuna():
    try:
        import optuna
    except ImportError:
        raise UsageError("--autotune needs Optuna: pip install 'textrnn[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def _study(optuna, path: Path, identity: dict, resume: bool, seed: int):
    """The study in `path`: a new one, or (`resume`) the one there, if it was made with the
    same data and options."""
    if resume and not path.exists():
        raise UsageError(f"--resume: no search to continue at {path}")
    if not resume:
        path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        storage=f"sqlite:///{path.resolve()}", study_name="autotune", direction="maximize",
        load_if_exists=True, pruner=make_pruner(optuna))
    # Seeded past the trials made: a resumed search must not draw the first run's trials again.
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials), multivariate=True)
    if not resume:
        study.set_user_attr("identity", identity)
    elif study.user_attrs.get("identity") != identity:
        raise UsageError(f"--resume: the search at {path} was made with other data or options; "
                         "drop --resume to start afresh")
    return study


def is_slow(entries: list[dict], budget: float) -> bool:
    """Whether the default model (trial 0) took more than SLOW_TRIAL of the budget."""
    default = next((entry for entry in entries if entry["trial"] == 0), None)
    return default is not None and default["seconds"] > SLOW_TRIAL * budget


def make_pruner(optuna, after: int = PRUNE_AFTER):
    """The rule that stops weak trials: a trial whose score after an epoch is below the median
    of the earlier trials' at that epoch stops, once `after` trials have finished
    (bench/pruners.py measures the alternatives)."""
    return optuna.pruners.MedianPruner(n_startup_trials=after, n_warmup_steps=WARMUP_EPOCHS)


def _clear_session() -> None:
    """Forget the previous trial's graphs, so memory stays flat over many trials."""
    import keras

    keras.backend.clear_session()
    gc.collect()


class BudgetSpent(KeyboardInterrupt):
    """Raised mid-epoch when the budget is spent: the trial stops as on Ctrl-C with
    --save-on-interrupt (which trials train with), at its best whole epoch so far."""


def _monitor(trial, tuning: Tuning, timing: dict, progress, status: dict):
    """A Keras callback: reports each epoch's validation score to the trial and stops it when
    the pruner says so, or before an epoch that would overrun the budget (Keras' early
    stopping then restores its best epoch), or mid-epoch when the budget is spent."""
    import keras

    class TrialMonitor(keras.callbacks.Callback):
        pruned = cut = False
        ended = None

        def on_train_begin(self, logs=None):
            self.began = self.ended = time.monotonic()
            self.longest = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_began = time.monotonic()

        def on_train_batch_end(self, batch, logs=None):
            # Training's end so far: a stop mid-epoch (the budget, Ctrl-C) leaves model.fit by
            # an exception, and Keras skips on_train_end.
            self.ended = time.monotonic()
            if progress is not None:
                progress.tick()
            if tuning.left() < timing["finish"] + timing["spare"]:
                self.cut = True
                raise BudgetSpent

        def on_epoch_end(self, epoch, logs=None):
            now = time.monotonic()
            self.longest = max(self.longest, now - self.epoch_began)
            if epoch == 0:
                first = now - self.began
                timing["first_epoch"] = min(first, timing["first_epoch"] or first)
            trial.report(float((logs or {}).get("val_score", 0.0)), epoch + 1)
            if trial.should_prune():
                self._stop("pruned")
            elif tuning.left() < self.longest + timing["finish"] + timing["spare"]:
                self._stop("cut")
            if progress is not None:
                progress.update(**status, epoch=epoch + 1)

        def on_train_end(self, logs=None):
            self.ended = time.monotonic()

        def _stop(self, why: str) -> None:
            setattr(self, why, True)
            self.model.stop_training = True

    return TrialMonitor()
