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
            from rich.console import Console

            report.print_pretrained_info(meta, Console())
        return
    bundle.read_meta(model)
    quiet_tensorflow()
    from textrnn.nn import saving
    from textrnn.nn.factory import layer_table

    keras_model, meta = saving.load(model)
    if meta.get("lookups"):  # what info shows of the lists: their sizes
        meta = {**meta, "lookups": meta["lookups"].summary()}
    rows = layer_table(keras_model)
    if json_out:
        slim = {key: value for key, value in meta.items() if key not in ("vocab", "slot_values")}
        values = {kind: len(found) for kind, found in (meta.get("slot_values") or {}).items()}
        report.write_json({**slim, "vocab_size": len(meta["vocab"]),
                           "slot_values": values or None, "layers": rows})
    else:
        from rich.console import Console

        report.print_info(meta, rows, Console())


def _is_pretrained(directory: Path) -> bool:
    from textrnn import bundle

    return bundle.read_json(directory, "directory", "").get("format") == \
        bundle.PRETRAINED_FORMAT
