"""`textrnn info`: a model's architecture, parameters per layer, labels, figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli._util import (
    DEFAULT_MODEL,
    ModelOption,
    app,
    handled,
    quiet_tensorflow,
)


@app.command("info")
@handled
def info_cli(
    directory: Annotated[Optional[Path], typer.Argument(
        help="A model or pretrained directory (default: --model).")] = None,
    model: ModelOption = Path(DEFAULT_MODEL),
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
):
    """Describe a model (architecture, parameters per layer, labels, training figures) or a
    pretrained directory (corpus size, vocabulary, perplexity)."""
    from textrnn import bundle, report

    model = directory or model
    if (model / bundle.META_FILE).is_file() and _is_pretrained(model):
        from textrnn import pretrained

        meta = pretrained.read_meta(model)
        if json_out:
            report.write_json(report.pretrained_summary(meta))
        else:
            report.print_pretrained_info(meta, report.Output())
        return
    meta = bundle.read_meta(model)
    rows = meta.get("layers") or _keras_layer_table(model)
    if json_out:
        slim = {key: value for key, value in meta.items() if key not in ("vocab", "slot_values")}
        values = {kind: len(found) for kind, found in (meta.get("slot_values") or {}).items()}
        report.write_json({**slim, "vocab_size": len(meta["vocab"]),
                           "slot_values": values or None, "layers": rows})
    else:
        report.print_info(meta, rows, report.Output())


def _keras_layer_table(model: Path) -> list[dict]:
    """The layer table of a model saved before textrnn.json held it: from Keras (slow)."""
    quiet_tensorflow()
    from textrnn.nn import saving
    from textrnn.nn.factory import layer_table

    return layer_table(saving.load(model)[0])


def _is_pretrained(directory: Path) -> bool:
    from textrnn import bundle

    return bundle.read_json(directory, "directory", "").get("format") == \
        bundle.PRETRAINED_FORMAT
