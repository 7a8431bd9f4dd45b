"""Prometheus metrics of one server: requests, inputs, tokens, the queue, batch sizes and latency."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


class Metrics:
    """The server's counters, on a registry of its own so that two apps in one process never mix."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._per_route: dict[str, tuple[Counter, Counter]] = {}  # labelled children, found once per route
        registry = self.registry
        self.requests = Counter("sentembed_requests", "HTTP requests", ["route", "status"], registry=registry)
        self.latency = Histogram(
            "sentembed_request_seconds", "Request latency", ["route"], buckets=LATENCY_BUCKETS, registry=registry
        )
        self.inputs = Counter("sentembed_inputs", "Texts or pairs received", ["route"], registry=registry)
        self.tokens = Counter("sentembed_tokens", "Tokens run through a model", ["route"], registry=registry)
        self.truncated = Counter("sentembed_truncated_inputs", "Inputs cut at the model's length", registry=registry)
        self.dropped = Counter("sentembed_dropped_inputs", "Queued inputs dropped: the client left", registry=registry)
        self.queue_depth = Gauge("sentembed_queue_inputs", "Inputs waiting for the model", registry=registry)
        self.batch_inputs = Histogram(
            "sentembed_batch_inputs", "Inputs per model run", buckets=SIZE_BUCKETS, registry=registry
        )
        self.cache_hits = Counter("sentembed_cache_hits", "Inputs answered from the cache", registry=registry)
        self.cache_misses = Counter("sentembed_cache_misses", "Inputs the cache lacked", registry=registry)
        self.worker = Gauge("sentembed_worker", "The server process that answered", ["index", "pid"], registry=registry)
        self.batch_requests = Histogram(
            "sentembed_batch_requests", "Requests sharing one model run", buckets=SIZE_BUCKETS, registry=registry
        )

    def mark_worker(self, index: int) -> None:
        """Say which server process answers: `sentembed_worker{index, pid} 1` (with `--workers`, each has its own
        metrics, and a scrape reaches one of them)."""
        self.worker.labels(str(index), str(os.getpid())).set(1)

    def count(self, route: str, inputs: int, tokens: int) -> None:
        """Count a request's inputs and tokens under its route (one of the app's fixed paths)."""
        if route not in self._per_route:
            self._per_route[route] = (self.inputs.labels(route), self.tokens.labels(route))
        counted_inputs, counted_tokens = self._per_route[route]
        counted_inputs.inc(inputs)
        counted_tokens.inc(tokens)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)
