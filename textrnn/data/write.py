"""Writing examples in every format we read (what `textrnn convert` does), and naming what a
format cannot carry over.

Tables get `text,tags[,intent]` for tagged data (the text as its tokens joined by spaces, as
our slot tables are) and `text,label` otherwise; CoNLL `token<TAB>tag` lines; fastText
`__label__` lines; markup lines (`intent<TAB>` first when there are intents); Rasa NLU YAML
grouped by intent; span JSON lines with the text as written.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from textrnn.data.align import example_spans
from textrnn.data.examples import Corpus, Example
from textrnn.data.markup import markup_line
from textrnn.data.rasa import rasa_yaml
from textrnn.data.read import FORMATS, SUFFIXES
from textrnn.data.spans import spans_record
from textrnn.errors import UsageError
from textrnn.files import atomic_output

TABLES = ("csv", "tsv", "jsonl", "parquet")
OUTPUT_SUFFIXES = {**SUFFIXES, ".txt": "markup"}
LABEL_SEP = "|"  # several labels in one table cell (read back with --label-sep '|')


def output_format(path: str, corpus: Corpus, fmt: str | None = None) -> str:
    """The format to write: `fmt`, else by the file's extension (`.jsonl`: span JSON lines
    for tagged data, a table otherwise)."""
    if fmt is None:
        suffix = Path(path).suffix.lower() if path != "-" else ""
        if suffix not in OUTPUT_SUFFIXES:
            raise UsageError(f"{path}: cannot tell the format from the extension; name it with "
                             f"--to ({', '.join(FORMATS)})")
        fmt = OUTPUT_SUFFIXES[suffix]
        if fmt == "jsonl" and corpus.has_tags:
            fmt = "spans"
    if fmt not in FORMATS:
        raise UsageError(f"unknown --to '{fmt}' (choose from {', '.join(FORMATS)})")
    if fmt == "parquet" and path == "-":
        raise UsageError("Parquet is written to a file, not to stdout")
    needs = {"conll": ("tags", corpus.has_tags), "fasttext": ("labels", corpus.has_labels),
             "rasa": ("intents", corpus.has_labels)}
    if fmt in needs and not needs[fmt][1]:
        raise UsageError(f"{fmt} holds {needs[fmt][0]}, and {corpus.source} has none")
    return fmt


def lost(corpus: Corpus, fmt: str) -> list[str]:
    """What writing the corpus as `fmt` cannot carry over (reading losses are the corpus's
    warnings)."""
    examples = corpus.examples
    found = []
    if corpus.has_tags and fmt == "fasttext":
        found.append("the slots (fastText lines hold labels only)")
    if corpus.has_labels and fmt == "conll":
        found.append("the intents (CoNLL holds tokens and tags only)")
    if corpus.has_tags and fmt in (*TABLES, "conll"):
        respaced = sum(e.raw is not None and e.raw != e.text for e in examples)
        if respaced:
            found.append(f"the spacing of {respaced} text(s) as written ({fmt} holds the "
                         "tokens, joined by spaces)")
    if fmt in ("markup", "rasa"):
        broken = sum(any(c.isspace() and c != " " for c in _as_written(e)) for e in examples)
        if broken:
            found.append(f"the line breaks and tabs inside {broken} text(s) (written as "
                         "spaces: one utterance a line)")
    several = sum(len(e.labels or []) > 1 for e in examples)
    if several and fmt in ("markup", "rasa", "spans", "conll"):
        found.append(f"all labels but the first of {several} example(s) ({fmt} holds one "
                     "intent)")
    if fmt == "rasa" and _grouped(examples) != examples:
        found.append("the order of the examples (Rasa YAML groups them by intent)")
    lexicon = corpus.lexicon
    if lexicon.lookups or lexicon.synonyms:
        found.append(f"{len(lexicon.lookups)} lookup table(s) and {len(lexicon.synonyms)} "
                     "synonym(s) (textrnn train reads them from the source file)")
    return found


def write_corpus(corpus: Corpus, path: str, fmt: str, inputs: tuple = ()) -> None:
    """Write every example of `corpus` to `path` (`-`: stdout) as `fmt`; the file is replaced
    only once it is complete, and never when it is one of `inputs`."""
    if path == "-":
        import sys

        sys.stdout.write(_text(corpus, fmt))
        return
    binary = fmt == "parquet"
    with atomic_output(path, "wb" if binary else "w", inputs, "OUT") as handle:
        if binary:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(_records(corpus, "parquet")), handle)
        else:
            handle.write(_text(corpus, fmt))


def _text(corpus: Corpus, fmt: str) -> str:
    examples, labelled = corpus.examples, corpus.has_labels
    if fmt == "markup":
        return "".join((f"{e.labels[0]}\t" if labelled else "") + _markup(e) + "\n"
                       for e in examples)
    if fmt == "rasa":
        groups: dict[str, list] = {}
        for example in _grouped(examples):
            groups.setdefault(example.labels[0], []).append((_markup(example).strip(), None))
        return rasa_yaml(list(groups.items()))
    if fmt == "spans":
        return "".join(json.dumps(spans_record(*_spans(e), e.labels), ensure_ascii=False)
                       + "\n" for e in examples)
    if fmt == "conll":
        return "".join("".join(f"{word}\t{tag}\n" for word, tag in zip(e.words, e.tags))
                       + "\n" for e in examples)
    if fmt == "fasttext":
        return "".join(" ".join([*(f"__label__{label}" for label in e.labels),
                                 *_as_written(e).split()]) + "\n" for e in examples)
    records = _records(corpus, fmt)
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(records[0]), delimiter="\t" if fmt == "tsv" else ",",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


def _records(corpus: Corpus, fmt: str) -> list[dict]:
    """Table rows: text, tags and intent for tagged data (token lists in JSON lines), text
    and label otherwise."""
    rows = []
    for example in corpus.examples:
        if corpus.has_tags:
            row = ({"tokens": example.words, "tags": example.tags} if fmt == "jsonl"
                   else {"text": " ".join(example.words), "tags": " ".join(example.tags)})
            key = "intent"
        else:
            row, key = {"text": example.text}, "label"
        if corpus.has_labels:
            row[key] = LABEL_SEP.join(example.labels)
        rows.append(row)
    return rows


def _spans(example: Example):
    if example.tags is None:
        return _as_written(example), []
    return example_spans(example)


def _markup(example: Example) -> str:
    return markup_line(*_spans(example))


def _as_written(example: Example) -> str:
    return example.raw if example.raw is not None else example.text


def _grouped(examples: list[Example]) -> list[Example]:
    """The examples grouped by their first label, groups in order of first appearance."""
    order: dict[str, int] = {}
    for example in examples:
        order.setdefault(example.labels[0], len(order))
    return sorted(examples, key=lambda example: order[example.labels[0]])
