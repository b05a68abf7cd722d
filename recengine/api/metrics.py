"""Prometheus metrics of one API process: request latency by route, the served index's size, jobs by state.

Each app has its own registry (not prometheus-client's global one), so several apps in one process (tests,
an embedding server) never collide. The index size and job counts are read when scraped, not kept up to date
by every request: the scrape interval bounds their cost (one ``GROUP BY`` over ``jobs``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recengine.api.state import ApiState
from recengine.index import CatalogueIndex
from recengine.store.jobs import job_counts, live_job_ages
from recengine.store.models import IndexVersion

_log = logging.getLogger(__name__)
CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Seconds: recommendations take tens to hundreds of ms on a CPU; reads take a few.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class StateCollector(Collector):
    """Gauges read from the state at scrape time: index size, job counts by kind and status, and the age of the
    oldest live jobs (an alert on a pending age catches a queue with no worker, which counts alone do not)."""

    def __init__(self, state: ApiState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        size = GaugeMetricFamily("recengine_index_items", "Items in the served index version.", labels=["index"])
        jobs = GaugeMetricFamily("recengine_jobs", "Background jobs by kind and status.", labels=["kind", "status"])
        oldest = GaugeMetricFamily("recengine_job_oldest_seconds", "Age of the oldest pending job (since created) "
                                   "and the longest running one (since started), by kind.",
                                   labels=["kind", "status"])  # fmt: skip
        name = self.state.settings.api_index_name
        try:
            items = self._index_size()
            if items is not None:
                size.add_metric([name], items)
            with self.state.db.sessions() as session:
                for kind, status, count in job_counts(session=session):
                    jobs.add_metric([kind, status], count)
                for kind, status, seconds in live_job_ages(session=session):
                    oldest.add_metric([kind, status], seconds)
        except Exception:  # a scrape must not fail because the database is down: the gauges are just absent
            _log.warning("metrics: could not read the index size or job counts", exc_info=True)
        yield size
        yield jobs
        yield oldest

    def _index_size(self) -> int | None:
        loaded = self.state.loaded
        if loaded is not None:  # what this process serves, which may lag the newest version by a refresh
            index = loaded.serving.current().index
            return len(index) if isinstance(index, CatalogueIndex) else None
        with self.state.db.sessions() as session:
            ready = IndexVersion.name == self.state.settings.api_index_name, IndexVersion.status == "ready"
            stmt = select(IndexVersion.item_count).where(*ready).order_by(IndexVersion.id.desc()).limit(1)
            return session.scalar(stmt)


class ApiMetrics:
    def __init__(self, state: ApiState) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram("recengine_http_request_duration_seconds", "HTTP request latency by route.",
                                 ["method", "route", "status"], buckets=BUCKETS, registry=self.registry)  # fmt: skip
        self.registry.register(StateCollector(state))

    def render(self) -> bytes:
        return generate_latest(self.registry)


#: Method labels kept as they are; any other token a client sends (HTTP allows any) counts as OTHER, or each
#: one would add time series to the process for good.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    """ASGI middleware timing every HTTP request, labelled by the route's template (``/v1/items/{item_id}``),
    never the raw path: ids in paths would make one time series per item."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            self.metrics.latency.labels(method, route, str(status)).observe(time.perf_counter() - start)
