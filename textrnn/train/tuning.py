"""`textrnn train --autotune`'s options: the budget (a duration, counted from the command's
start), the metric trials are ranked by, the cap on trials. Checked before any data is read;
no Optuna, no Keras here."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from textrnn.errors import UsageError

# The figures --autotune-metric may name, by task ("multilabel": multi-label classification);
# `f1:NAME` is a label's F1 (a slot type's, for tagging).
METRICS = {"classify": ("accuracy", "macro_f1", "weighted_f1"),
           "multilabel": ("micro_f1", "macro_f1"),
           "tag": ("slot_f1",),
           "joint": ("frame_accuracy", "intent_accuracy", "slot_f1", "macro_f1")}
DURATION = re.compile(r"(\d+(?:\.\d*)?)\s*([smh]?)")
SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_duration(value) -> float:
    """Seconds in '90s', '20m', '1h' or a number of seconds (a string or a number)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = DURATION.fullmatch(str(value).strip().lower())
        if match is None:
            raise UsageError(f"--autotune {value}: not a duration (90s, 20m, 1h, or seconds)")
        seconds = float(match[1]) * SECONDS[match[2]]
    if seconds <= 0:
        raise UsageError(f"--autotune {value}: the budget must be more than 0 seconds")
    return seconds


@dataclass
class Tuning:
    """--autotune's options: the budget in seconds from `started` (time.monotonic(), when the
    command started), the metric (None: the task's score) and the cap on trials."""

    seconds: float
    metric: str | None
    trials: int | None
    started: float

    @classmethod
    def from_options(cls, duration, metric: str | None, trials: int | None,
                     started: float) -> Tuning:
        if trials is not None and trials < 1:
            raise UsageError("--autotune-trials must be at least 1")
        known = {name for names in METRICS.values() for name in names}
        if metric is not None and metric not in known and not metric.startswith("f1:"):
            raise UsageError(f"--autotune-metric {metric}: unknown (choose from "
                             f"{', '.join(sorted(known))}, or f1:LABEL)")
        return cls(parse_duration(duration), metric, trials, started)

    def left(self) -> float:
        return self.started + self.seconds - time.monotonic()

    def check_metric(self, task: str, corpus) -> None:
        """The metric exists for the task and, for f1:NAME, NAME is a label (or slot type)
        of the training data."""
        if self.metric is None:
            return
        kind = "multilabel" if task == "classify" and corpus.multilabel else task
        if self.metric.startswith("f1:"):
            name = self.metric[3:]
            names = ({label for example in corpus.examples for label in example.labels or ()}
                     if task != "tag" else set())
            if task in ("tag", "joint"):
                names |= {tag[2:] for example in corpus.examples for tag in example.tags or ()
                          if tag[:2] in ("B-", "I-")}
            if name not in names:
                raise UsageError(f"--autotune-metric {self.metric}: no label or slot '{name}' "
                                 "in the training data")
        elif self.metric not in METRICS[kind]:
            raise UsageError(f"--autotune-metric {self.metric} does not apply to {kind} data "
                             f"(choose from {', '.join(METRICS[kind])}, or f1:LABEL)")

    def score(self, report: dict) -> tuple[str, float]:
        """The metric's name and value in a validation report (predictor.evaluate's)."""
        from textrnn.train.fit import score_name

        if self.metric is None:  # the task's figure (without a joint model's tie-breaker)
            return score_name(report), report[score_name(report)]
        if self.metric.startswith("f1:"):
            name = self.metric[3:]
            for table in (report.get("per_class"), report.get("intent", {}).get("per_class"),
                          report.get("per_slot")):
                if table and name in table:
                    return self.metric, table[name]["f1"]
            return self.metric, 0.0  # never predicted nor in the validation data
        return self.metric, report[self.metric] if self.metric in report \
            else report["intent"][self.metric]
