"""`textrnn serve`: a model directory behind an HTTP API (Starlette + uvicorn, the NumPy
engine); the server itself is `textrnn.predict.server`."""

from __future__ import annotations

import os
import signal
import socket
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from textrnn.cli._util import DEFAULT_MODEL, ModelOption, app, handled
from textrnn.errors import UsageError

UVICORN_STARTUP_FAILURE = 3  # uvicorn's exit code when it cannot start


@app.command("serve")
@handled
def serve_cli(
    model: ModelOption = Path(DEFAULT_MODEL),
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface)."
                                      )] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535,
                                      help="Port to listen on (0: any free port).")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes, each with its own "
                                         "copy of the model.")] = 1,
    name: Annotated[Optional[str], typer.Option(
        help="The model's name in /v1/models/NAME:predict (default: the directory's name).")
                    ] = None,
    max_batch: Annotated[int, typer.Option(min=1, help="Sentences per forward pass, at most.")
                         ] = 128,
    batch_wait_ms: Annotated[float, typer.Option(
        min=0, help="Wait this long for more requests before a forward pass (0: take what is "
        "waiting).")] = 0.0,
    queue_size: Annotated[int, typer.Option(
        min=1, help="Sentences waiting, at most; beyond it requests get 503 and Retry-After.")
    ] = 1024,
    max_instances: Annotated[int, typer.Option(min=1, help="Texts per batch request, at most.")
                             ] = 256,
    max_body: Annotated[int, typer.Option(min=1, help="Request body size limit, in bytes.")
                        ] = 1 << 20,
    token: Annotated[Optional[str], typer.Option(
        envvar="TEXTRNN_TOKEN", help="Require 'Authorization: Bearer TOKEN' (or ?token=) on "
        "every route but health and the page (which asks for it).")] = None,
    watch: Annotated[float, typer.Option(
        min=0, help="Look for a replaced model every this many seconds (0: only on SIGHUP or POST "
        "/model/reload).")] = 2.0,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    ui: Annotated[bool, typer.Option(help="Answer GET / with a page to try the model in a "
                                     "browser.")] = True,
    engine: Annotated[str, typer.Option(
        help="numpy, or onnx (NumPy with ONNX Runtime's fused LSTM/GRU kernels: pip install "
        "'textrnn[onnx]').")] = "numpy",
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

    if max_instances > queue_size:
        raise UsageError("--max-instances must not exceed --queue-size")
    if engine not in ("numpy", "onnx"):
        raise UsageError(f"unknown --engine '{engine}' (the server runs numpy or onnx)")
    config = server.ServeConfig(str(model), name or model.resolve().name, max_batch,
                                batch_wait_ms, queue_size, max_instances, max_body, token,
                                watch, ui, engine)
    check_address(host, port)
    predictor = load_numpy(model, engine)  # a damaged model stops here, with exit code 2
    server.configure_logging()
    # uvicorn drains in-flight requests on SIGTERM, then raises the signal again: exit 0 then.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    options = {"host": host, "port": port, "access_log": access_log, "log_level": "info",
               "timeout_graceful_shutdown": 30}
    try:
        if workers == 1:
            uvicorn.run(server.create_app(config, predictor), **options)
            return
        os.environ[server.CONFIG_ENV] = server.config_env(config)
        with tempfile.TemporaryDirectory(prefix="textrnn-metrics-") as metrics_dir:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
            uvicorn.run("textrnn.predict.server:app_from_env", factory=True, workers=workers,
                        **options)
    except SystemExit as stop:
        if stop.code == UVICORN_STARTUP_FAILURE:  # e.g. the port was taken after the check
            raise UsageError(f"the server did not start on {host}:{port} (the log above says "
                             "why)") from None
        raise


def check_address(host: str, port: int) -> None:
    """Bind the address once before loading the model, so that a port in use or a host that
    is not this machine's fails at once, in one line (uvicorn would exit 3 after loading)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as error:
        raise UsageError(f"--host {host}: not an address to listen on ({error.strerror})"
                         ) from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as error:
            raise UsageError(f"cannot listen on {host}:{port} ({error.strerror})") from None


def _exit_cleanly(signum, frame):
    raise SystemExit(0)
