"""`textrnn serve`: a model directory behind an HTTP API (Starlette + uvicorn, the NumPy
engine); the server itself is `textrnn.predict.server`."""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli._util import DEFAULT_MODEL, ModelOption, app, handled
from textrnn.errors import UsageError


@app.command("serve")
@handled
def serve_cli(
    model: ModelOption = Path(DEFAULT_MODEL),
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface)."
                                      )] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes, each with its own copy of "
                                         "the model.")] = 1,
    name: Annotated[Optional[str], typer.Option(
        help="The model's name in /v1/models/NAME:predict (default: the directory's name).")
                    ] = None,
    max_batch: Annotated[int, typer.Option(help="Sentences per forward pass, at most.")] = 128,
    batch_wait_ms: Annotated[float, typer.Option(
        help="Wait this long for more requests before a forward pass (0: take what is "
        "waiting).")] = 0.0,
    queue_size: Annotated[int, typer.Option(
        help="Sentences waiting, at most; beyond it requests get 503 and Retry-After.")] = 1024,
    max_instances: Annotated[int, typer.Option(help="Texts per batch request, at most.")] = 256,
    max_body: Annotated[int, typer.Option(help="Request body size limit, in bytes.")
                        ] = 1 << 20,
    token: Annotated[Optional[str], typer.Option(
        envvar="TEXTRNN_TOKEN", help="Require 'Authorization: Bearer TOKEN' (or ?token=) on "
        "every route but health and the page (which asks for it).")] = None,
    watch: Annotated[float, typer.Option(
        help="Look for a replaced model every this many seconds (0: only on SIGHUP or POST "
        "/model/reload).")] = 2.0,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    ui: Annotated[bool, typer.Option(help="Answer GET / with a page to try the model in a "
                                     "browser.")] = True,
):
    """Serve a model over HTTP: Rasa's /model/parse, a batch route, health, metrics, a page."""
    try:
        import prometheus_client  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as error:
        raise UsageError(f"textrnn serve needs {error.name}: pip install 'textrnn[serve]'"
                         ) from None
    from textrnn.predict import server
    from textrnn.predict.hotswap import load_numpy

    for option, value in (("--workers", workers), ("--max-batch", max_batch),
                          ("--queue-size", queue_size), ("--max-instances", max_instances),
                          ("--max-body", max_body)):
        if value < 1:
            raise UsageError(f"{option} must be at least 1")
    if batch_wait_ms < 0 or watch < 0:
        raise UsageError("--batch-wait-ms and --watch must not be negative")
    if max_instances > queue_size:
        raise UsageError("--max-instances must not exceed --queue-size")
    config = server.ServeConfig(str(model), name or model.resolve().name, max_batch,
                                batch_wait_ms, queue_size, max_instances, max_body, token,
                                watch, ui)
    predictor = load_numpy(model)  # a damaged model stops here, with exit code 2
    server.configure_logging()
    # uvicorn drains in-flight requests on SIGTERM, then raises the signal again: exit 0 then.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    options = {"host": host, "port": port, "access_log": access_log, "log_level": "info",
               "timeout_graceful_shutdown": 30}
    if workers == 1:
        uvicorn.run(server.create_app(config, predictor), **options)
        return
    os.environ[server.CONFIG_ENV] = server.config_env(config)
    with tempfile.TemporaryDirectory(prefix="textrnn-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        uvicorn.run("textrnn.predict.server:app_from_env", factory=True, workers=workers,
                    **options)


def _exit_cleanly(signum, frame):
    raise SystemExit(0)
