"""`textrnn info`: a model's architecture, parameters per layer, labels, figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    model: ModelOption = Path(DEFAULT_MODEL),
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
):
    """Describe a model: architecture, parameters per layer, labels, training figures."""
    from textrnn import bundle, report

    bundle.read_meta(model)
    quiet_tensorflow()
    from textrnn.nn import saving
    from textrnn.nn.factory import layer_table

    keras_model, meta = saving.load(model)
    rows = layer_table(keras_model)
    if json_out:
        slim = {key: value for key, value in meta.items() if key != "vocab"}
        report.write_json({**slim, "vocab_size": len(meta["vocab"]), "layers": rows})
    else:
        from rich.console import Console

        report.print_info(meta, rows, Console())
