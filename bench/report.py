"""The writer of docs/benchmarks.md: the report in Markdown, a table or section per dataset and
a reading of the figures, and every raw number beside it (.json). Sections not run this time are
kept from the JSON already there (with the run they came from), and `<!-- NAME:begin -->` ...
`<!-- NAME:end -->` blocks (bench/scale.py's, hand-written ones) from the Markdown."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from fasttext_rows import FASTTEXT, FT_SEED
from harness import SEED, SINGLE_RUNS
from joint import TRAIN_BUDGET
from profile_predict import profile_table
from speed import PREDICT_LINES, TARGETS

REFERENCES = [
    ("SNIPS", "slot F1 88.8, intent accuracy 97.0", "Slot-gated model (Goo et al., 2018)"),
    ("TREC (6 classes)", "accuracy 93.6", "CNN-static (Kim, 2014)"),
    ("TNEWS (CLUE dev)", "accuracy ~57", "BERT-base (CLUE baseline)"),
]

# Published joint results on the SNIPS test set, shown beside the snips-joint table:
# (system, slot F1, intent accuracy, frame accuracy), in %.
PUBLISHED_SNIPS = [
    ("SF-ID network (2019)", 90.5, 97.0, 78.4),
    ("Capsule-NLU (2019)", 91.8, 97.3, 80.9),
    ("Bi-Model (2018)", 93.5, 97.2, 83.8),
    ("Stack-Propagation (Qin et al., EMNLP 2019), paper", 94.2, 98.0, 86.9),
    ("Stack-Propagation, re-run in OpenSLU", 94.6, 97.9, 87.1),
    ("Co-Interactive Transformer (2021, GloVe 300d)", 95.9, 98.8, 90.3),
]

TITLES = {
    "trec": "TREC question classification (6 coarse classes; train 5452, test 500)",
    "snips": "SNIPS intent classification (7 intents; train 13084, dev 700, test 700)",
    "snips-joint": "SNIPS joint intent detection and slot filling (39 slot types)",
    "tnews": "TNEWS Chinese news titles (CLUE, 15 classes; train 53360, evaluated on dev 10000)",
    "predict": "Prediction speed (default SNIPS joint model)",
    "cluster": "The Python API: cold start, and labelling Parquet on a Dask cluster (default "
               "SNIPS joint model)",
    "encoders": "Encoders on TREC and SNIPS (test set)",
    "typos": "Typos in the SNIPS test sentences (character features on and off)",
}
SETUP = {
    "trec": "textrnn holds out a stratified 10% of train for early stopping (`--valid-split "
            "0.1`); fastText trains on all of train. Scored on test.",
    "snips": "Intent only: textrnn `--task classify`, early stopping on dev; scored on test.",
    "snips-joint": "Default joint model (one encoder, intent and slot heads), the previous "
                   "default (the one before the last change: `PREVIOUS_DEFAULT_ARGS`"
                   " in bench/joint.py) and the default with the other tag decoder (`--no-crf` or "
                   "`--crf`, whichever is not the default); early stopping on dev, scored on dev "
                   "and test. The fastText row is "
                   "a fastText intent classifier plus a per-token fastText tagger whose input "
                   "is the ±2-word window (`w-2=… w-1=… w0=… w+1=… w+2=…`), tags taken as "
                   "predicted (no BIO repair), scored with `textrnn.metrics`.",
    "tnews": "textrnn holds out 10% of train for early stopping (`--valid-split 0.1`); both "
             "models are scored on dev, never used for training or stopping. fastText sees "
             "each Chinese character as a word.",
}
METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro F1",
                "intent_accuracy": "intent acc.", "slot_f1": "slot F1",
                "slot_f1_seen": "slot F1, seen values", "slot_f1_unseen": "slot F1, unseen values",
                "frame_accuracy": "frame acc."}


def pct(value) -> str:
    return f"{100 * value:.2f}" if isinstance(value, (int, float)) else "–"


def num(value, digits: int = 1) -> str:
    if not isinstance(value, (int, float)):
        return "–"
    return f"{value:,.{digits}f}"


def row_figures(kind: str, row: dict) -> dict:
    """The table's figures of one row, textrnn or fastText."""
    predict = row.get("predict", {})
    if kind.startswith("textrnn"):
        training = row.get("training", {})
        seeds = [run.get("training") or {} for run in row.get("per_seed") or [row]]
        return {"train_wall": row.get("train_wall_seconds"),
                "fit_seconds": training.get("seconds"),
                "train_sps": training.get("sentences_per_second"),
                "epochs": "/".join(str(t.get("epochs_run")) for t in seeds) + " (best "
                          + "/".join(str(t.get("best_epoch")) for t in seeds) + ")",
                "cold_sps": predict.get("batch_sentences_per_second"),
                "warm_sps": predict.get("warm_sentences_per_second"),
                "single": predict.get("single_wall_median")}
    return {"train_wall": row.get("train_seconds"), "fit_seconds": row.get("train_seconds"),
            "train_sps": row.get("train_sentences_per_second"),
            "epochs": str(FASTTEXT["epoch"]),
            "cold_sps": predict.get("batch_sentences_per_second"),
            "warm_sps": predict.get("warm_sentences_per_second"),
            "single": predict.get("single_wall_median")}


def row_label(kind: str, row: dict) -> str:
    """textrnn rows name their architecture, from the model spec the run reported."""
    spec = row.get("model")
    if not kind.startswith("textrnn") or not isinstance(spec, dict):
        return kind
    return f"{kind} ({architecture(spec)})"


def architecture(spec: dict) -> str:
    """BiLSTM+CRF, CNN, JORDAN, softmax tags, ... from a model spec."""
    arch = ("Bi" if spec.get("bidirectional") else "") + str(spec.get("encoder", "?")).upper()
    if spec.get("task") in ("tag", "joint"):
        arch += "+CRF" if spec.get("crf") else ", softmax tags"
    return arch


def crf_pair(rows: dict, baseline: str | None) -> tuple[dict, dict] | None:
    """(softmax row, CRF row) among the textrnn rows but the baseline, if both ran."""
    found = {}
    for kind, row in rows.items():
        if kind.startswith("textrnn") and kind != baseline and "error" not in row and \
                isinstance(row.get("model"), dict):
            found.setdefault(bool(row["model"].get("crf")), row)
    return (found[False], found[True]) if len(found) == 2 else None


def figure(row: dict, split: str, key: str) -> str:
    """A test or dev figure in %, with ± its standard deviation over seeds when there are."""
    spread = ((row.get("spread") or {}).get(split) or {}).get(key)
    return pct((row.get(split) or {}).get(key)) + (f" ± {100 * spread:.2f}"
                                                   if isinstance(spread, float) else "")


def baseline_wall(result: dict) -> float | None:
    """The mean training wall time of the section's baseline row, if it ran."""
    row = result["rows"].get(result.get("baseline"), {})
    return None if "error" in row else row.get("train_wall_seconds")


def dataset_table(name: str, result: dict) -> list[str]:
    metrics = result["metrics"]
    split = result.get("eval_split", "test")
    dev_metric = result.get("dev_metric")
    base = baseline_wall(result)
    head = [f"{METRIC_NAMES[m]} ({split}, %)" for m in metrics]
    if dev_metric:
        head.append(f"{METRIC_NAMES[dev_metric]} (dev, %)")
    head += ["training wall (s)", "fit (s)", "epochs", "training sent/s",
             "predict sent/s (batch, CLI)", "predict sent/s (warm)", "single-sentence wall (s)"]
    if base:
        head.append("training wall ÷ the previous default's")
    lines = seeds_caption(result["rows"])
    lines += ["| model | " + " | ".join(head) + " |", "|" + " --- |" * (len(head) + 1)]
    for kind, row in result["rows"].items():
        if "error" in row:
            lines.append(f"| {kind} | failed: {row['error'].splitlines()[0]} |")
            continue
        f = row_figures(kind, row)
        cells = [figure(row, "test", m) for m in metrics]  # the scored split is under "test"
        if dev_metric:
            cells.append(figure(row, "dev", dev_metric))
        cells += [num(f["train_wall"]), num(f["fit_seconds"]), f["epochs"], num(f["train_sps"], 0),
                  num(f["cold_sps"], 0), num(f["warm_sps"], 0), num(f["single"], 2)]
        if base:
            cells.append(f"{f['train_wall'] / base:.2f}×" if kind.startswith("textrnn") else "–")
        lines.append(f"| {row_label(kind, row)} | " + " | ".join(cells) + " |")
    return lines


def seeds_caption(rows: dict) -> list[str]:
    """What the figures of rows trained over several seeds are."""
    counts = sorted({len(row["seeds"]) for row in ok_rows(rows).values() if row.get("seeds")})
    if not counts:
        return []
    return [f"Each row is {'/'.join(map(str, counts))} models, one per seed (textrnn `--seed "
            f"{SEED}`, {SEED + 1}, …; fastText `train_supervised(seed={FT_SEED})`, "
            f"{FT_SEED + 1}, …): every accuracy figure is the mean ± the sample standard "
            "deviation over them, training times and rates the mean (epochs: each seed's); "
            "predictions are timed on the first seed's model. Each seed's figures are under "
            "`per_seed` in benchmarks.json.", ""]


def joint_notes(result: dict) -> list[str]:
    """Under the snips-joint table: the default's training budget against the previous
    default, then published results on the same test set."""
    base, lines = baseline_wall(result), []
    default = ok_rows(result["rows"]).get("textrnn")
    if base and default:
        ratio = default["train_wall_seconds"] / base
        verdict = "within" if ratio <= TRAIN_BUDGET else "**over**"
        lines += [f"Training budget of the default: at most {TRAIN_BUDGET}× the wall time of "
                  f"the previous default ({result['baseline']}: the default's command plus "
                  f"`{shlex.join(result['baseline_args'])}`), measured in the same run: "
                  f"{num(default['train_wall_seconds'])} s against {num(base)} s, "
                  f"{ratio:.2f}×, {verdict} budget.", ""]
    elif not result.get("baseline"):
        lines += ["No previous-default row (`PREVIOUS_DEFAULT_ARGS` in bench/joint.py is "
                  "empty).", ""]
    lines += ["Published results on the SNIPS test set, for scale (not run here; each paper's "
              "own preprocessing, tuning and single reported figure):", "",
              "| system | slot F1 (%) | intent acc. (%) | frame acc. (%) |",
              "| --- | --- | --- | --- |"]
    lines += [f"| {system} | {slot:.1f} | {intent:.1f} | {frame:.1f} |"
              for system, slot, intent, frame in PUBLISHED_SNIPS]
    return lines + [""]


def ratio_text(a, b, what_faster: str) -> str:
    if not (isinstance(a, (int, float)) and isinstance(b, (int, float))) or a <= 0 or b <= 0:
        return ""
    return f"{max(a, b) / min(a, b):.0f}× {what_faster}" if max(a, b) / min(a, b) >= 2 else (
        f"{max(a, b) / min(a, b):.1f}× {what_faster}")


PREDICT_LABELS = {
    "textrnn numpy": "textrnn, `--engine numpy` (the default)",
    "textrnn onnx": "textrnn, `--engine onnx` (BiLSTM on ONNX Runtime)",
    "textrnn keras": "textrnn, `--engine keras`",
    "fastText": "fastText intent classifier",
    "fastText joint peer": "fastText joint peer (intent + window tagger), in-process only",
}


def predict_section(result: dict) -> list[str]:
    """The "Prediction speed" section: a table per engine and fastText, targets, FLOP count."""
    rows, flops, cpu = result["rows"], result.get("flops") or {}, result.get("cpu") or {}
    n, stream_n = result.get("batch_lines", PREDICT_LINES), result.get("stream_lines")
    spec = result.get("model_spec") or {}
    methods = {(row.get("stream") or {}).get("rss_method") for row in rows.values()} - {None}
    rss_method = " / ".join(f"`{m}`" for m in sorted(methods)) or "not measured"
    arch = (("Bi" if spec.get("bidirectional") else "") + str(spec.get("encoder", "?")).upper()
            + ("+CRF" if spec.get("crf") else ""))
    lines = [
        f"The default joint model ({arch}, {spec.get('units')} units, embedding "
        f"{spec.get('embedding_dim')}; `{result.get('model_dir')}`, "
        f"{result.get('model_origin')}) labelling SNIPS test sentences with `textrnn predict`, "
        "on each engine; fastText beside it, timed the same way.",
        "",
        f"- *Single sentence*: `textrnn predict \"{result.get('sentence')}\"` (a SNIPS test "
        f"sentence), median of {SINGLE_RUNS} cold processes; fastText: a fresh `python -c` that "
        "loads the model and predicts the line.",
        f"- *Batch*: the SNIPS test sentences repeated to {n:,} lines through `textrnn "
        "predict --input FILE --output /dev/null --format jsonl` (*cold*: start-up "
        "included; *warm*: minus the single-sentence time); fastText: *cold* is a process "
        "that loads the model and predicts the file, *warm* `model.predict(list)` on the same "
        "lines in-process.",
        f"- *Stream*: {stream_n:,} lines (the test sentences cycled, written into the child's "
        "stdin by a writer thread) through `textrnn predict --format label` with stdout to "
        f"/dev/null; peak RSS of that process ({rss_method}); fastText: a Python process "
        "reading stdin in batches of 256 lines.",
        "",
    ]
    head = ["engine", f"single-sentence wall (s, median of {SINGLE_RUNS})",
            f"batch sent/s, cold ({n:,} lines)", "batch sent/s, warm",
            "peak RSS of the stream (MiB)", "stream lines/s", "% of FP32 peak (warm)"]
    lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for kind, row in rows.items():
        label = PREDICT_LABELS.get(kind, kind)
        if "error" in row:
            lines.append(f"| {label} | failed: {row['error'].splitlines()[0]} |")
            continue
        stream = row.get("stream") or {}
        rss = num(stream.get("peak_rss_mib"), 0)
        if stream and stream.get("lines") != stream_n:
            rss += f" ({stream.get('lines'):,} lines)"
        fraction = row.get("fp32_peak_fraction")
        cells = [label, num(row.get("single_wall_median"), 2),
                 num(row.get("batch_sentences_per_second"), 0),
                 num(row.get("warm_sentences_per_second"), 0), rss,
                 num(stream.get("lines_per_second"), 0),
                 f"{100 * fraction:.2f}" if isinstance(fraction, float) else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    verdict = result.get("targets") or {}
    if verdict:
        s, t, r = (verdict["single_wall_seconds"], verdict["sentences_per_second"],
                   verdict["peak_rss_mib"])

        def word(item):
            return "**met**" if item["met"] else "**missed**"

        lines += [
            f"Targets of the issue, for the default engine: single sentence <= "
            f"{TARGETS['single_wall_seconds']} s {word(s)} ({num(s['value'], 2)} s); >= "
            f"{TARGETS['sentences_per_second']:,} sentences/s {word(t)} ({num(t['value'], 0)} "
            f"warm, {num(t['cold'], 0)} cold over {n:,} lines); peak RSS < "
            f"{TARGETS['peak_rss_mib']} MB {word(r)} ({num(r['value'], 0)} MiB over "
            f"{(r.get('lines') or 0):,} lines).",
            "",
        ]
    elif "textrnn numpy" in rows:
        lines += ["The NumPy engine failed, so the targets are not judged.", ""]
    if not result.get("engines_agree_on_sentence", True):
        lines += ["**The engines gave different answers for the single sentence** (see "
                  "`answer` in benchmarks.json).", ""]
    macs, chars = flops.get("macs_per_token"), flops.get("char_cnn")
    if macs and cpu.get("peak_flops"):
        lines += [
            "*% of FP32 peak* = warm sentences/s × FLOPs per sentence / peak. FLOPs: per token "
            + (f"{macs['char_cnn']:,.0f} multiply-adds of the character CNN "
               f"({chars['chars_per_token']:.2f} characters × width {chars['width']} × "
               f"{chars['dim']} × {chars['filters']} filters), " if chars else "")
            + f"{macs['input_projection']:,} of input projections, {macs['recurrent']:,} of "
            f"recurrent matmuls and {macs['tag_dense']:,} of the tag layer "
            f"({macs['total']:,.0f} in all), times {flops['tokens_per_sentence']:.2f} tokens "
            f"per SNIPS test sentence, plus {flops['macs_per_sentence_head']:,} for the intent "
            f"layer, × 2 FLOPs = {flops['flops_per_sentence'] / 1e6:.2f} MFLOP per sentence "
            "(gate nonlinearities, embedding lookups, pooling and the CRF's Viterbi search, "
            f"{flops.get('crf_viterbi_ops_per_token', 0):,} operations per token, not counted). "
            f"Peak: {cpu['cores']} cores × {cpu['mhz']:,.0f} MHz (`cpu MHz` in /proc/cpuinfo) × "
            f"{cpu['flops_per_cycle_per_core']} FLOP/cycle ({cpu['simd']}) = "
            f"{cpu['peak_flops'] / 1e9:,.0f} GFLOP/s. This assumes each logical core is a whole "
            "core with two full-width FMA units at the listed clock; hyperthreads sharing a "
            "core, 512-bit operations split over 256-bit units, or turbo clocks move the true "
            "peak, so read the percentage as an order of magnitude. fastText's figures count "
            "the summed input rows (words, end of line, bigram buckets) plus its output layer; "
            "its work is memory lookups, not FLOPs.",
            "",
        ]
    elif flops.get("note"):
        lines += [f"% of FP32 peak: {flops['note']}.", ""]
    for engine, profile in (result.get("profiles") or {}).items():
        if "error" in profile:
            lines += [f"Profile of `--engine {engine}` failed: {profile['error'].splitlines()[0]}",
                      ""]
            continue
        lines += [f"Where warm prediction spends its time, `--engine {engine}` "
                  f"(`bench/profile_predict.py --model DIR --engine {engine}`: "
                  f"{profile['lines']:,} lines in-process, one NumPy thread, each stage and "
                  "layer timed; shares hold better than seconds on a shared machine):", "",
                  *profile_table(profile), ""]
    return lines + failures(rows, PREDICT_LABELS)


ENCODER_DATA = {
    "trec": ("TREC", "classification, 6 classes: `textrnn train trec/train.csv --valid-split "
                     "0.1 [--encoder E]`, scored on `trec/test.csv`"),
    "snips": ("SNIPS", "joint intent + slots: `textrnn train snips/train.csv --valid "
                       "snips/dev.csv [--encoder E]`, scored on `snips/test.csv`"),
}
ENCODER_KEYS = {"trec": "accuracy", "snips": "slot_f1"}  # the figure the reading ranks by


def ok_rows(rows: dict, prefix: str = "") -> dict:
    return {kind: row for kind, row in rows.items()
            if kind.startswith(prefix) and "error" not in row}


def engine_name(row: dict) -> str:
    engine = row.get("engine") or {}
    return "NumPy" if engine.get("numpy") else f"Keras ({engine.get('reason', 'no NumPy export')})"


def encoders_section(result: dict) -> list[str]:
    """The encoder table: one block of rows per dataset, on the test set."""
    rows, default = result["rows"], result.get("default_encoder")
    maxima = sorted({(row.get("training") or {}).get("epochs") for row in ok_rows(rows).values()}
                    - {None})
    most = "/".join(str(m) for m in maxima) or "?"
    capped = {None: " (textrnn's default)",
              "--epochs": f" (`--epochs {result.get('epochs')}` given to bench/run.py)",
              "ENCODER_EPOCHS": f" (`--epochs {result.get('epochs')}`: capped for this table "
                                "to bound its run time; the default is 40)"}
    capped = capped[result.get("epochs_from") if result.get("epochs") is not None else None]
    lines = [
        f"Every encoder of the installed textrnn (`textrnn.nn.factory.ENCODERS`: "
        f"{', '.join(result.get('encoders', []))}) trained with textrnn's defaults for it, "
        "nothing else changed: recurrent encoders read both ways, and slot filling adds "
        "character features and a CRF (the Jordan tagger decodes left to right with softmax "
        "tags), as each row's *model* column says. Seed 13, early stopping (patience 4) on the "
        f"validation data, at most {most} epoch(s){capped}. Every figure is `textrnn eval` on "
        "the **test** set, like the rest of this report (`textrnn compare` would score on the "
        f"validation data). The `{default}` rows are textrnn's default model: the trec and "
        "snips-joint rows above when they ran in the same run (same command; not trained "
        "again). *Parameters*: the sum of `textrnn info --json`'s layer table; *fit*: Keras "
        "`fit` seconds; *predict sent/s*: as in the tables above (*warm*: 10,000 lines through "
        "`textrnn predict` minus the one-sentence time; *batch*: the test sentences in one cold "
        "process), on the engine `textrnn predict` picks.",
        "",
    ]
    for data, (title, how) in ENCODER_DATA.items():
        block = {kind: row for kind, row in rows.items() if kind.split()[0] == data}
        if not block:
            continue
        metrics = result["metrics"][data]
        head = ["encoder", "model", *(f"{METRIC_NAMES[m]} (test, %)" for m in metrics),
                "parameters", "fit (s)", "training wall (s)", "epochs", "predict sent/s (warm)",
                "predict sent/s (batch, CLI)", "engine"]
        sizes = {row["predict"].get("sentences") for row in ok_rows(block).values()} - {None}
        how += f" ({'/'.join(str(n) for n in sizes)} sentences)" if sizes else ""
        lines += [f"**{title}** ({how})", "", "| " + " | ".join(head) + " |",
                  "|" + " --- |" * len(head)]
        for kind, row in block.items():
            encoder = kind.split(maxsplit=1)[1]
            if "error" in row:
                lines.append(f"| {encoder} | failed: {row['error'].splitlines()[0]} |")
                continue
            if encoder == default:
                encoder += (f" (default; the {row['reused_from']} row's model)"
                            if row.get("reused_from") else " (default)")
            f = row_figures("textrnn", row)
            cells = [encoder, architecture(row.get("model") or {}),
                     *(pct(row.get("test", {}).get(m)) for m in metrics),
                     num(row.get("parameters"), 0), num(f["fit_seconds"]), num(f["train_wall"]),
                     f["epochs"], num(f["warm_sps"], 0), num(f["cold_sps"], 0), engine_name(row)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    for encoder, why in (result.get("skipped_on_snips") or {}).items():
        lines += [f"`{encoder}`: no SNIPS row ({why}).", ""]
    return lines + failures(rows)


def failures(rows: dict, labels: dict | None = None) -> list[str]:
    """Each failed row's error in full."""
    lines = []
    for kind, row in rows.items():
        if "error" in row:
            lines += [f"{(labels or {}).get(kind, kind)} failed:", "", "```", row["error"], "```",
                      ""]
    return lines


def encoders_reading(result: dict) -> str:
    """Best and worst encoder per dataset, the default's place, and the cost figures."""
    default, parts = result.get("default_encoder"), []
    for data, (title, _) in ENCODER_DATA.items():
        rows = ok_rows(result["rows"], data + " ")
        key = ENCODER_KEYS[data]
        ranked = sorted(((row["test"].get(key), kind.split()[1], row) for kind, row in rows.items()
                         if isinstance(row.get("test", {}).get(key), float)),
                        key=lambda item: -item[0])
        if not ranked:
            continue
        order = [name for _, name, _ in ranked]
        text = (f"on {title}, {METRIC_NAMES[key]} runs from {pct(ranked[0][0])} "
                f"({ranked[0][1]}) down to {pct(ranked[-1][0])} ({ranked[-1][1]})")
        if default in order:
            text += (f", the default {default} {'first' if order[0] == default else ''}"
                     f"{'' if order[0] == default else 'ranked ' + str(order.index(default) + 1)}"
                     f" of {len(order)}")
        if data == "snips":
            intents = [(row["test"].get("intent_accuracy"), name) for _, name, row in ranked]
            intents = sorted(i for i in intents if isinstance(i[0], float))
            if intents:
                text += (f" (intent accuracy {pct(intents[0][0])} for {intents[0][1]} to "
                         f"{pct(intents[-1][0])} for {intents[-1][1]})")
        warm = sorted((row["predict"].get("warm_sentences_per_second") or 0, name)
                      for _, name, row in ranked)
        size = sorted((row.get("parameters") or 0, name) for _, name, row in ranked)
        fit = sorted(((row.get("training") or {}).get("seconds") or 0, name)
                     for _, name, row in ranked)
        text += (f"; warm prediction {num(warm[0][0], 0)} ({warm[0][1]}) to "
                 f"{num(warm[-1][0], 0)} sent/s ({warm[-1][1]}), {num(size[0][0], 0)} "
                 f"({size[0][1]}) to {num(size[-1][0], 0)} parameters ({size[-1][1]}), "
                 f"{num(fit[0][0])} ({fit[0][1]}) to {num(fit[-1][0])} s of fitting "
                 f"({fit[-1][1]})")
        parts.append(text)
    if not parts:
        return "- **encoders**: no encoder finished; see the table."
    skipped = ", ".join(result.get("skipped_on_snips") or {})
    return ("- **encoders**: " + "; ".join(parts) + ". "
            + (f"{skipped} classifies only, so it has no SNIPS row. " if skipped else "")
            + "One seed per encoder, and test sets of a few hundred sentences (one TREC "
            "question of 500 is 0.2 points): gaps of a point or less are within what another "
            "seed would move, so read the table for large differences and for cost "
            "(parameters, time).")


def typo_label(kind: str, row: dict) -> str:
    spec = row.get("model") or {}
    chars = "character features" if spec.get("char_features") else "no character features"
    label = f"{kind} ({architecture(spec)}, {chars})" if spec else kind
    if row.get("reused_from"):
        label += f"; the {row['reused_from']} row's model"
    return label


def typos_section(result: dict) -> list[str]:
    """How the typos were made and applied, then clean vs typos for both models."""
    s = result.get("typos") or {}
    kinds = ", ".join(f"{k} {v}" for k, v in (s.get("kinds") or {}).items())
    example = (s.get("examples") or [{}])[0]
    lines = [
        f"Typos in the SNIPS test sentences only (`{result.get('typo_test')}`); training and "
        f"dev stay clean. Seeded (`random.Random({s.get('seed')})`, in file order): every word "
        f"of at least {s.get('min_letters')} letters a-z (words with digits, apostrophes or "
        f"accents are left alone) gets, with probability {s.get('rate')}, one typo of four "
        "equally likely kinds: two adjacent different letters swapped, a letter deleted, a "
        "letter replaced by one on a neighbouring QWERTY key, or a neighbouring key's letter "
        "inserted after a letter. Only letters change, so no word is split or merged: every "
        "sentence keeps one word per gold tag, and textrnn's tokenizer maps its tokens onto the "
        "words exactly as for the clean sentence (checked for every row).",
        "",
        f"Applied: {s.get('words_changed')} of {s.get('words')} words changed "
        f"(**{pct(s.get('fraction_of_words_changed'))}%** of all words, "
        f"{pct(s.get('fraction_of_eligible_changed'))}% of the {s.get('eligible_words')} "
        f"eligible ones), in {s.get('sentences_changed')} of {s.get('sentences')} sentences; "
        f"{kinds}; {s.get('typos_that_are_training_words')} of the changed words happen to be "
        "other words of the training set. E.g. "
        f"\"{example.get('clean')}\" → \"{example.get('typos')}\".",
        "",
        "Both models are the default joint model's command (`textrnn train snips/train.csv "
        "--valid snips/dev.csv`), the second with `--no-char-features`; the same model is "
        "scored by `textrnn eval` on the clean and the typo test file.",
        "",
    ]
    head = ["model", "slot F1 clean (%)", "slot F1 typos (%)", "change", "intent acc. clean (%)",
            "intent acc. typos (%)", "change", "frame acc. clean (%)", "frame acc. typos (%)"]
    lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for kind, row in result["rows"].items():
        if "error" in row:
            lines.append(f"| {kind} | failed: {row['error'].splitlines()[0]} |")
            continue
        clean, noisy = row.get("test") or {}, row.get("typo_test") or {}
        cells = [typo_label(kind, row)]
        for key in ("slot_f1", "intent_accuracy"):
            cells += [pct(clean.get(key)), pct(noisy.get(key)), points(noisy.get(key),
                                                                      clean.get(key))]
        cells += [pct(clean.get("frame_accuracy")), pct(noisy.get("frame_accuracy"))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""] + failures(result["rows"])


def points(a, b) -> str:
    """a - b in percentage points, signed."""
    if not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return "–"
    return f"{100 * (a - b):+.2f}"


def typos_reading(result: dict) -> str:
    rows, s = ok_rows(result["rows"]), result.get("typos") or {}
    chars, plain = rows.get("textrnn"), rows.get("textrnn --no-char-features")
    if not chars or not plain:
        return "- **typos**: a model failed; see the table."

    def score(row, split, key="slot_f1"):
        return (row.get(split) or {}).get(key)

    def hit(row, key):  # typos minus clean
        return points(score(row, "typo_test", key), score(row, "test", key))

    def lead(split):  # character features minus none
        return points(score(chars, split), score(plain, split))

    text = (f"- **typos**: with {pct(s.get('fraction_of_words_changed'))}% of the test words "
            f"misspelt, slot F1 moves by {hit(chars, 'slot_f1')} points with character "
            f"features and by {hit(plain, 'slot_f1')} without them; intent accuracy by "
            f"{hit(chars, 'intent_accuracy')} and {hit(plain, 'intent_accuracy')}. The "
            f"character features' lead in slot F1 is {lead('test')} points on clean test and "
            f"{lead('typo_test')} with typos")
    changed = s.get("words_changed") or 0
    unknown = changed - (s.get("typos_that_are_training_words") or 0)
    gaps = [(score(chars, split) or 0) - (score(plain, split) or 0)
            for split in ("test", "typo_test")]
    if gaps[1] > gaps[0] + 0.005:
        text += ", so they do make the tagger more robust to misspelt words"
    elif gaps[1] < gaps[0] - 0.005:
        text += ", so here they do not help with misspelt words"
    else:
        text += ", about the same gap: no sign here that they help with misspelt words"
    return (text + f". One seed per model and one draw of typos over {s.get('sentences')} "
            "sentences: differences under about half a point are noise. "
            f"{unknown} of the {changed} misspelt words are not training words, so the word "
            "embedding sees `<unk>` for them and only the character CNN sees the rest of the "
            "word.")


def cluster_section(result: dict) -> list[str]:
    """The API section: cold start against the command; the cluster against one `textrnn
    predict` process, same lines."""
    lines = []
    if "cold" in result:
        cold = result["cold"]
        lines += [f"One sentence from a fresh process, medians of {cold['runs']} alternating "
                  f"runs: "
                  f"`python -c 'import textrnn; textrnn.load(d).predict([text])'` took "
                  f"{cold['median']['api']:.3f} s, `textrnn predict TEXT --model d` "
                  f"{cold['median']['command']:.3f} s ({cold['ratio']:.2f}x).", ""]
    lines += [
        f"{result['lines']:,} SNIPS training sentences (repeated), labelled by the model of "
        f"the section above (`{result.get('model_dir')}`, {result.get('model_origin')}): one "
        "`textrnn predict --input FILE --output FILE --format jsonl` process (start-up "
        f"included), and a local Dask cluster of {result['workers']} worker processes of one "
        f"thread each running `dd.read_parquet(...).map_partitions(model.predict_frame)"
        f".to_parquet(...)` over the same lines in {result['files']} Parquet files, in the "
        "same run.",
        "",
        "| run | start (s) | labelling (s) | sent/s | sent/s with start |",
        "| --- | --- | --- | --- | --- |",
    ]
    for kind, row in result["rows"].items():
        if "error" in row:
            lines.append(f"| {kind} | failed: {row['error'].splitlines()[0]} |")
        elif "start_seconds" in row:
            lines.append(f"| {kind} | {num(row['start_seconds'], 1)} | "
                         f"{num(row['label_seconds'], 1)} | {num(row['sentences_per_second'], 0)}"
                         f" | {num(row['sentences_per_second_with_start'], 0)} |")
        else:
            lines.append(f"| {kind} | (included) | {num(row['wall_seconds'], 1)} | "
                         f"{num(row['sentences_per_second'], 0)} | – |")
    if "speedup" in result:
        lines += ["", f"The cluster labels at {result['speedup']:.2f}x the single process's "
                  f"rate; {result['rows_differing']} of {result['rows_checked']} sampled rows "
                  "differ from the command's JSON lines."]
    return lines + [""]


SECTIONS = {"predict": predict_section, "cluster": cluster_section,
            "encoders": encoders_section, "typos": typos_section}
READINGS = {"encoders": encoders_reading, "typos": typos_reading}


def seeds_note(row: dict) -> str:
    """", means over 3 seeds" for a row trained over seeds."""
    return f", means over {len(row['seeds'])} seeds" if row.get("seeds") else ""


def noise_note(rows: list[dict], split: str, key: str) -> str:
    """How far apart two rows' figures must be to mean anything."""
    spreads = [((row.get("spread") or {}).get(split) or {}).get(key) for row in rows]
    if all(isinstance(spread, float) for spread in spreads):
        return (f"means over {len(rows[0]['seeds'])} seeds, standard deviations "
                + " and ".join(f"{100 * spread:.2f}" for spread in spreads) + " points")
    return "one seed, so differences under ~0.5 points are within noise"


def reading(results: dict) -> list[str]:
    """A paragraph per dataset written from the numbers."""
    out = []
    for name, result in results.items():
        if name in ("predict", "cluster"):  # their own sections say what the figures mean
            continue
        if "error" in result:
            out.append(f"- **{name}**: failed, no figures ({result['error'].splitlines()[0]}).")
            continue
        if name in READINGS:
            out.append(READINGS[name](result))
            continue
        rows = result["rows"]
        tr, ft = rows.get("textrnn", {}), rows.get("fastText", {})
        if "error" in tr or "error" in ft:
            out.append(f"- **{name}**: one model failed; see the table.")
            continue
        key = result["metrics"][0] if name != "snips-joint" else "slot_f1"
        a, b = tr["test"].get(key), ft["test"].get(key)
        split = result.get("eval_split", "test")
        if not isinstance(a, float) or not isinstance(b, float):
            continue
        diff = 100 * (a - b)
        leader = "textrnn" if diff > 0 else "fastText"
        verdict = (f"{leader} ahead by {abs(diff):.2f} points" if round(diff, 2) else "a tie")
        text = (f"- **{name}**: {METRIC_NAMES[key]} on {split} {pct(a)} (textrnn) vs {pct(b)} "
                f"(fastText){seeds_note(tr)}: {verdict}")
        if name == "snips-joint":
            ia, ib = tr["test"].get("intent_accuracy"), ft["test"].get("intent_accuracy")
            fa, fb = tr["test"].get("frame_accuracy"), ft["test"].get("frame_accuracy")
            text += (f"; intent accuracy {pct(ia)} vs {pct(ib)}, frame accuracy {pct(fa)} vs "
                     f"{pct(fb)}")
        fr, ff = row_figures("textrnn", tr), row_figures("fastText", ft)
        text += (f". fastText trains {ratio_text(fr['train_wall'], ff['train_wall'], 'faster')} "
                 f"({num(ff['train_wall'])} s against {num(fr['train_wall'])} s of textrnn wall "
                 f"time)")
        if fr["warm_sps"] and ff["warm_sps"]:
            faster = "fastText" if ff["warm_sps"] > fr["warm_sps"] else "textrnn"
            text += (f"; warm, {faster} predicts "
                     f"{ratio_text(fr['warm_sps'], ff['warm_sps'], 'faster')} "
                     f"({num(ff['warm_sps'], 0)} sent/s for fastText, {num(fr['warm_sps'], 0)} "
                     "for textrnn)")
        text += (f"; a one-sentence `textrnn predict` takes {num(fr['single'], 2)} s, almost all "
                 "of it Python start-up and model loading.")
        if name == "trec":
            verdict = "meets" if a >= 0.93 else "misses"
            text += f" The 93% TREC target: textrnn {verdict} it ({pct(a)}%)."
        pair = crf_pair(rows, result.get("baseline")) if name == "snips-joint" else None
        if pair:
            soft, crf = pair
            d0, d1 = soft.get("dev", {}).get("slot_f1"), crf.get("dev", {}).get("slot_f1")
            t0, t1 = soft["test"].get("slot_f1"), crf["test"].get("slot_f1")
            if isinstance(d0, float) and isinstance(d1, float):
                better = "the CRF" if d1 > d0 else "the softmax tagger"
                default = "the CRF" if tr["model"].get("crf") else "the softmax tagger"
                text += (f" Softmax tags vs CRF: dev slot F1 {pct(d0)} vs {pct(d1)} "
                         f"(test {pct(t0)} vs {pct(t1)}), so by the dev measurement {better} is "
                         f"the better default (difference {abs(100 * (d1 - d0)):.2f} points; "
                         f"{noise_note([soft, crf], 'dev', 'slot_f1')}); the "
                         f"current default is {default}. The CRF took "
                         f"{num(crf['training'].get('seconds'))} s of fitting against "
                         f"{num(soft['training'].get('seconds'))} s.")
        out.append(text)
    return out


def run_stamp(info: dict, started: str | None) -> dict:
    """The run a section's figures come from (`info` is that run's), stored with them in
    benchmarks.json so that a later run which does not run the section keeps it and says where
    it came from."""
    v, m = info.get("versions") or {}, info.get("machine") or {}
    return {"started": started, "run_started": info.get("started"), "command": info.get("command"),
            "commit": v.get("textrnn_commit"), "dirty": v.get("textrnn_dirty"),
            "versions": v, "machine": {"cpu": m.get("cpu"), "cores": m.get("cores")},
            "epochs": info.get("epochs"), "limit": info.get("limit")}


def from_run(run: dict, machine: dict, versions: dict) -> str:
    """The line under a kept section's title: the earlier run it comes from, and the versions
    it ran with where they differ from this run's (`machine`, `versions`)."""
    commit = (run.get("commit") or "unknown") + (" + uncommitted changes" if run.get("dirty")
                                                 else "")
    text = f"*From the run of {run.get('run_started')} UTC (commit {commit}"
    other = run.get("machine") or {}
    if (other.get("cpu"), other.get("cores")) != (machine.get("cpu"), machine.get("cores")):
        text += f"; another machine: {other.get('cpu')}, {other.get('cores')} cores"
    differ = {name: version for name, version in (run.get("versions") or {}).items()
              if not name.startswith("textrnn") and version != versions.get(name)}
    if differ:
        text += "; " + ", ".join(f"{name} {version}" for name, version in differ.items())
    text += f"; `{run.get('command')}`), not this one.*"
    if run.get("limit"):
        text += (f" **A quick check with `--limit {run['limit']}`**: not comparable to a full "
                 "run.")
    return text


def render(results: dict, info: dict, kept: set[str]) -> str:
    """The report; the sections in `kept` come from earlier runs (see write_outputs)."""
    m, v = info["machine"], info["versions"]
    ram = f"{m['ram_bytes'] / 2**30:.1f} GiB" if m.get("ram_bytes") else "unknown"
    commit = v.get("textrnn_commit") or "unknown"
    if v.get("textrnn_dirty"):
        commit += " (with uncommitted changes in textrnn/)"
    sources = {}
    for name, result in results.items():
        if name in kept:  # another run's code
            continue
        for kind, row in result.get("rows", {}).items():
            for key in ("source", "source_after"):
                if isinstance(row.get(key), dict):
                    state = row[key]
                    sources.setdefault(state["source_sha256"], (state, []))[1].append(
                        f"{name}/{kind}")
    if len(sources) == 1:
        state = next(iter(sources.values()))[0]
        commit = (f"{state['commit']}" + (" + uncommitted changes" if state["dirty"] else "")
                  + f" (textrnn/*.py sha256 {state['source_sha256']}, the same for every row)")
    source_note = []
    if len(sources) > 1:
        source_note = ["", "**Warning: textrnn's source changed during this run**, so the rows "
                       "below were not all produced by the same code (textrnn is installed "
                       "editable). Code versions seen:", ""]
        for sha, (state, where) in sources.items():
            source_note.append(f"- `{sha}` (commit {state['commit']}"
                               + (" + uncommitted changes" if state["dirty"] else "")
                               + f"): {', '.join(sorted(set(where)))}")
    load = ", ".join(f"{x:.2f}" for x in m["loadavg"]) if m.get("loadavg") else "n/a"
    lines = [
        "# Benchmarks",
        "",
        "textrnn's default model against fastText on the same splits. Written by "
        "`bench/run.py` (`make bench`); raw numbers in `benchmarks.json` beside this file.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} logical cores (os.cpu_count()), {ram} RAM, "
        "no GPU; " + m["os"],
        f"- Date: {info['started']} UTC; total benchmark time {info.get('total_minutes', 0):.1f} "
        f"min; load average at start {load}",
        f"- Versions: Python {v['python']}, TensorFlow {v['tensorflow']}, Keras {v['keras']}, "
        f"NumPy {v['numpy']}, fastText (fasttext-wheel) {v['fasttext']}, "
        + (f"Typer {v['typer']}, " if v.get("typer") else "") + f"textrnn {v['textrnn']} "
        f"at commit {commit}",
        f"- Command: `{info['command']}`",
        *([f"- Kept from earlier runs (not run by this command): {', '.join(sorted(kept))}; "
           "each of these sections says which run it comes from. Every section is measured "
           "within one run."] if kept else []),
        "- fastText settings: `train_supervised(epoch=25, lr=0.5, wordNgrams=2, thread=2)`, "
        "shuffled training file, input lowercased (Chinese split into characters); textrnn: "
        "its defaults (seed 13, and 14, 15, … for rows over several seeds; early stopping; each "
        "row names the architecture), run through "
        "its CLI" + (f" with `--epochs {info['epochs']}`" if info.get("epochs") else "") + "."
        + (f" **Quick check with `--limit {info['limit']}`**: a sample of {info['limit']} rows "
           "of every data file, so no figure here is comparable to a full run."
           if info.get("limit") else ""),
        *source_note,
        "",
        "Columns: *training wall* is the whole `textrnn train` process (start-up, reading, "
        "fitting, validation scoring, saving) or fastText's `train_supervised` call; *fit* is "
        "textrnn's own `training.seconds` (Keras `fit` only); *training sent/s* is epochs × "
        "training sentences / fit seconds. *Predict sent/s (batch, CLI)* times one cold process "
        "labelling the evaluation texts (`textrnn predict --input FILE --format jsonl`, or a "
        "Python process that loads the fastText model and predicts the list), start-up "
        "included. *Warm* takes start-up out: for textrnn, 10,000 lines (the evaluation texts "
        "repeated) through the CLI minus the single-sentence time; for fastText, "
        "`model.predict(list)` in-process. *Single-sentence wall* is the median of 5 cold "
        "`textrnn predict \"TEXT\"` runs (fastText: a process that loads the model and predicts "
        "one text).",
        "",
    ]
    for name, result in results.items():
        lines += [f"## {TITLES.get(name, name)}", ""]
        if name in kept:
            lines += [from_run(result.get("run") or {}, m, v), ""]
        if "error" in result:
            lines += ["**Failed:**", "", "```", result["error"], "```", ""]
            continue
        if name in SECTIONS:
            lines += SECTIONS[name](result)
            continue
        lines += [SETUP.get(name, ""), ""]
        lines += dataset_table(name, result)
        lines.append("")
        if name == "snips-joint":
            lines += joint_notes(result)
        lines += failures(result["rows"])
    if any(name not in ("predict", "cluster") for name in results):
        lines += ["## Reading the figures", ""]
        lines += reading(results) or ["No dataset finished."]
        lines.append("")
    lines += [
        "Each section's figures are from one run on a shared 2-core machine, one seed per row "
        "unless its table says otherwise; treat differences "
        "of a few percent in time, and a few tenths of a point in accuracy, as noise.",
        "",
        "## Published references",
        "",
        "Not run here; quoted for scale (other preprocessing, tuning and, for TNEWS, a "
        "pretrained transformer).",
        "",
        "| data | result | model |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in REFERENCES]
    lines.append("")
    return "\n".join(lines)


# Hand-written or separately measured blocks, `<!-- NAME:begin -->` ... `<!-- NAME:end -->`:
# a rewrite keeps each one, at the end in the order found. bench/scale.py writes its own.
BLOCK = re.compile(r"<!-- ([\w.-]+):begin -->.*?<!-- \1:end -->", re.DOTALL)
SCALE_BEGIN, SCALE_END = "<!-- scale:begin -->", "<!-- scale:end -->"


def earlier_sections(raw: Path, results: dict) -> dict:
    """The sections of the benchmarks.json at `raw` that `results` has not (yet), each with the
    run it came from (from that file's info when it predates per-section stamps)."""
    try:
        old = json.loads(raw.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    info = old.get("info") or {}
    return {name: {"run": run_stamp(info, info.get("started")), **result}
            for name, result in (old.get("results") or {}).items() if name not in results}


def write_outputs(out: Path, results: dict, info: dict) -> None:
    """Write the report and its JSON: this run's sections, every other section of the JSON
    already there (kept from its run), and the Markdown file's NAME:begin/end blocks."""
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = out.with_suffix(".json")
    kept = earlier_sections(raw, results)
    order = list(TITLES)
    merged = {name: results.get(name) or kept[name]
              for name in sorted({*results, *kept},
                                 key=lambda n: order.index(n) if n in order else len(order))}
    report = render(merged, info, set(kept))
    old = out.read_text(encoding="utf-8") if out.exists() else ""
    blocks = [found.group(0) for found in BLOCK.finditer(old)]
    report = report.rstrip("\n") + "".join("\n\n" + block for block in blocks) + "\n"
    out.write_text(report, encoding="utf-8")
    raw.write_text(json.dumps({"info": info, "results": merged}, indent=1,
                              ensure_ascii=False) + "\n", encoding="utf-8")
