"""The HTTP API under sustained load, against the in-process library call on the same requests, in one run.

What a user would do, through the command line (each step a ``recengine`` subprocess, timed): in a data dir
(``--data-dir``, else a temporary one, removed afterwards) with no ``RECENGINE_DATABASE_URL``, so the embedded
PostgreSQL runs inside it: ``db upgrade``, ``import myntra`` (the full catalogue unless ``--limit``),
``data simulate-users --users 800 --seed 0`` (the dataset the shipped checkpoints were trained on),
``models register`` of ``checkpoints/embedder-catalogue.pt`` and ``checkpoints/designer-default-full.pt``,
``index build``, ``keys create`` (a writer key). A data dir prepared by an earlier run (it holds
``api-load.json``) is reused as it is, so reruns skip all that. Then ``recengine serve`` on a free loopback port;
the benchmark waits for ``/readyz`` to answer 200 (the first start computes the designer's latents of the
catalogue, cached in the data dir).

Requests: a fixed, seeded set (``--requests``, 200) of (known user, query item) pairs: users with a θu trained
with the served designer, each with a top from one of their own outfits; target category bottom, k=10,
designs=4 (the API's defaults) and a per-request ``seed``, so the HTTP and the library call of one request draw
the same designs and must return the same items (checked). Latency is measured at the client, from sending the
request to the last byte of the response (one keep-alive ``http.client`` connection per client, stdlib only).

Phases, after a warm-up of both paths:

1. **Overhead** (one client): each request once over HTTP and once in-process with ``Recommender.recommend``
   (opened as the API opens it, ``recengine/api/state.py``; a session per call, as the route does),
   interleaved call by call (the order alternating) so background load hits both alike. http_overhead_p50 =
   HTTP p50 / library p50 (target <= 1.5x). The server is idle while the library runs and vice versa.
2. **Sustained load**: ``--concurrency`` clients (2) loop over the requests for ``--duration`` s (60); every
   non-200 answer or failed connection is an error. requests, errors, rps, p50_ms and p99_ms of the RESULT
   line come from this phase.

Why two phases: the machine this was written on has 2 cores, and the load generator, the server and its
PostgreSQL share them. Under concurrent load a request's latency includes waiting for a core (and the server's
torch threads contend with each other), so the concurrent p50 measures the machine's saturation, not what HTTP
adds; the single-client phase compares like with like. The throughput is the concurrent phase's.

Threads: the API's default of one torch thread (``RECENGINE_API_TORCH_THREADS``) in the server and the same in
the library reference, so both do the same arithmetic; ``--threads N`` changes both (0: torch's default).

Breakdown printed with the numbers: the stage timings the server reports (``timings_ms``: design, embed, search,
re-rank), the same stages in-process; the mean time inside the server's app (its own latency histogram on
``/metrics``) next to the client's mean, which separates the app from uvicorn, loopback and the client; the
p50 of the per-request differences HTTP - library (paired, steadier than the difference of two p50s); timed
in-process, the work the route does besides recommending (the key lookup; storing the 4 designs as PNGs with the
prune of expired ones in one transaction); and the p50 of ``GET /healthz``, an HTTP round trip with no work in
the route. The load average is printed as each phase ends: other work on the machine shows in every number.

At the end the benchmark releases its own hold on the embedded server, then stops ``recengine serve`` with
SIGINT (uvicorn's graceful shutdown closes its database); the server, the last holder, stops PostgreSQL
(``pg_ctl stop``) as it exits, which the benchmark checks (no ``postmaster.pid`` left).

    .venv/bin/python -m benchmarks.api_load [--data-dir DIR] [--catalogue ../shared/data/myntra] [--limit N]
        [--duration 60] [--concurrency 2] [--requests 200] [--threads N] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from sqlalchemy import select

from recengine.demo.services import free_port, wait_ready

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = ("checkpoints/embedder-catalogue.pt", "checkpoints/designer-default-full.pt")
MARKER = "api-load.json"  # written once the data dir is prepared: the API key and the setup timings
KEY_NAME = "api-load-bench"
QUERY_CATEGORY, TARGET_CATEGORY, K, DESIGNS = "top", "bottom", 10, 4
WARMUP = 10
STAGES = ("design", "embed", "retrieve", "total")


class Clock:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, what: str) -> None:
        print(f"[{time.perf_counter() - self.start:6.0f} s] {what}", flush=True)


def cli_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RECENGINE_DATABASE_URL"}
    env["RECENGINE_DATA_DIR"] = str(data_dir)
    return env


def recengine(args: list[str], data_dir: Path, clock: Clock) -> tuple[str, float]:
    """Run ``recengine ARGS`` as a user would; its stdout and the seconds it took (stderr shown on failure)."""
    exe = Path(sys.executable).with_name("recengine")
    start = time.perf_counter()
    done = subprocess.run([str(exe), *args], cwd=ROOT, env=cli_env(data_dir), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"recengine {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    clock(f"recengine {' '.join(args)}: {seconds:.1f} s")
    return done.stdout, seconds


def prepare(data_dir: Path, catalogue: Path, limit: int | None, clock: Clock) -> dict[str, Any]:
    """The data dir's marker: its API key and setup timings; the setup runs first when it is missing."""
    marker = data_dir / MARKER
    if marker.is_file():
        clock(f"reusing the prepared data dir {data_dir}")
        prepared: dict[str, Any] = json.loads(marker.read_text())
        return prepared
    data_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    steps = {
        "db upgrade": ["db", "upgrade"],
        "import myntra": ["import", "myntra", str(catalogue), *([] if limit is None else ["--limit", str(limit)])],
        "simulate-users": ["data", "simulate-users", "--users", "800", "--seed", "0"],
        **{f"register {Path(c).stem}": ["models", "register", str(ROOT / c)] for c in CHECKPOINTS},
        "index build": ["index", "build"],
    }
    for name, args in steps.items():
        timings[name] = recengine(args, data_dir, clock)[1]
    out, timings["keys create"] = recengine(["keys", "create", KEY_NAME, "--role", "writer"], data_dir, clock)
    prepared = {"key": out.strip().splitlines()[-1].strip(), "setup_s": timings, "limit": limit}
    marker.write_text(json.dumps(prepared, indent=2))
    return prepared


@contextlib.contextmanager
def server(data_dir: Path, port: int, threads: int | None, clock: Clock) -> Iterator[subprocess.Popen[bytes]]:
    """``recengine serve`` on loopback, ready (``/readyz`` 200) when entered, stopped with SIGINT on exit;
    ``threads`` sets its torch threads (``RECENGINE_API_TORCH_THREADS``, 0: torch's default)."""
    exe = Path(sys.executable).with_name("recengine")
    env = cli_env(data_dir) | {"RECENGINE_API_TORCH_THREADS": str(threads or 0)}
    log = (data_dir / "serve.log").open("ab")
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port), "--log-level", "warning"], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        start = time.perf_counter()
        wait_ready(f"http://127.0.0.1:{port}", proc, data_dir / "serve.log", timeout_s=900)
        clock(f"recengine serve ready on port {port} after {time.perf_counter() - start:.1f} s")
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            clock("server did not stop within 60 s of SIGINT: killed")
            proc.kill()
            proc.wait()
        log.close()
        clock(f"server stopped (exit code {proc.returncode})")


@dataclass(frozen=True)
class Req:
    user: str
    item: str
    seed: int

    def body(self) -> bytes:
        return json.dumps({"user": self.user, "item": self.item, "category": TARGET_CATEGORY, "k": K,
                           "designs": DESIGNS, "seed": self.seed}).encode()  # fmt: skip


def pick_requests(db: Any, recommender: Any, n: int) -> list[Req]:
    """``n`` seeded (user, query top) pairs: users with a θu trained with the served designer, a top from
    one of their own outfits each (users cycle when there are fewer than ``n``)."""
    from recengine.store.models import Item, Outfit, OutfitItem, User, UserPreference

    latents = recommender.latents
    tops = set(latents.item_ids[latents.categories == QUERY_CATEGORY].tolist())
    trained = (UserPreference.model_version_id == recommender.designer.model_version_id,
               UserPreference.is_prior.is_(False), UserPreference.loss.is_(None))  # fmt: skip
    query = (select(User.external_id, Item.id, Item.external_id)
             .join(UserPreference, UserPreference.user_id == User.id).where(*trained)
             .join(Outfit, Outfit.owner_user_id == User.id).join(OutfitItem, OutfitItem.outfit_id == Outfit.id)
             .join(Item, Item.id == OutfitItem.item_id).where(Item.image_sha256.is_not(None))
             .order_by(User.id, Outfit.id, OutfitItem.slot))  # fmt: skip
    by_user: dict[str, list[str]] = {}
    with db.sessions() as session:
        for user, item_id, item in session.execute(query):
            if item_id in tops:
                by_user.setdefault(user, []).append(item)
    if not by_user:
        raise SystemExit("no user with a trained θu and a top in an outfit: is the designer registered?")
    rng = np.random.default_rng(0)
    users = sorted(by_user)
    order = rng.permutation(len(users))
    picks = []
    for i in range(n):
        user = users[order[i % len(users)]]
        picks.append(Req(user, str(rng.choice(by_user[user])), seed=i))
    return picks


class Client:
    """One keep-alive connection; ``call`` returns (ms, status, body or error text)."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        self.conn: http.client.HTTPConnection | None = None

    def call(self, req: Req) -> tuple[float, int, bytes]:
        body = req.body()
        start = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            self.conn.request("POST", "/v1/recommendations", body=body, headers=self.headers)
            response = self.conn.getresponse()
            data = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return (time.perf_counter() - start) * 1000, 0, f"{type(exc).__name__}: {exc}".encode()
        return (time.perf_counter() - start) * 1000, status, data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


@dataclass
class Library:
    """The in-process reference: the Recommender opened as the API opens it, a session per call."""

    db: Any
    recommender: Any

    def call(self, req: Req) -> tuple[float, Any]:
        start = time.perf_counter()
        with self.db.sessions() as session:
            answer = self.recommender.recommend(req.user, req.item, TARGET_CATEGORY, k=K, n_designs=DESIGNS,
                                                seed=req.seed, session=session)  # fmt: skip
        return (time.perf_counter() - start) * 1000, answer


@dataclass
class Samples:
    ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)

    def add(self, ms: float, status: int, data: bytes) -> dict[str, Any] | None:
        self.ms.append(ms)
        if status != 200:
            self.errors.append(f"{status}: {data[:300].decode(errors='replace')}")
            return None
        answer: dict[str, Any] = json.loads(data)
        for name, value in answer.get("timings_ms", {}).items():
            self.stages.setdefault(name, []).append(value)
        return answer

    def p(self, q: float) -> float:
        return float(np.percentile(self.ms, q)) if self.ms else float("nan")


def p50(values: list[float] | NDArray[np.float64]) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def overhead_phase(port: int, key: str, library: Library, reqs: list[Req]) -> tuple[Samples, Samples, int]:
    """Each request over HTTP and in-process, interleaved; returns both samples and how many answers agree."""
    client = Client(port, key)
    http_s, lib_s, agree = Samples(), Samples(), 0
    for i, req in enumerate(reqs):
        first_http = i % 2 == 0
        if not first_http:
            lib_ms, ans = library.call(req)
        ms, status, data = client.call(req)
        if first_http:
            lib_ms, ans = library.call(req)
        lib_s.ms.append(lib_ms)
        for name, value in ans.recommendation.timings_ms.items():
            lib_s.stages.setdefault(name, []).append(value)
        answer = http_s.add(ms, status, data)
        if answer is not None and [m["id"] for m in answer["items"]] == [m.item_id for m in ans.matches]:
            agree += 1
    client.close()
    return http_s, lib_s, agree


def load_phase(port: int, key: str, reqs: list[Req], concurrency: int, duration: float) -> tuple[Samples, float]:
    """``concurrency`` clients looping over ``reqs`` (each from its own offset) until ``duration`` is up."""
    results = [Samples() for _ in range(concurrency)]
    start = time.perf_counter()
    deadline = start + duration

    def work(c: int) -> None:
        client, n = Client(port, key), c * len(reqs) // concurrency
        while time.perf_counter() < deadline:
            results[c].add(*client.call(reqs[n % len(reqs)]))
            n += 1
        client.close()

    threads = [threading.Thread(target=work, args=(c,), name=f"client-{c}") for c in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    merged = Samples()
    for r in results:
        merged.ms += r.ms
        merged.errors += r.errors
        for name, values in r.stages.items():
            merged.stages.setdefault(name, []).extend(values)
    return merged, elapsed


def healthz_p50(port: int, n: int = 200) -> float:
    """p50 ms of ``GET /healthz`` on one keep-alive connection: uvicorn, FastAPI's routing and a thread-pool
    hop for a sync route, loopback and the client, with no work in the route."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    ms = []
    for _ in range(n):
        start = time.perf_counter()
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        ms.append((time.perf_counter() - start) * 1000)
    conn.close()
    return p50(ms)


def route_db_work(library: Library, key: str, reqs: list[Req]) -> tuple[float, float, float]:
    """p50 ms of what the route does besides recommending, in-process: the key lookup, storing the designs with
    the prune of expired ones in one transaction (rows as the API writes them), and of the latter the PNG
    encoding alone."""
    from datetime import timedelta

    from recengine.store.api_keys import find_key
    from recengine.store.designs import encode_png, save_designs

    lookup, store, encode = [], [], []
    for req in reqs[:50]:
        _, answer = library.call(req)
        t0 = time.perf_counter()
        with library.db.sessions() as session:
            find_key(session=session, key=key)
        t1 = time.perf_counter()
        with library.db.transaction() as session:
            save_designs(session=session, designs=answer.recommendation.designs, retention=timedelta(days=1))
        t2 = time.perf_counter()
        for design in answer.recommendation.designs:
            encode_png(design)
        t3 = time.perf_counter()
        lookup.append((t1 - t0) * 1000)
        store.append((t2 - t1) * 1000)
        encode.append((t3 - t2) * 1000)
    return p50(lookup), p50(store), p50(encode)


def server_seconds(port: int) -> tuple[float, int]:
    """Sum of seconds and count of the 200 answers of ``POST /v1/recommendations`` in the server's own
    latency histogram (``/metrics``: measured inside the app, from its outermost middleware)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    label = '{method="POST",route="/v1/recommendations",status="200"}'
    values = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.endswith(label):
            values[name.removesuffix(label)] = float(value)
    prefix = "recengine_http_request_duration_seconds"
    return values.get(f"{prefix}_sum", 0.0), int(values.get(f"{prefix}_count", 0))


def server_mean_ms(before: tuple[float, int], after: tuple[float, int]) -> float:
    n = after[1] - before[1]
    return (after[0] - before[0]) / n * 1000 if n else float("nan")


def slowest(samples: Samples, n: int = 5) -> str:
    order = np.argsort(samples.ms)[::-1][:n]
    return ", ".join(f"#{i} {samples.ms[i]:.0f}" for i in order)


def stage_row(label: str, stages: dict[str, list[float]]) -> str:
    return f"| {label} | " + " | ".join(f"{p50(stages.get(s, [])):.1f}" for s in STAGES) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="Data dir to prepare or reuse (default: a temporary one).")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary data dir.")
    parser.add_argument("--catalogue", type=Path, default=ROOT.parent / "shared" / "data" / "myntra")
    parser.add_argument("--limit", type=int, help="Import at most this many catalogue rows (default: all).")
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds of sustained load.")
    parser.add_argument("--concurrency", type=int, default=2, help="Concurrent clients of the load phase.")
    parser.add_argument("--requests", type=int, default=200, help="Distinct requests (and overhead-phase calls).")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of the server and the library (default 1, the API's default; 0: torch's).",
    )
    args = parser.parse_args()

    clock = Clock()
    temporary = args.data_dir is None
    data_dir = (Path(tempfile.mkdtemp(prefix="recengine-api-load-")) if temporary else args.data_dir).resolve()
    os.environ.pop("RECENGINE_DATABASE_URL", None)
    os.environ["RECENGINE_DATA_DIR"] = str(data_dir)
    if args.threads:
        torch.set_num_threads(args.threads)
    clock(f"data dir {data_dir}; {os.cpu_count()} cores; torch threads {torch.get_num_threads()}; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    try:
        run(args, data_dir, clock)
    finally:
        if temporary and not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def run(args: argparse.Namespace, data_dir: Path, clock: Clock) -> None:
    from recengine.api.settings import ApiSettings
    from recengine.recommend.service import Recommender
    from recengine.store.database import open_database

    prepared = prepare(data_dir, args.catalogue, args.limit, clock)
    key = prepared["key"]
    port = free_port()
    with server(data_dir, port, args.threads, clock):
        settings = ApiSettings()
        db = open_database(settings)  # joins the embedded server the API process started
        try:
            with db.sessions() as session:
                recommender = Recommender.open(session, settings, designer=settings.api_designer,
                                               index_name=settings.api_index_name)  # fmt: skip
            library = Library(db, recommender)
            items = len(recommender.serving.current().index)
            reqs = pick_requests(db, recommender, args.requests)
            users = len({r.user for r in reqs})
            clock(f"library open: designer {recommender.designer.label}, {items} indexed items; "
                  f"{len(reqs)} requests over {users} users")  # fmt: skip

            warm = Client(port, key)
            warm_errors = [f"{s}: {d[:300]!r}" for _, s, d in (warm.call(r) for r in reqs[:WARMUP]) if s != 200]
            warm.close()
            for r in reqs[:WARMUP]:
                library.call(r)
            if warm_errors:
                clock(f"warm-up errors: {warm_errors}")

            m0 = server_seconds(port)
            http_1, lib_1, agree = overhead_phase(port, key, library, reqs)
            m1 = server_seconds(port)
            clock(f"overhead phase: {len(reqs)} requests, HTTP p50 {http_1.p(50):.1f} ms, library p50 "
                  f"{lib_1.p(50):.1f} ms, {agree}/{len(reqs)} same items, {len(http_1.errors)} errors; "
                  f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
            load, elapsed = load_phase(port, key, reqs, args.concurrency, args.duration)
            m2 = server_seconds(port)
            clock(f"load phase: {len(load.ms)} requests in {elapsed:.1f} s, {len(load.errors)} errors; "
                  f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
            server_ms = (server_mean_ms(m0, m1), server_mean_ms(m1, m2))
            route_ms = (*route_db_work(library, key, reqs), healthz_p50(port))
        finally:
            db.close()  # our hold on the embedded server; the API process holds it until it stops

    pid = data_dir / "pgdata" / "postmaster.pid"
    clock(f"embedded PostgreSQL {'still running' if pid.exists() else 'stopped'} ({pid})")
    errors = http_1.errors + load.errors
    for e in errors[:10]:
        print(f"  error {e}")
    report(args, prepared, http_1, lib_1, agree, load, elapsed, route_ms, server_ms, items, users)


def report(args: argparse.Namespace, prepared: dict[str, Any], http_1: Samples, lib_1: Samples, agree: int,
           load: Samples, elapsed: float, route_ms: tuple[float, ...], server_ms: tuple[float, float],
           items: int, users: int) -> None:  # fmt: skip
    setup = prepared["setup_s"]
    print()
    print("setup (recengine CLI, s): " + ", ".join(f"{k} {v:.1f}" for k, v in setup.items())
          + f"; total {sum(setup.values()):.1f}" + ("" if prepared.get("limit") is None else
                                                     f" (import --limit {prepared['limit']})"))  # fmt: skip
    print(f"catalogue: {items} indexed items; {len(http_1.ms)} distinct requests over {users} users, "
          f"{TARGET_CATEGORY} for a {QUERY_CATEGORY}, k={K}, designs={DESIGNS}")  # fmt: skip
    print()
    print("| phase | clients | requests | errors | rps | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| library, in-process | 1 | {len(lib_1.ms)} | 0 | {1000 / np.mean(lib_1.ms):.1f} | {lib_1.p(50):.1f} "
          f"| {lib_1.p(99):.1f} |")  # fmt: skip
    print(f"| HTTP, one client | 1 | {len(http_1.ms)} | {len(http_1.errors)} | {1000 / np.mean(http_1.ms):.1f} "
          f"| {http_1.p(50):.1f} | {http_1.p(99):.1f} |")  # fmt: skip
    rps = len(load.ms) / elapsed
    print(f"| HTTP, sustained {elapsed:.0f} s | {args.concurrency} | {len(load.ms)} | {len(load.errors)} "
          f"| {rps:.1f} | {load.p(50):.1f} | {load.p(99):.1f} |")  # fmt: skip
    print()
    print("p50 of each stage, ms (server: the answer's timings_ms):")
    print("| where | " + " | ".join(STAGES) + " |")
    print("|---|" + "---:|" * len(STAGES))
    print(stage_row("library, in-process", lib_1.stages))
    print(stage_row("server, one client", http_1.stages))
    print(stage_row(f"server, {args.concurrency} clients", load.stages))
    overhead = http_1.p(50) / lib_1.p(50)
    print()
    paired = p50(np.asarray(http_1.ms) - np.asarray(lib_1.ms))
    print(f"HTTP one client - library: {http_1.p(50) - lib_1.p(50):.1f} ms between the p50s, {paired:.1f} ms p50 "
          f"of the per-request differences; the route's work besides recommending, in-process p50: key lookup "
          f"{route_ms[0]:.1f} ms, storing {DESIGNS} designs {route_ms[1]:.1f} ms (PNG encoding alone "
          f"{route_ms[2]:.1f} ms); GET /healthz over HTTP (no work in the route) {route_ms[3]:.1f} ms")  # fmt: skip
    print(f"mean ms, one client: client-side HTTP {np.mean(http_1.ms):.1f}, in the server's app (/metrics) "
          f"{server_ms[0]:.1f}, library {np.mean(lib_1.ms):.1f}; {args.concurrency} clients: client-side "
          f"{np.mean(load.ms):.1f}, in the app {server_ms[1]:.1f}")  # fmt: skip
    print(f"slowest calls (call #, ms): library {slowest(lib_1)}; HTTP one client {slowest(http_1)}; "
          f"HTTP {args.concurrency} clients {slowest(load)}")  # fmt: skip
    print(f"same items over HTTP and in-process: {agree}/{len(http_1.ms)}")
    print(f"http_overhead_p50 {overhead:.2f}x (target <= 1.5x): {'met' if overhead <= 1.5 else 'NOT met'}")
    print(f"RESULT requests={len(load.ms)} errors={len(load.errors)} rps={rps:.1f} p50_ms={load.p(50):.1f} "
          f"p99_ms={load.p(99):.1f} library_p50_ms={lib_1.p(50):.1f} http_overhead_p50={overhead:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
