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
    from textrnn.api import describe_model

    described = describe_model(model)
    if json_out:
        report.write_json(described)
    else:
        report.print_info(bundle.read_meta(model), described["layers"], report.Output(),
                          described["autotune"])


def _is_pretrained(directory: Path) -> bool:
    from textrnn import bundle

    return bundle.read_json(directory, "directory", "").get("format") == \
        bundle.PRETRAINED_FORMAT
