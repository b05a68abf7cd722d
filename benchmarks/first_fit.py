"""A newcomer's first θu fit in a fresh worker: encoding what the fit reads against encoding the dataset first.

Rebuilds the default dataset in a scratch database, registers the shipped full compatibility checkpoint, and
adds newcomers who liked 5 bottoms (what a shop's new user has). Each round drops the process's model context,
as a worker start or a new model does, then times :func:`recengine.preferences.service.fit_and_store` on:

* recengine: a fresh context, whose fits encode the rows they read (``ModelContext.encode``);
* the reference, the earlier design: a fresh context with every item of the dataset encoded before the fit.

Both start from photos stored in PostgreSQL (no pixel cache on disk for either). The warm fits that follow
(20 more 5-like newcomers, and 20 of the protocol's held-out newcomers with their whole training history)
show what encoding on demand costs once the context is loaded.

    .venv/bin/python -m benchmarks.first_fit [--catalogue ../shared/data/myntra] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from benchmarks._common import build_default_dataset, scratch_database
from recengine.evaluation.protocol_data import load_protocol_data
from recengine.preferences import service
from recengine.store.models import Interaction, User
from recengine.training.register import register_checkpoint

CHECKPOINT = Path("checkpoints/compatibility-default-full.pt")


def light_users(engine: Engine, bottoms: list[int], n: int, tag: str) -> list[int]:
    """``n`` new users who each liked 5 distinct bottoms."""
    rng = np.random.default_rng(len(tag))
    ids = []
    with Session(engine) as session, session.begin():
        for k in range(n):
            user = User(external_id=f"first-fit-{tag}-{k}")
            session.add(user)
            session.flush()
            liked = rng.choice(bottoms, size=5, replace=False)
            session.add_all(Interaction(user_id=user.id, item_id=int(i), kind="like") for i in liked)
            ids.append(user.id)
    return ids


def timed_fit(sessions: sessionmaker[Session], user_id: int, version_id: int) -> float:
    start = time.perf_counter()
    service.fit_and_store(sessions=sessions, user_id=user_id, model_version_id=version_id)
    return time.perf_counter() - start


def full_encode_fit(sessions: sessionmaker[Session], user_id: int, version_id: int) -> float:
    """The reference: a fresh context with the whole dataset encoded, then the same fit."""
    start = time.perf_counter()
    with sessions() as session:
        ctx = service.cached_model_context(session=session, model_version_id=version_id)
        ctx.encode(session, np.arange(len(ctx.shas)))
    service.fit_and_store(sessions=sessions, user_id=user_id, model_version_id=version_id)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path, default=Path("../shared/data/myntra"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with scratch_database() as engine:
        build_default_dataset(engine, args.catalogue)
        sessions = sessionmaker(engine, expire_on_commit=False)
        with sessions.begin() as session:
            version_id = register_checkpoint(session=session, path=CHECKPOINT).id
        with sessions() as session:
            data = load_protocol_data(session=session, dataset="default")
        bottoms = data.item_ids[data.slot_items(data.target_slot)].tolist()
        newcomers = [int(u) for u in data.user_ids[data.newcomer][:20]]

        lazy, full = [], []
        for r in range(args.rounds):
            a, b = light_users(engine, bottoms, 2, f"cold-{r}")
            service.forget_model_contexts()  # a worker start, or a new model version
            lazy.append(timed_fit(sessions, a, version_id))
            service.forget_model_contexts()
            full.append(full_encode_fit(sessions, b, version_id))
            print(
                f"round {r}: encode on demand {lazy[-1]:.2f} s, encode the dataset first {full[-1]:.2f} s", flush=True
            )

        service.forget_model_contexts()
        warm_light, warm_history = [], []
        first = light_users(engine, bottoms, 1, "warm-first")[0]
        timed_fit(sessions, first, version_id)
        for user in light_users(engine, bottoms, 20, "warm"):
            warm_light.append(timed_fit(sessions, user, version_id))
        for user in newcomers:
            warm_history.append(timed_fit(sessions, user, version_id))
        with sessions() as session:
            ctx = service.cached_model_context(session=session, model_version_id=version_id)
        assert ctx.missing is not None
        encoded = int((~ctx.missing).sum())
        for user in newcomers:  # the same users again: everything they read is encoded now
            warm_history.append(timed_fit(sessions, user, version_id))
    lazy_p50, full_p50 = statistics.median(lazy), statistics.median(full)
    history_first, history_again = warm_history[: len(newcomers)], warm_history[len(newcomers) :]
    print(f"first fit after a start, 5 likes: {lazy_p50:.2f} s on demand, {full_p50:.2f} s encoding the "
          f"{len(data.item_ids):,} dataset items first ({full_p50 / lazy_p50:.1f}x)")  # fmt: skip
    print(f"then, same process: 5-like newcomers p50 {statistics.median(warm_light) * 1000:.0f} ms; held-out "
          f"newcomers with their training history p50 {statistics.median(history_first) * 1000:.0f} ms on first "
          f"sight, {statistics.median(history_again) * 1000:.0f} ms again; {encoded:,} of "
          f"{len(data.item_ids):,} items encoded by then")  # fmt: skip
    print(f"RESULT first_fit_s={lazy_p50:.2f} first_fit_full_encode_s={full_p50:.2f} "
          f"speedup={full_p50 / lazy_p50:.1f} warm_light_ms_p50={statistics.median(warm_light) * 1000:.0f} "
          f"warm_history_ms_p50={statistics.median(history_first) * 1000:.0f} "
          f"warm_history_again_ms_p50={statistics.median(history_again) * 1000:.0f} "
          f"items_encoded={encoded} items={len(data.item_ids)}")  # fmt: skip


if __name__ == "__main__":
    main()
