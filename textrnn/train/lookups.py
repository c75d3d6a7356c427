"""The lookup lists a model is trained with: the data's own (Rasa `lookup:` tables, synonyms)
and the `--lookup NAME=FILE` files, compiled into the `Lookups` the model directory keeps.

In training, each match's features are left out with probability MATCH_DROPOUT, drawn afresh
every epoch: a list of the training values matches every training span, and a model that
always sees the match learns "match => slot" and misses the values no list holds.
"""

from __future__ import annotations

from textrnn.data.examples import Lexicon
from textrnn.data.lookups import parse_option, read_lookup_file
from textrnn.predict.lookup import Lookups

MATCH_DROPOUT = 0.5


def compile_lookups(lexicon: Lexicon, options: list[str], tags: list[str], notes: list[str]
                    ) -> Lookups | None:
    """The lists (the data's first, then the files', a name given twice merged into one) and
    synonyms; None when there are neither. `tags`: the training tags, whose slot types mark
    the lists that hold values of a slot. What the files left out goes to `notes`."""
    named: dict[str, list[str]] = {name: list(values) for name, values in lexicon.lookups.items()}
    for option in options:
        found = read_lookup_file(*parse_option(option))
        named.setdefault(found.name, []).extend(found.entries)
        if found.note:
            notes.append(found.note)
    if not named and not lexicon.synonyms:
        return None
    slot_types = {tag[2:] for tag in tags if tag[:2] in ("B-", "I-")}
    return Lookups.compile(named, slot_types, lexicon.synonyms)
