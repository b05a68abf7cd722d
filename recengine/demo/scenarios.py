"""The demo's recommendation calls, made over HTTP the way a shop's backend makes them.

Who and what to ask about comes from the simulated dataset: a user's held-out outfit gives the query top (and
the bottom they really wore with it, shown for comparison), a second user asks the same question, a newcomer
posts likes and has θu fitted by the worker, an anonymous visitor gets the population prior, and a photo
uploaded as the query stands in for a street photo. Every answer's designs and items are saved as files so
the report opens without the API.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from sqlalchemy import select

from recengine.demo.client import ApiClient
from recengine.demo.prepare import DATASET
from recengine.embedding.catalogue import served_items
from recengine.store.database import Database
from recengine.store.models import Item, Outfit, OutfitItem, SplitAssignment, User

QUERY, TARGET = "top", "bottom"
NEWCOMER = "demo:newcomer"
K, DESIGNS = 8, 4


@dataclass
class Picture:
    caption: str
    path: str  # relative to the report's folder


@dataclass
class Call:
    """One call as the report shows it."""

    title: str
    story: str
    request: dict[str, Any]
    response: dict[str, Any]
    seconds: float
    query: Picture | None = None
    designs: list[Picture] = field(default_factory=list)
    matches: list[Picture] = field(default_factory=list)
    context: list[Picture] = field(default_factory=list)  # what the story refers to (the true bottom, likes)


@dataclass(frozen=True)
class Cast:
    """The users and items the calls ask about (external ids)."""

    users: tuple[str, str]
    query: str
    truth: str | None
    photo: str
    newcomer_likes: list[str]


def pick_cast(db: Database) -> Cast:
    """Two users with a trained θu, a query top from the first one's held-out outfit, a newcomer's bottoms."""
    with db.sessions() as session:
        items = served_items(session=session)
        category = dict(zip(items.ids.tolist(), items.categories, strict=True))
        test = select(SplitAssignment.entity_id).where(SplitAssignment.entity == "outfit",
                                                       SplitAssignment.part == "test")  # fmt: skip
        users = session.scalars(select(User).where(User.external_id.startswith(f"{DATASET}:")).order_by(User.id)
                                .limit(2)).all()  # fmt: skip
        rows = session.execute(select(OutfitItem.outfit_id, OutfitItem.item_id).join(Outfit)
                               .where(Outfit.owner_user_id == users[0].id, Outfit.id.in_(test))
                               .order_by(OutfitItem.outfit_id, OutfitItem.slot)).all()  # fmt: skip
        query, truth = _first_pair(rows, category)
        tops = [i for i, c in category.items() if c == QUERY and i != query]
        photo = tops[len(tops) // 2]
        simulated = User.external_id.startswith(f"{DATASET}:")  # the demo's own newcomer has no outfits
        newcomer = session.scalar(select(User.id).where(simulated).order_by(User.id.desc()).limit(1))
        owned = select(OutfitItem.item_id).join(Outfit).where(Outfit.owner_user_id == newcomer)
        liked = session.execute(owned).scalars()
        likes = list(dict.fromkeys(i for i in liked if category.get(i) == TARGET))[:20]
        external = dict(session.execute(select(Item.id, Item.external_id).where(
            Item.id.in_([query, photo, *([truth] if truth else []), *likes]))).all())  # fmt: skip
    return Cast(
        (users[0].external_id, users[1].external_id),
        external[query],
        external[truth] if truth else None,
        external[photo],
        [external[i] for i in likes],
    )


def _first_pair(rows: Any, category: dict[int, str]) -> tuple[int, int | None]:
    by_outfit: dict[int, list[int]] = {}
    for outfit_id, item_id in rows:
        by_outfit.setdefault(outfit_id, []).append(item_id)
    for items in by_outfit.values():
        tops = [i for i in items if category.get(i) == QUERY]
        bottoms = [i for i in items if category.get(i) == TARGET]
        if tops and bottoms:
            return tops[0], bottoms[0]
    fallback = next(i for i, c in category.items() if c == QUERY)
    return fallback, None


class Recorder:
    """Saves the images an answer links to under ``folder/assets`` and builds the report's :class:`Call`."""

    def __init__(self, client: ApiClient, folder: Path) -> None:
        self.client, self.folder = client, folder
        (folder / "assets").mkdir(parents=True, exist_ok=True)
        self._saved: dict[str, str] = {}

    def save(self, url: str, name: str) -> str:
        if url not in self._saved:
            relative = f"assets/{name}"
            (self.folder / relative).write_bytes(self.client.get_bytes(url))
            self._saved[url] = relative
        return self._saved[url]

    def item(self, external_id: str, caption: str) -> Picture:
        path = f"/v1/items/{quote(external_id, safe='')}/image"
        return Picture(caption, self.save(path, f"item-{_safe(external_id)}.jpg"))

    def call(self, title: str, story: str, request: dict[str, Any], answer: dict[str, Any], seconds: float) -> Call:
        designs = [Picture(f"design {d['index']}", self.save(d["url"], f"design-{d['id']}.png"))
                   for d in answer["designs"]]  # fmt: skip
        matches = [Picture(f"{m['name'] or m['external_id']}\nscore {m['score']:.2f} · sim {m['similarity']:.2f} · "
                           f"design {m['design']}", self.save(m["image_url"], f"item-{_safe(m['external_id'])}.jpg"))
                   for m in answer["items"] if m["image_url"]]  # fmt: skip
        query = answer.get("query")
        picture = None
        if query and query.get("image_url"):
            saved = self.save(query["image_url"], f"item-{_safe(query['external_id'])}.jpg")
            picture = Picture(f"query: {query['name']}", saved)
        return Call(title, story, request, answer, seconds, picture, designs, matches)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run_calls(client: ApiClient, cast: Cast, folder: Path, *, seed: int = 0) -> list[Call]:
    """Make the demo's calls in order and return them with their pictures saved under ``folder``."""
    rec = Recorder(client, folder)
    calls: list[Call] = []

    def ask(title: str, story: str, body: dict[str, Any]) -> Call:
        answer, seconds = _timed(lambda: client.post("/v1/recommendations", body))
        call = rec.call(title, story, body, answer, seconds)
        calls.append(call)
        return call

    base = {"item": cast.query, "category": TARGET, "k": K, "designs": DESIGNS, "seed": seed}
    first = ask(
        f"{cast.users[0]} looks at a top",
        "A user whose θu was trained with the designer asks what "
        "bottoms go with a top from one of their held-out outfits.",
        {**base, "user": cast.users[0]},
    )
    if cast.truth:
        first.context.append(rec.item(cast.truth, "the bottom this user really wore with it (held out)"))
    ask(
        f"{cast.users[1]}, same top",
        "Another user, same query: the designs and the ranking follow their θu.",
        {**base, "user": cast.users[1]},
    )
    ask("an anonymous visitor, same top", "No user id: the population prior stands in for θu.", dict(base))
    calls.append(_newcomer(client, rec, cast, base))
    calls.append(_photo(client, rec, cast, seed))
    return calls


def _newcomer(client: ApiClient, rec: Recorder, cast: Cast, base: dict[str, Any]) -> Call:
    likes = [{"item": i, "kind": "like"} for i in cast.newcomer_likes]
    user = quote(NEWCOMER, safe="")
    client.post(f"/v1/users/{user}/interactions", {"interactions": likes})
    job = client.post(f"/v1/users/{user}/preferences:fit", {})
    done, fit_s = _timed(lambda: client.wait_job(job["url"]))
    body = {**base, "user": NEWCOMER}
    answer, seconds = _timed(lambda: client.post("/v1/recommendations", body))
    story = (f"A new user posts {len(likes)} liked bottoms (`POST /v1/users/{{id}}/interactions`); the worker "
             f"fits their θu with the networks frozen (job {done['id']}, {fit_s:.1f} s, seed Sec. 4.5); the same "
             "question now gets a personal answer.")  # fmt: skip
    call = rec.call(f"{NEWCOMER}: likes posted, θu fitted by the worker", story, body, answer, seconds)
    call.context = [rec.item(i, "liked") for i in cast.newcomer_likes[:8]]
    return call


def _photo(client: ApiClient, rec: Recorder, cast: Cast, seed: int) -> Call:
    photo = client.get_bytes(f"/v1/items/{quote(cast.photo, safe='')}/image")
    options = {"user": cast.users[0], "category": TARGET, "k": K, "designs": DESIGNS, "seed": seed}
    answer, seconds = _timed(lambda: client.post_image("/v1/recommendations:image", photo, "photo.jpg",
                                                       "image/jpeg", {"options": json.dumps(options)}))  # fmt: skip
    story = (
        "A photo uploaded as the query (`POST /v1/recommendations:image`) — here a catalogue photo stands in "
        "for a shopper's own picture."
    )
    call = rec.call("a photo as the query", story, {"image": "photo.jpg", "options": options}, answer, seconds)
    call.query = rec.item(cast.photo, "the uploaded photo")
    return call


def score_spread(calls: list[Call]) -> float:
    """How differently the first two users' answers rank: 1 - overlap of their item sets (0: identical)."""
    a, b = ({m["id"] for m in c.response["items"]} for c in calls[:2])
    return float(1.0 - len(a & b) / max(len(a | b), 1)) if a or b else float(np.nan)
