"""The server's Prometheus metrics. Each app has its own registry; with several worker
processes (`PROMETHEUS_MULTIPROC_DIR` set) `/metrics` adds up every worker's files."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Telemetry:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("textrnn_requests", "HTTP requests by route and status code.",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("textrnn_request_duration_seconds",
                                 "Time from request to response, by route.", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch = Histogram("textrnn_batch_sentences", "Sentences per forward pass.",
                               buckets=BATCH_BUCKETS, registry=self.registry)
        self.queue = Gauge("textrnn_queue_sentences", "Sentences waiting for a forward pass.",
                           multiprocess_mode="livesum", registry=self.registry)
        self.version = Gauge("textrnn_model_version",
                             "Models loaded since start: 1, then +1 per reload.",
                             multiprocess_mode="max", registry=self.registry)
        self.reload_failures = Counter("textrnn_model_reload_failures",
                                       "Reloads that kept the old model.",
                                       registry=self.registry)

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
