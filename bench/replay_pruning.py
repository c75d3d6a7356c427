"""Issue 23: what another median-pruner start would have stopped in a search already run.

Replays the per-epoch validation scores that a `textrnn train --autotune` search recorded (its
Optuna study, beside the model) through the rule textrnn uses, Optuna's MedianPruner with the
same warm-up, judging from the Nth completed trial on. Prints the
trials it would stop earlier and the epochs and seconds saved. An estimate: it keeps the
search's own sequence of trials, whereas a real search would spend the saved time on others.

    .venv/bin/python bench/replay_pruning.py bench/out/autotune/tnews-13-30m --after 3,1
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

from textrnn.bundle import AUTOTUNE_FILE
from textrnn.train.autotune import STUDY_FILE, make_pruner
from textrnn.train.checkpoint import directory_for


def curves(model: Path) -> dict[int, dict[int, float]]:
    """Trial number -> {epoch: validation score}, from the search's study."""
    with sqlite3.connect(directory_for(model) / STUDY_FILE) as db:
        rows = db.execute("SELECT t.number, v.step, v.intermediate_value "
                          "FROM trial_intermediate_values v JOIN trials t USING (trial_id)")
        found: dict[int, dict[int, float]] = {}
        for number, epoch, score in rows:
            found.setdefault(number, {})[epoch] = score
    return found


def replay(entries: list[dict], scores: dict, after: int) -> list[dict]:
    """The trials Optuna's median rule, judging from the `after`th completed trial on, stops
    earlier than the search did: each with the epochs it ran, where the replay stops it, the
    seconds saved. The trials are told to a new study in the order and state of the search."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=make_pruner(optuna, after))
    earlier = []
    for entry in entries:
        curve = scores.get(entry["trial"], {})
        trial, stop = study.ask(), None
        for epoch in sorted(curve):
            trial.report(curve[epoch], epoch)
            if trial.should_prune():
                stop = epoch
                break
        if stop is None and not entry["pruned"]:
            study.tell(trial, entry["score"])
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        if stop is not None and stop < len(curve):
            earlier.append({"trial": entry["trial"], "ran": len(curve), "stops": stop,
                            "score": entry["score"], "seconds_saved":
                            entry["seconds"] * (len(curve) - stop) / len(curve)})
    return earlier


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="the model directory of an --autotune search")
    parser.add_argument("--after", default="3,1",
                        help="completed trials before the rule judges, each replayed")
    args = parser.parse_args(argv)
    record = json.loads((args.model / AUTOTUNE_FILE).read_text(encoding="utf-8"))
    scores = curves(args.model)
    spent = sum(entry["seconds"] for entry in record["trials"])
    winner = max(entry["score"] for entry in record["trials"] if not entry["pruned"])
    for after in (int(n) for n in args.after.split(",")):
        earlier = replay(record["trials"], scores, after)
        for trial in earlier:
            print(f"  trial {trial['trial']}: ran {trial['ran']} epochs, stopped at epoch "
                  f"{trial['stops']}; its score {trial['score']:.4f} (the winner's {winner:.4f})")
        print(f"judging from completed trial {after} on: {len(earlier)} trials stopped earlier, "
              f"{sum(t['ran'] - t['stops'] for t in earlier)} epochs and "
              f"{sum(t['seconds_saved'] for t in earlier):.0f} s saved of {spent:.0f} s of trials")
    return 0


if __name__ == "__main__":
    sys.exit(main())
