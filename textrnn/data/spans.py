"""Span JSON lines: `{"text", "spans": [{"start", "end", "label"}]}` (spaCy, Prodigy; `end`
exclusive, character offsets rule and Prodigy's `tokens` are ignored) and our own `predict`
output (`slots: [{slot, text, start, end}]`, `intent`), so that predictions train directly.

The intent is `intent` (or a top-level `label`); Prodigy examples answered `reject` or
`ignore` are skipped with a warning that counts them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from textrnn.data.align import Span, Tally, span_example
from textrnn.data.examples import Example, LabelCheck, ReadOptions
from textrnn.errors import DataError

SPAN_KEYS = {"spans": "label", "slots": "slot"}  # list key -> its label key


def is_spans_record(record) -> bool:
    """Whether a JSON line holds span annotations rather than a table row."""
    return isinstance(record, dict) and any(key in record for key in SPAN_KEYS)


def spans_examples(records: Iterable[tuple[int, dict]], source: str, options: ReadOptions,
                   warnings: list[str]) -> Iterator[Example]:
    """Examples from (line number, object) pairs; `records` may stream."""
    tally = Tally(source, options.span_align)
    check = LabelCheck(source, "line", "an intent")
    rejected: list[int] = []
    for number, record in records:
        where = f"{source}, line {number}"
        text = record.get("text")
        if not isinstance(text, str):
            raise DataError(f'{where}: no "text" string')
        if record.get("answer") in ("reject", "ignore"):
            rejected.append(number)
            continue
        key = "intent" if "intent" in record else "label" if "label" in record else None
        labels = check.labels(None if key is None else (record[key] or ""), number,
                              options.label_sep)
        if labels is False:
            continue
        example = span_example(text, _spans(record, text, where), labels, number, where, tally)
        if example is None:
            check.skip(number)
            continue
        yield example
    if rejected:
        warnings.append(f"{source}: skipped {len(rejected)} example(s) answered reject or "
                        f"ignore (first: line {rejected[0]})")
    warnings.extend(check.warnings() + tally.warnings())


def _spans(record: dict, text: str, where: str) -> list[Span]:
    key = next(key for key in SPAN_KEYS if key in record)
    items = record[key] or []
    if not isinstance(items, list):
        raise DataError(f'{where}: "{key}" must be a list of {{"start", "end", '
                        f'"{SPAN_KEYS[key]}"}} objects')
    spans = []
    for number, item in enumerate(items, start=1):
        place = f"{where}, {key[:-1]} {number}"
        if not isinstance(item, dict):
            raise DataError(f"{place}: expected an object with start, end and {SPAN_KEYS[key]}")
        start, end, label = item.get("start"), item.get("end"), item.get(SPAN_KEYS[key])
        if not all(isinstance(value, int) and not isinstance(value, bool)
                   for value in (start, end)):
            raise DataError(f'{place}: "start" and "end" must be whole numbers (character '
                            "offsets)")
        if not isinstance(label, str):
            raise DataError(f'{place}: "{SPAN_KEYS[key]}" must be a string')
        if not 0 <= start < end <= len(text):
            raise DataError(f"{place}: chars {start}-{end} are out of range for a text of "
                            f"{len(text)} characters (start < end, end exclusive)")
        written = item.get("text")
        if isinstance(written, str) and written != text[start:end]:
            raise DataError(f"{place}: its text '{written}' is not the text at chars "
                            f"{start}-{end} ('{text[start:end]}')")
        spans.append(Span(start, end, label, f"{place} (chars {start}-{end})"))
    return spans


def spans_record(text: str, spans: list[Span], labels: list[str] | None) -> dict:
    """One JSON line of span annotations."""
    record: dict = {"text": text}
    if labels:
        record["intent"] = labels[0]
    record["spans"] = [{"start": span.start, "end": span.end, "label": span.label}
                       for span in spans]
    return record
