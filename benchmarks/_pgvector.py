"""The pgvector side of the index benchmark: bulk load, HNSW / IVFFlat builds and one-query-at-a-time search.

Everything runs on a plain psycopg 3 connection in autocommit mode (``connect``), usually on a scratch database
(``pgvector_database``). Vectors are L2-normalised, so the indexes use ``vector_ip_ops`` and queries order by
``<#>`` (negative inner product). A table carries at most one index built here at a time (each build drops the
other), so ``search`` always measures the index just built. Queries go one at a time through a prepared
statement with the vector bound in pgvector's binary format, the way a service would call it.

Measured on the 2-core box (a training job sharing it), embedded PostgreSQL 18 with its defaults
(shared_buffers 128MB), pgvector 0.8, dim 64, clustered data at the default spread, k=10:

    n      load    HNSW m=16 efc=64          IVFFlat lists=n/1000   IVFFlat lists=4*sqrt(n)
    100k   0.4 s   19 s (24 s on one core)   0.6 s                  -
    300k   0.7 s   80 s, 171 MB              2.1 s                  65 s (k-means grows with lists^2)
    1M     3.9 s   ~6-7 min (extrapolated)   29 s                   too slow

Queries/s (one connection, one query per round trip) at recall@10 0.90 / 0.95 / 0.99:
100k HNSW 1900 / 1800 / 430 (ef_search 15 / 35 / 220), IVFFlat(100) 180 / 135 / 80 (probes 28 / 40 / 64);
300k HNSW 750 / 680 / 170 (ef_search 25 / 45 / 320), IVFFlat(300) 110 / 84 (probes 32 / 64),
IVFFlat(2190) 3370 / 3160 (probes 3 / 5). At low ef_search the round trip (~0.5 ms) dominates. From ~300k rows
heap + index (311 MB of table at 1M) outgrow the 128MB shared_buffers, which probably costs some of the drop.

    .venv/bin/python -m benchmarks._pgvector    # smoke test: the whole path on 20k synthetic vectors
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import time
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.types import TypeInfo
from sqlalchemy.engine import URL

from benchmarks._common import scratch_database
from benchmarks._synthetic import clustered_vectors, ground_truth, queries_like, recall_at_k

_log = logging.getLogger(__name__)

IndexKind = Literal["hnsw", "ivfflat"]
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_COPY_CHUNK = 1 << 16  # rows per COPY write
_HNSW_MAX_EF_SEARCH = 1000  # pgvector's upper bound for hnsw.ef_search


def connect(url: URL | str) -> psycopg.Connection[Any]:
    """An autocommit psycopg connection to ``url`` (a SQLAlchemy URL, as ``scratch_database`` engines carry)."""
    if isinstance(url, URL):
        url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = psycopg.connect(url, autocommit=True)
    conn.add_notice_handler(_warn_on_spill)
    return conn


def _warn_on_spill(diag: psycopg.errors.Diagnostic) -> None:
    # pgvector says so when the HNSW graph outgrows maintenance_work_mem: the build then slows down many times.
    if diag.message_primary and "maintenance_work_mem" in diag.message_primary:
        _log.warning("%s: %s", diag.severity, diag.message_primary)


@contextlib.contextmanager
def pgvector_database() -> Iterator[psycopg.Connection[Any]]:
    """A connection to a throw-away database (see ``scratch_database``) with the vector extension created."""
    with scratch_database() as engine, connect(engine.url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        yield conn


class _VectorDumper(Dumper):
    """A 1-d float array as pgvector's binary ``vector``: int16 dim, int16 unused, big-endian float32s."""

    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        arr = np.asarray(obj, dtype=">f4")
        return struct.pack(">hh", len(arr), 0) + arr.tobytes()


def _register_vector(conn: psycopg.Connection[Any]) -> None:
    info = TypeInfo.fetch(conn, "vector")
    if info is None:
        raise RuntimeError("the vector extension is not installed in this database")
    dumper = type("VectorDumper", (_VectorDumper,), {"oid": info.oid})
    conn.adapters.register_dumper(np.ndarray, dumper)


def _copy_rows(ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> bytes:
    """Binary COPY tuples (id bigint, embedding vector) for a block of rows, built with one numpy structured array."""
    dim = vectors.shape[1]
    row = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("id", ">i8"), ("vec_len", ">i4"), ("dim", ">i2"),
                    ("unused", ">i2"), ("vec", ">f4", (dim,))])  # fmt: skip
    rows = np.empty(len(ids), dtype=row)
    rows["fields"], rows["id_len"], rows["id"] = 2, 8, ids
    rows["vec_len"], rows["dim"], rows["unused"], rows["vec"] = 4 + 4 * dim, dim, 0, vectors
    return rows.tobytes()


def load_vectors(
    conn: psycopg.Connection[Any], table: str, ids: NDArray[np.integer[Any]], vectors: NDArray[np.floating[Any]]
) -> float:
    """(Re)create ``table`` (id bigint primary key, embedding vector(dim)), binary-COPY the rows in, ANALYZE it.

    Returns the seconds taken by create + COPY + ANALYZE. Runs in one transaction.
    """
    keys: NDArray[np.int64] = np.asarray(ids, dtype=np.int64)
    rows: NDArray[np.float32] = np.asarray(vectors, dtype=np.float32)
    if rows.ndim != 2 or len(keys) != len(rows):
        raise ValueError(f"need (n,) ids and (n, dim) vectors, got {keys.shape} and {rows.shape}")
    name = sql.Identifier(table)
    start = time.perf_counter()
    with conn.transaction():
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(name))
        conn.execute(
            sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, embedding vector({}) NOT NULL)").format(
                name, sql.Literal(rows.shape[1])
            )
        )
        with (
            conn.cursor() as cur,
            cur.copy(sql.SQL("COPY {} (id, embedding) FROM STDIN (FORMAT BINARY)").format(name)) as copy,
        ):
            copy.write(_COPY_HEADER)
            for lo in range(0, len(keys), _COPY_CHUNK):
                copy.write(_copy_rows(keys[lo : lo + _COPY_CHUNK], rows[lo : lo + _COPY_CHUNK]))
            copy.write(_COPY_TRAILER)
    conn.execute(sql.SQL("ANALYZE {}").format(name))
    return time.perf_counter() - start


def _prepare_build(conn: psycopg.Connection[Any], table: str, maintenance_work_mem: str, workers: int | None) -> None:
    """Drop this module's indexes on ``table`` and set the session up for a parallel build on every core."""
    workers = max(0, (os.cpu_count() or 1) - 1) if workers is None else workers  # the leader builds too
    for kind in ("hnsw", "ivfflat"):
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(f"{table}_{kind}")))
    conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(maintenance_work_mem)))
    conn.execute(sql.SQL("SET max_parallel_maintenance_workers = {}").format(sql.Literal(workers)))
    # Without the reloption PostgreSQL picks workers from the table size and skips them below ~8 MB.
    conn.execute(
        sql.SQL("ALTER TABLE {} SET (parallel_workers = {})").format(sql.Identifier(table), sql.Literal(workers))
    )


def build_hnsw(
    conn: psycopg.Connection[Any],
    table: str,
    m: int = 16,
    ef_construction: int = 64,
    *,
    maintenance_work_mem: str = "2GB",
    workers: int | None = None,
) -> float:
    """Build ``{table}_hnsw`` (vector_ip_ops) replacing any index built here before; returns build seconds."""
    _prepare_build(conn, table, maintenance_work_mem, workers)
    start = time.perf_counter()
    conn.execute(
        sql.SQL(
            "CREATE INDEX {} ON {} USING hnsw (embedding vector_ip_ops) WITH (m = {}, ef_construction = {})"
        ).format(sql.Identifier(f"{table}_hnsw"), sql.Identifier(table), sql.Literal(m), sql.Literal(ef_construction))
    )
    return time.perf_counter() - start


def default_lists(n: int) -> int:
    """pgvector's advice for IVFFlat: rows / 1000 up to 1M rows, sqrt(rows) above."""
    return max(1, n // 1000 if n <= 1_000_000 else int(np.sqrt(n)))


def build_ivfflat(
    conn: psycopg.Connection[Any],
    table: str,
    lists: int | None = None,
    *,
    maintenance_work_mem: str = "2GB",
    workers: int | None = None,
) -> float:
    """Build ``{table}_ivfflat`` (vector_ip_ops, ``default_lists`` when not given) replacing any index built here
    before; returns build seconds (k-means training included)."""
    if lists is None:
        count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
        lists = default_lists(count[0] if count else 0)
    _prepare_build(conn, table, maintenance_work_mem, workers)
    start = time.perf_counter()
    conn.execute(
        sql.SQL("CREATE INDEX {} ON {} USING ivfflat (embedding vector_ip_ops) WITH (lists = {})").format(
            sql.Identifier(f"{table}_ivfflat"), sql.Identifier(table), sql.Literal(lists)
        )
    )
    return time.perf_counter() - start


def index_bytes(conn: psycopg.Connection[Any], table: str, kind: IndexKind) -> int:
    """On-disk size of ``{table}_{kind}``."""
    row = conn.execute("SELECT pg_relation_size(to_regclass(%s))", (f"{table}_{kind}",)).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def search(
    conn: psycopg.Connection[Any],
    table: str,
    queries: NDArray[np.floating[Any]],
    k: int,
    *,
    ef_search: int | None = None,
    probes: int | None = None,
    warmup: int = 50,
) -> tuple[NDArray[np.int64], float]:
    """Top-``k`` ids per query (``(Q, k)``, -1 where fewer came back) and queries/s, one query per round trip.

    ``ef_search`` / ``probes`` set ``hnsw.ef_search`` / ``ivfflat.probes`` for the session first. The first
    ``warmup`` queries run once untimed (statement preparation, cache). Sequential scans are disabled for the
    session, and it raises when the plan is still not an index scan (an exact scan would silently stand in).
    """
    if ef_search is not None:
        conn.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(ef_search)))
    if probes is not None:
        conn.execute(sql.SQL("SET ivfflat.probes = {}").format(sql.Literal(probes)))
    # On small tables the planner can cost an IVFFlat scan above a sequential scan + sort (exact, and slow).
    conn.execute("SET enable_seqscan = off")
    _register_vector(conn)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    stmt = sql.SQL("SELECT id FROM {} ORDER BY embedding <#> %b LIMIT {}").format(sql.Identifier(table), sql.Literal(k))
    plan = "\n".join(row[0] for row in conn.execute(sql.SQL("EXPLAIN ") + stmt, (queries[0],)))
    if "Index Scan" not in plan:
        raise RuntimeError(f"{table} is not searched through a vector index:\n{plan}")
    out = np.full((len(queries), k), -1, dtype=np.int64)
    with conn.cursor() as cur:
        for query in queries[:warmup]:
            cur.execute(stmt, (query,), prepare=True)
            cur.fetchall()
        start = time.perf_counter()
        for i, query in enumerate(queries):
            cur.execute(stmt, (query,), prepare=True)
            found = [row[0] for row in cur.fetchall()]
            out[i, : len(found)] = found
        elapsed = time.perf_counter() - start
    return out, len(queries) / elapsed


def _ivfflat_lists(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute("SELECT reloptions FROM pg_class WHERE oid = to_regclass(%s)", (f"{table}_ivfflat",)).fetchone()
    if row is None:
        raise RuntimeError(f"no index {table}_ivfflat")
    options = dict(option.split("=", 1) for option in row[0] or [])
    return int(options.get("lists", 100))


def tune_to_recall(
    conn: psycopg.Connection[Any],
    table: str,
    queries: NDArray[np.floating[Any]],
    truth: NDArray[np.int64],
    k: int,
    target_recall: float,
    kind: IndexKind,
) -> tuple[int, float, float]:
    """Smallest ``hnsw.ef_search`` (from ``k``) or ``ivfflat.probes`` (from 1) reaching recall@k ≥ target.

    Doubles the parameter until the target is met (or its maximum: 1000 for ef_search, the list count for
    probes), then bisects down to within ~1/8 of the smallest passing value. ``truth`` holds the table ids of the
    exact neighbours. Returns ``(param, recall, qps)`` at that parameter (at the maximum when never reached).
    """
    top = _HNSW_MAX_EF_SEARCH if kind == "hnsw" else _ivfflat_lists(conn, table)
    results: dict[int, tuple[float, float]] = {}

    def measure(param: int) -> bool:
        if param not in results:
            found, qps = search(conn, table, queries, k, **{"ef_search" if kind == "hnsw" else "probes": param})
            results[param] = (recall_at_k(found, truth, k), qps)
        return results[param][0] >= target_recall

    lo, hi = 0, min(k if kind == "hnsw" else 1, top)
    while not measure(hi) and hi < top:
        lo, hi = hi, min(hi * 2, top)
    if results[hi][0] >= target_recall:
        while hi - lo > max(1, hi // 8):
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if measure(mid) else (mid, hi)
    return hi, *results[hi]


def smoke(n: int = 20_000, n_queries: int = 200, k: int = 10, target: float = 0.95, table: str = "vectors") -> None:
    """The whole pgvector path on ``n`` synthetic vectors against a scratch embedded database."""
    base, queries = clustered_vectors(n), queries_like(n_queries)
    truth = ground_truth(base, queries, k)
    with pgvector_database() as conn:
        load_s = load_vectors(conn, table, np.arange(n), base)
        print(f"load {n} x {base.shape[1]}: {load_s:.2f} s = {n / load_s:.0f} rows/s")
        for kind in ("hnsw", "ivfflat"):
            build_s = build_hnsw(conn, table) if kind == "hnsw" else build_ivfflat(conn, table)
            size_mb = index_bytes(conn, table, kind) / 1e6
            param, recall, qps = tune_to_recall(conn, table, queries, truth, k, target, kind)
            name = "ef_search" if kind == "hnsw" else "probes"
            print(
                f"{kind}: build {build_s:.2f} s, {size_mb:.1f} MB; {name}={param} recall@{k}={recall:.3f} qps={qps:.0f}"
            )


if __name__ == "__main__":
    smoke()
