"""`textrnn serve`: a model directory behind HTTP, on Starlette, answered by the NumPy engine
(`--engine onnx`: with ONNX Runtime's recurrent kernels).

Routes: Rasa's `POST /model/parse`, `GET /version`, `GET /status`; a TF-Serving-shaped batch
`POST /v1/models/{name}:predict`; KServe's `/v2/health/live` and `/v2/health/ready`;
Prometheus' `/metrics`; `POST /model/reload`; `GET /`, a page to try the model in a browser
(`page`). Every request's sentences go through one `MicroBatcher`; the `ModelSlot` swaps in a
replaced model between two batches.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import signal
import time
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Match, Route

from textrnn import __version__
from textrnn.predict import page
from textrnn.predict.batcher import MicroBatcher, Overloaded
from textrnn.predict.hotswap import ModelSlot
from textrnn.predict.payloads import BadRequest, Query, batch_query, parse_query, read_json
from textrnn.predict.predictor import Predictor
from textrnn.predict.rasa import parse_result
from textrnn.predict.telemetry import Telemetry

CONFIG_ENV = "TEXTRNN_SERVE_CONFIG"  # how worker processes get the configuration
RETRY_AFTER_SECONDS = 1
PUBLIC_PREFIX = "/v2/health/"  # the routes that need no token
log = logging.getLogger("textrnn.serve")


@dataclass(frozen=True)
class ServeConfig:
    model: str
    name: str
    max_batch: int = 128
    batch_wait_ms: float = 0.0
    queue_size: int = 1024  # sentences waiting, at most
    max_instances: int = 256
    max_body: int = 1 << 20
    token: str | None = None
    watch_seconds: float = 2.0  # how often to look for a replaced model; 0: only on SIGHUP
    ui: bool = True  # GET /: the page
    engine: str = "numpy"  # or "onnx"


def answer(queries: list[Query], predictor: Predictor) -> list:
    """One forward pass over every query's texts; each query's results in its own shape."""
    items = predictor.analyze([text for query in queries for text in query.texts])
    results, at = [], 0
    for query in queries:
        mine, at = items[at: at + len(query.texts)], at + len(query.texts)
        if query.rasa:
            results.append(parse_result(predictor, mine[0]))
        else:
            results.append([predictor.describe(item, query.top_k, query.threshold,
                                               query.slot_confidence) for item in mine])
    return results


class Service:
    """What the routes share: the configuration, the model slot, the batcher, the metrics."""

    def __init__(self, config: ServeConfig, predictor: Predictor | None = None):
        self.config = config
        self.slot = ModelSlot(config.model, predictor, config.engine)
        self.telemetry = Telemetry()
        self.batcher: MicroBatcher | None = None
        self._reloading = asyncio.Lock()
        self.hangup = asyncio.Event()

    def start(self) -> None:
        self.batcher = MicroBatcher(
            lambda queries: answer(queries, self.slot.current.predictor),
            self.config.max_batch, self.config.batch_wait_ms / 1000, self.config.queue_size,
            on_batch=self.telemetry.batch.observe, on_depth=self.telemetry.queue.set)
        self.batcher.start()
        self.telemetry.version.set(self.slot.current.version)

    async def reload(self, reason: str) -> bool:
        async with self._reloading:
            ok = await asyncio.to_thread(self.slot.reload)
        if ok:
            self.telemetry.version.set(self.slot.current.version)
            log.info("model reloaded (%s): version %d, fingerprint %s", reason,
                     self.slot.current.version, self.slot.current.fingerprint)
        else:
            self.telemetry.reload_failures.inc()
            log.error("model not reloaded (%s), still serving version %d: %s", reason,
                      self.slot.current.version, self.slot.error)
        return ok

    async def watch(self) -> None:
        """Reload on SIGHUP (`hangup` set), or when the directory holds a new model."""
        while True:
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.hangup.wait(), self.config.watch_seconds or None)
            if self.hangup.is_set():
                self.hangup.clear()
                await self.reload("SIGHUP")
            elif self.slot.changed():
                await self.reload("the model directory changed")

    async def submit(self, query: Query):
        if self.slot.current is None:
            raise BadRequest("no model loaded yet", 503)
        try:
            return await self.batcher.submit(query, len(query.texts))
        except Overloaded as error:
            raise BadRequest(f"server busy: {error}; retry later", 503) from None


def create_app(config: ServeConfig, predictor: Predictor | None = None) -> Starlette:
    """The ASGI app; `predictor`, if given, is the model already loaded from `config.model`."""
    service = Service(config, predictor)

    async def parse(request: Request) -> Response:
        query = parse_query(await read_json(request, config.max_body))
        return JSONResponse(await service.submit(query))

    async def predict(request: Request) -> Response:
        name = request.path_params["name"]
        if name != config.name:
            raise BadRequest(f"no model named '{name}' here (this server serves "
                             f"'{config.name}')", 404)
        query = batch_query(await read_json(request, config.max_body), config.max_instances)
        return JSONResponse({"predictions": await service.submit(query)})

    async def reload(request: Request) -> Response:
        if await service.reload("asked over HTTP"):
            return JSONResponse(status(service))
        raise BadRequest(f"model not reloaded, still serving version "
                         f"{service.slot.current.version}: {service.slot.error}", 422)

    async def metrics(request: Request) -> Response:
        body, content_type = service.telemetry.exposition()
        return Response(body, media_type=content_type)

    async def version(request: Request) -> Response:
        return JSONResponse({"version": __version__, "minimum_compatible_version": __version__})

    async def current_status(request: Request) -> Response:
        return JSONResponse(status(service))

    async def ui(request: Request) -> Response:
        return HTMLResponse(html, headers={"Content-Security-Policy": policy,
                                           "X-Content-Type-Options": "nosniff"})

    async def live(request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(request: Request) -> Response:
        loaded = service.slot.current is not None
        return JSONResponse({"ready": loaded}, status_code=200 if loaded else 503)

    routes = [
        Route("/model/parse", parse, methods=["POST"]),
        Route("/v1/models/{name}:predict", predict, methods=["POST"]),
        Route("/model/reload", reload, methods=["POST"]),
        Route("/version", version),
        Route("/status", current_status),
        Route("/v2/health/live", live),
        Route("/v2/health/ready", ready),
        Route("/metrics", metrics),
    ]
    public = ()  # the page needs no token: it holds no data, and asks for the token itself
    if config.ui:
        html, policy = page.served()
        routes.append(Route("/", ui))
        public = ("/",)

    @asynccontextmanager
    async def lifespan(app):
        if service.slot.current is None and not await asyncio.to_thread(service.slot.reload):
            raise RuntimeError(f"cannot load the model: {service.slot.error}")
        service.start()
        watcher = asyncio.create_task(service.watch())
        loop = asyncio.get_running_loop()
        with suppress(ValueError, RuntimeError, NotImplementedError):  # not the main thread
            loop.add_signal_handler(signal.SIGHUP, service.hangup.set)
        log.info("serving %s as '%s' (version %d)", config.model, config.name,
                 service.slot.current.version)
        yield
        with suppress(ValueError, RuntimeError, NotImplementedError):
            loop.remove_signal_handler(signal.SIGHUP)
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await service.batcher.close()

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        BadRequest: lambda request, error: error_response(str(error), error.status),
        HTTPException: lambda request, error: error_response(error.detail, error.status_code),
        Exception: _internal_error,
    })
    app.add_middleware(Gate, routes=routes, telemetry=service.telemetry, token=config.token,
                       public=public)
    return app


def app_from_env() -> Starlette:
    """The app of one worker process (`--workers N`): the configuration comes in CONFIG_ENV."""
    configure_logging()
    return create_app(ServeConfig(**json.loads(os.environ[CONFIG_ENV])))


def configure_logging() -> None:
    """The server's messages (reloads, failures) beside uvicorn's, in its format."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")


def config_env(config: ServeConfig) -> str:
    return json.dumps(asdict(config))


def status(service: Service) -> dict:
    """Rasa's /status fields, and which model serves and whether the last reload failed."""
    loaded = service.slot.current
    return {"model_file": str(service.config.model), "model_id": service.config.name,
            "model_version": loaded.version if loaded else None,
            "fingerprint": {"textrnn.json": loaded.fingerprint if loaded else None},
            "task": loaded.predictor.task if loaded else None,
            "slot_types": loaded.predictor.slot_types if loaded else None,
            "loaded_at": (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(loaded.loaded_at))
                          if loaded else None),
            "reload_error": service.slot.error, "num_active_training_jobs": 0}


def error_response(message: str, status_code: int) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status_code == 503 else None
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)


def _internal_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("internal error on %s", request.url.path, exc_info=error)
    return error_response(f"internal error: {type(error).__name__}", 500)


class Gate:
    """ASGI middleware: the token check (every route but health and the `public` paths) and
    the request metrics."""

    def __init__(self, app, routes: list[Route], telemetry: Telemetry, token: str | None,
                 public: tuple[str, ...] = ()):
        self.app, self.routes, self.telemetry, self.token = app, routes, telemetry, token
        self.public = public

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen = {"status": 500}

        async def sending(message):
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            await send(message)

        try:
            if self.token and not self._public(scope["path"]) and not self._allowed(scope):
                response = error_response("missing or wrong token (send 'Authorization: "
                                          "Bearer TOKEN' or ?token=TOKEN)", 401)
                response.headers["WWW-Authenticate"] = "Bearer"
                await response(scope, receive, sending)
            else:
                await self.app(scope, receive, sending)
        finally:
            self.telemetry.observe(self._route(scope), seen["status"],
                                   time.perf_counter() - started)

    def _public(self, path: str) -> bool:
        return path.startswith(PUBLIC_PREFIX) or path in self.public

    def _allowed(self, scope) -> bool:
        given = ""
        for key, value in scope["headers"]:
            if key == b"authorization" and value[:7].lower() == b"bearer ":
                given = value[7:].decode("latin-1").strip()
        if not given:
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(
                "token", [""])[0]
        return hmac.compare_digest(given.encode("utf-8", "replace"),
                                   self.token.encode("utf-8"))

    def _route(self, scope) -> str:
        """The route's path template (bounded label values), or 'other'."""
        for route in self.routes:
            if route.matches(scope)[0] is not Match.NONE:
                return route.path
        return "other"
