"""The evaluation protocol every model and benchmark shares: data, questions, and one ``evaluate`` call.

Questions come from the *test* outfits of a dataset that contain both the query slot and the target slot
(by default top -> bottom, as in the seed paper):

* **FITB**: the true target among 4 candidates of the target slot (3 drawn at random from the catalogue).
* **Personalised FITB**: the true target among 4, the 3 others being targets that *other users* chose for
  the same query item (or, when fewer exist, for queries of the same article type).
* **Compatibility AUC**: test pairs against the seed's negatives, Eq. 6 (a random item of the target slot
  with the query) and Eq. 7 (another user's pair, scored for this user); one AUC for each kind.
* **Recall@K / mAP@K**: rank of the true target among *every* catalogue item of the target slot, ties broken
  by a seeded random key; also Recall@K restricted to targets from the unseen-items split.
* **Retrieval accuracy (5 candidates)**: for generated images; :func:`retrieval_candidates` draws the ground
  truth + 4 random items of the same slot, and :func:`recengine.evaluation.retrieval_accuracy` scores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from recengine.datasets.negatives import other_user_rows, random_complements
from recengine.evaluation.metrics import candidate_sets, compatibility_auc, fitb_per_question
from recengine.evaluation.protocol_data import PARTS, ProtocolData

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


class PairScorer(Protocol):
    """Anything that scores (user, query item, candidate item) triples; higher means more compatible."""

    def score(self, users: IntArray, queries: IntArray, candidates: IntArray) -> FloatArray:
        """Scores of ``candidates`` (B, C) for ``users`` (B,) and ``queries`` (B,); indices into the data."""
        ...


@dataclass(frozen=True)
class Questions:
    """Every question of the protocol for one part of one dataset, drawn from one seed."""

    users: IntArray  # (N,)
    queries: IntArray  # (N,)
    targets: IntArray  # (N,)
    fitb: IntArray  # (N, 4), column 0 is the target
    pfitb: IntArray  # (N, 4), column 0 is the target
    random_negatives: IntArray  # (N,) Eq. 6
    other_users: IntArray  # (N,) Eq. 7: user, query and target of another user's pair
    other_queries: IntArray
    other_targets: IntArray
    unseen: NDArray[np.bool_]  # (N,) target in the unseen-items split

    def __len__(self) -> int:
        return len(self.users)


def _grouped(keys: IntArray) -> dict[int, IntArray]:
    """Row indices of ``keys`` grouped by key value (one sort instead of a Python loop over rows)."""
    order = np.argsort(keys, kind="stable")
    values, starts = np.unique(keys[order], return_index=True)
    return dict(zip(values.tolist(), np.split(order, starts[1:]), strict=True))


def _personal_pools(data: ProtocolData, users: IntArray, queries: IntArray, targets: IntArray) -> list[IntArray]:
    all_users, all_queries, all_targets, _ = data.pairs(None)
    by_query = _grouped(all_queries)
    by_article = _grouped(data.item_article[all_queries])
    empty = np.empty(0, dtype=np.int64)
    fallback: dict[tuple[int, int], IntArray] = {}  # the same pool object for repeats: made distinct once
    pools = []
    for u, q, t in zip(users.tolist(), queries.tolist(), targets.tolist(), strict=True):
        rows = by_query.get(q, empty)
        pool = np.unique(all_targets[rows[all_users[rows] != u]])
        if np.count_nonzero(pool != t) < 3:
            key = (int(data.item_article[q]), u)
            if key not in fallback:
                rows = by_article[key[0]]
                fallback[key] = np.unique(all_targets[rows[all_users[rows] != u]])
            pool = fallback[key]
        pools.append(pool)
    return pools


def build_questions(data: ProtocolData, *, part: str = "test", seed: int = 0) -> Questions:
    """All questions for ``part`` of the data; the same seed gives the same questions."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    rng = np.random.default_rng(seed)
    users, queries, targets, _ = data.pairs(part)
    slot_pool = data.slot_items(data.target_slot)
    fitb = candidate_sets(rng, targets, [slot_pool] * len(targets), 4)
    pfitb = candidate_sets(rng, targets, _personal_pools(data, users, queries, targets), 4)
    random_negatives = random_complements(rng, targets, slot_pool)
    other = other_user_rows(rng, users)
    return Questions(users, queries, targets, fitb, pfitb, random_negatives, users[other], queries[other],
                     targets[other], data.item_unseen[targets])  # fmt: skip


def retrieval_candidates(data: ProtocolData, targets: IntArray, rng: np.random.Generator) -> IntArray:
    """(N, 5) item indices: the ground truth in column 0 and 4 random items of its slot."""
    return candidate_sets(rng, targets, [data.slot_items(int(data.item_slot[t])) for t in targets], 5)


def _true_ranks(scorer: PairScorer, data: ProtocolData, q: Questions, seed: int, batch: int) -> IntArray:
    pool = data.slot_items(data.target_slot)
    key = np.random.default_rng([seed, 1]).random(len(data.item_ids))  # seeded tie-breaker
    ranks = np.empty(len(q), dtype=np.int64)
    for start in range(0, len(q), batch):
        sl = slice(start, start + batch)
        n = len(q.users[sl])
        scores = scorer.score(q.users[sl], q.queries[sl], np.broadcast_to(pool, (n, len(pool))))
        true = scorer.score(q.users[sl], q.queries[sl], q.targets[sl, None])
        ahead = (scores > true) | ((scores == true) & (key[pool][None, :] < key[q.targets[sl]][:, None]))
        ranks[sl] = ahead.sum(axis=1)
    return ranks


@dataclass(frozen=True)
class Evaluation:
    """The protocol's metrics for one scorer, and the per-question credit behind the per-question ones.

    ``per_question`` holds, for each question, its FITB and personalised FITB credit (fair ties), whether the
    target is in the top K and its AP@K; their means are the matching ``metrics``. The AUCs pool every question's
    pairs, so they have no per-question share. :func:`recengine.evaluation.paired.compare` turns two scorers'
    per-question credit on the same questions into differences with standard errors.
    """

    metrics: dict[str, float]
    per_question: dict[str, FloatArray]


def evaluate_detailed(scorer: PairScorer, data: ProtocolData, questions: Questions, *, k: int = 10, seed: int = 0,
                      batch: int = 512) -> Evaluation:  # fmt: skip
    """Every metric of the protocol for ``scorer`` on ``questions``, with the per-question credit."""
    q = questions
    s = scorer.score
    pos = s(q.users, q.queries, q.targets[:, None])[:, 0]
    neg6 = s(q.users, q.queries, q.random_negatives[:, None])[:, 0]
    neg7 = s(q.users, q.other_queries, q.other_targets[:, None])[:, 0]
    ranks = _true_ranks(scorer, data, q, seed, batch)
    hit = ranks < k
    per_question = {
        "fitb": fitb_per_question(s(q.users, q.queries, q.fitb)),
        "pfitb": fitb_per_question(s(q.users, q.queries, q.pfitb)),
        f"recall{k}": hit.astype(np.float64),
        f"map{k}": np.where(hit, 1.0 / (ranks + 1), 0.0),
    }
    metrics = {
        "questions": float(len(q)),
        **{name: float(credit.mean()) for name, credit in per_question.items()},
        "auc_eq6": compatibility_auc(pos, neg6),
        "auc_eq7": compatibility_auc(pos, neg7),
        f"recall{k}_unseen": float(hit[q.unseen].mean()) if q.unseen.any() else float("nan"),
        "unseen_questions": float(q.unseen.sum()),
    }
    return Evaluation(metrics, per_question)


def evaluate(scorer: PairScorer, data: ProtocolData, questions: Questions, *, k: int = 10, seed: int = 0,
             batch: int = 512) -> dict[str, float]:  # fmt: skip
    """Every metric of the protocol for ``scorer`` on ``questions`` (:func:`evaluate_detailed`'s metrics)."""
    return evaluate_detailed(scorer, data, questions, k=k, seed=seed, batch=batch).metrics
