"""`encoders`: every encoder of the installed textrnn, with its defaults, on TREC
(classification) and SNIPS (joint), scored on test."""

from __future__ import annotations

import sys
from pathlib import Path

from harness import BenchError, attempt, data_file, log, run_json, snips_files
from textrnn_rows import bench_textrnn

ENCODER_EPOCHS = None  # --epochs for the encoder table when none is given (None: textrnn's)
CLASSIFY_ONLY = {"tree"}  # encoders with no per-token output: no SNIPS (joint) row
DEFAULT_ENCODERS = ("lstm", "gru", "rnn", "jordan", "cnn")
# The installed textrnn's encoders (textrnn.nn.factory.ENCODERS, in its order) and `textrnn
# train`'s default one, asked in a fresh process: the code may have changed since this started.
ENCODER_PROBE = ("import inspect, json\n"
                 "from textrnn.cli.train import train_cli\n"
                 "from textrnn.nn.factory import ENCODERS\n"
                 "default = inspect.signature(train_cli).parameters['encoder'].default\n"
                 # None: decided from the data; lstm for these (English) sets.
                 "default = default or 'lstm'\n"
                 "print(json.dumps({'encoders': list(ENCODERS), 'default': default}))\n")


def installed_encoders() -> tuple[list[str], str]:
    """(encoder names, the default encoder) of the installed textrnn."""
    try:
        _, found = run_json([sys.executable, "-c", ENCODER_PROBE], 120)
        return list(found["encoders"]), str(found["default"])
    except (BenchError, KeyError, TypeError) as error:
        log(f"encoders: could not list textrnn's encoders ({str(error).splitlines()[0]}); "
            f"using {', '.join(DEFAULT_ENCODERS)}")
        return list(DEFAULT_ENCODERS), DEFAULT_ENCODERS[0]


def bench_encoders(args, work: Path) -> dict:
    """Every encoder with its defaults, through `textrnn train [--encoder E]` and `textrnn
    eval`: TREC classification and SNIPS joint intent + slots, scored on test. The default
    encoder's rows are the trec and snips-joint rows when this run has them."""
    encoders, default = installed_encoders()
    epochs = args.epochs if args.epochs is not None else ENCODER_EPOCHS
    snips_train, snips_dev, snips_test = snips_files(args, work)
    plans = {"trec": (data_file(args, work, "trec", "train"), data_file(args, work, "trec", "test"),
                      ["--valid-split", "0.1"]),
             "snips": (snips_train, snips_test, ["--valid", snips_dev])}
    rows: dict = {}
    skipped = {}
    for data, (train, test, base) in plans.items():
        for encoder in encoders:
            if data == "snips" and encoder in CLASSIFY_ONLY:
                skipped[encoder] = "classification only"
                continue
            train_args = base + ([] if encoder == default else ["--encoder", encoder])
            attempt(rows, f"{data} {encoder}", bench_textrnn, f"encoders-{data}-{encoder}", work,
                    train, test, train_args, args, epochs=epochs)
    return {"rows": rows, "encoders": encoders, "default_encoder": default,
            "skipped_on_snips": skipped, "epochs": epochs,
            "epochs_from": "--epochs" if args.epochs is not None else "ENCODER_EPOCHS",
            "metrics": {"trec": ["accuracy", "macro_f1"],
                        "snips": ["intent_accuracy", "slot_f1", "slot_f1_seen",
                                  "slot_f1_unseen", "frame_accuracy"]},
            "data": {data: {"train": str(train), "test": str(test)}
                     for data, (train, test, _) in plans.items()}}
