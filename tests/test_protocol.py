"""The evaluation protocol: pairs and interactions of hand-made data, questions, metrics of known scorers, and
the baselines end to end on a simulated dataset in PostgreSQL."""

from __future__ import annotations

import math
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest
from sqlalchemy import func, select, update

from recengine.datasets.importers.myntra import import_myntra
from recengine.datasets.outfits import (
    SLOT_ORDER,
    SimulationParams,
    load_catalogue,
    load_category_map,
    load_templates,
    simulate_users,
)
from recengine.errors import InvalidInputError
from recengine.evaluation import map_at_k, mean_recall_at_k
from recengine.evaluation.baselines import PopularityScorer, RandomScorer, UserHistoryScorer, evaluate_baselines
from recengine.evaluation.protocol import Questions, build_questions, evaluate, retrieval_candidates
from recengine.evaluation.protocol_data import PARTS, ProtocolData, load_protocol_data
from recengine.store.models import Interaction, Item, Outfit, OutfitItem, User
from tests.conftest import MYNTRA, require

TOP, BOTTOM, SHOES = (SLOT_ORDER.index(s) for s in ("top", "bottom", "shoes"))
TRAIN, VALID, TEST = (PARTS.index(p) for p in ("train", "valid", "test"))
METRICS = {"questions", "fitb", "pfitb", "auc_eq6", "auc_eq7", "recall10", "map10", "recall10_unseen",
           "unseen_questions"}  # fmt: skip

# --- hand-made data -----------------------------------------------------------------------------------------------
#
# Items 0-2 are tops (article 0), 3-8 bottoms (article 1), 9-11 shoes (article 2); item 8 is unseen.
# Columns of an outfit are in no particular slot order, on purpose.
HAND_OUTFITS = [
    # (user, part, items)
    (0, TRAIN, [0, 3, 9]),  # o0
    (0, TRAIN, [4, 1, -1]),  # o1: bottom before top
    (0, TEST, [10, 5, 0]),  # o2
    (1, TRAIN, [2, 6, 11]),  # o3
    (1, TEST, [0, 7, -1]),  # o4
    (1, VALID, [1, 3, 9]),  # o5
    (2, TEST, [0, 8, 9]),  # o6
    (2, TRAIN, [9, -1, -1]),  # o7: shoes only
    (2, TEST, [1, 10, -1]),  # o8: no bottom
    (3, TRAIN, [0, 3, 10]),  # o9
    (3, TEST, [1, 6, 11]),  # o10
    (3, TEST, [-1, 4, 11]),  # o11: no top
]
#: (user, query) -> target of the test outfits with a top and a bottom.
HAND_TRUTH = {(0, 0): 5, (1, 0): 7, (2, 0): 8, (3, 1): 6}


def hand_data() -> ProtocolData:
    return ProtocolData(
        dataset_id=1,
        user_ids=np.array([10, 11, 12, 13]),
        user_external=["u10", "u11", "u12", "u13"],
        newcomer=np.array([False, False, False, True]),
        item_ids=np.arange(100, 112),
        item_slot=np.array([TOP] * 3 + [BOTTOM] * 6 + [SHOES] * 3),
        item_article=np.array([0] * 3 + [1] * 6 + [2] * 3),
        item_unseen=np.isin(np.arange(12), [8]),
        outfit_user=np.array([u for u, _, _ in HAND_OUTFITS]),
        outfit_part=np.array([p for _, p, _ in HAND_OUTFITS]),
        outfit_items=np.array([items for _, _, items in HAND_OUTFITS]),
    )


def random_data(seed: int = 0, n_users: int = 12, per_user: int = 10) -> ProtocolData:
    """Tops 0-14 (articles 0-2), bottoms 15-44 (articles 3-4), shoes 45-59 (article 5); 20% of items unseen.

    A user's 4 test outfits have distinct tops, so (user, query) names one test target.
    """
    rng = np.random.default_rng(seed)
    slot = np.array([TOP] * 15 + [BOTTOM] * 30 + [SHOES] * 15)
    article = np.concatenate([np.arange(15) % 3, 3 + np.arange(30) % 2, np.full(15, 5)])
    users, parts, rows = [], [], []
    for u in range(n_users):
        test_tops = rng.permutation(15)[:4]
        for n in range(per_user):
            top = int(test_tops[n - per_user + 4]) if n >= per_user - 4 else int(rng.integers(0, 15))
            row = [top, int(rng.integers(15, 45)), int(rng.integers(45, 60))]
            if n == 0:
                row[1] = -1  # one outfit per user without a bottom: never a question
            rows.append(list(rng.permutation(row)))
            users.append(u)
            parts.append(TEST if n >= per_user - 4 else (VALID if n == per_user - 5 else TRAIN))
    return ProtocolData(
        dataset_id=2,
        user_ids=np.arange(n_users) + 1000,
        user_external=[f"u{i}" for i in range(n_users)],
        newcomer=np.arange(n_users) >= n_users - 2,
        item_ids=np.arange(60) + 500,
        item_slot=slot,
        item_article=article,
        item_unseen=rng.random(60) < 0.2,
        outfit_user=np.array(users),
        outfit_part=np.array(parts),
        outfit_items=np.array(rows),
    )


class OracleScorer:
    """1.0 for the candidate that is the true target of (user, query) in the test outfits, else 0."""

    def __init__(self, data: ProtocolData) -> None:
        users, queries, targets, _ = data.pairs("test")
        self.truth = {(int(u), int(q)): int(t) for u, q, t in zip(users, queries, targets, strict=True)}

    def score(self, users: np.ndarray, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        truth = np.array([self.truth.get((int(u), int(q)), -1) for u, q in zip(users, queries, strict=True)])
        return (candidates == truth[:, None]).astype(np.float64)


class AntiOracleScorer(OracleScorer):
    def score(self, users: np.ndarray, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return -super().score(users, queries, candidates)


class ConstantScorer:
    def score(self, users: np.ndarray, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return np.full(candidates.shape, 0.5)


class TableScorer:
    """Fixed random scores per (user, query, candidate): deterministic across calls, no ties."""

    def __init__(self, data: ProtocolData, seed: int) -> None:
        n_items = len(data.item_ids)
        self.table = np.random.default_rng(seed).random((len(data.user_ids), n_items, n_items))

    def score(self, users: np.ndarray, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return self.table[users[:, None], queries[:, None], candidates]


# --- ProtocolData -------------------------------------------------------------------------------------------------


def test_pairs_of_each_part_are_exactly_the_outfits_with_a_top_and_a_bottom() -> None:
    data = hand_data()
    users, queries, targets, outfits = data.pairs("test")
    assert users.tolist() == [0, 1, 2, 3]
    assert queries.tolist() == [0, 0, 0, 1]
    assert targets.tolist() == [5, 7, 8, 6]
    assert outfits.tolist() == [2, 4, 6, 10]
    assert [a.tolist() for a in data.pairs("train")] == [[0, 0, 1, 3], [0, 1, 2, 0], [3, 4, 6, 3], [0, 1, 3, 9]]
    assert [a.tolist() for a in data.pairs("valid")] == [[1], [1], [3], [5]]
    all_users, _, all_targets, all_outfits = data.pairs(None)
    assert all_outfits.tolist() == [0, 1, 2, 3, 4, 5, 6, 9, 10]
    assert all_targets.tolist() == [3, 4, 5, 6, 7, 3, 8, 3, 6]
    assert all_users.tolist() == [0, 0, 0, 1, 1, 1, 2, 3, 3]


def test_pairs_follow_the_query_and_target_slots() -> None:
    data = hand_data()
    shoes_for_tops = replace(data, target_slot=SHOES)
    users, queries, targets, outfits = shoes_for_tops.pairs("test")
    assert (users.tolist(), queries.tolist(), targets.tolist(), outfits.tolist()) == (
        [0, 2, 2, 3], [0, 0, 1, 1], [10, 9, 10, 11], [2, 6, 8, 10],
    )  # fmt: skip


def test_slot_items() -> None:
    data = hand_data()
    assert data.slot_items(TOP).tolist() == [0, 1, 2]
    assert data.slot_items(BOTTOM).tolist() == [3, 4, 5, 6, 7, 8]
    assert data.slot_items(SLOT_ORDER.index("bag")).tolist() == []


def test_interaction_matrix_counts_the_items_of_training_outfits() -> None:
    data = hand_data()
    expected = np.zeros((4, 12))
    for user, part, items in HAND_OUTFITS:
        if part == TRAIN:
            for i in items:
                if i >= 0:
                    expected[user, i] += 1
    matrix = data.interaction_matrix()
    assert matrix.shape == (4, 12)
    np.testing.assert_array_equal(matrix.toarray(), expected)
    assert matrix.sum() == 3 + 2 + 3 + 1 + 3  # o0, o1, o3, o7, o9
    # User 0 wore item 0 in o0 only among training outfits; user 3 wore 0, 3, 10.
    assert matrix.toarray()[3].nonzero()[0].tolist() == [0, 3, 10]
    with_valid = data.interaction_matrix(("train", "valid")).toarray()
    expected[1, [1, 3, 9]] += 1  # o5, user 1's validation outfit
    np.testing.assert_array_equal(with_valid, expected)


def test_interaction_matrix_keeps_the_slots_asked_for() -> None:
    data = hand_data()
    full = data.interaction_matrix().toarray()
    pairs = data.interaction_matrix(slots=(TOP, BOTTOM)).toarray()
    kept = np.isin(data.item_slot, [TOP, BOTTOM])
    np.testing.assert_array_equal(pairs[:, kept], full[:, kept])
    assert pairs[:, ~kept].sum() == 0 and full[:, ~kept].sum() > 0
    np.testing.assert_array_equal(data.interaction_matrix(slots=(SHOES,)).toarray()[:, ~kept], full[:, ~kept])
    with pytest.raises(InvalidInputError, match="slots"):
        data.interaction_matrix(slots=(TOP, 99))


def test_repeated_items_count_twice() -> None:
    data = hand_data()
    doubled = replace(data, outfit_items=np.concatenate([data.outfit_items] * 2),
                      outfit_user=np.tile(data.outfit_user, 2), outfit_part=np.tile(data.outfit_part, 2))  # fmt: skip
    np.testing.assert_array_equal(doubled.interaction_matrix().toarray(), 2 * data.interaction_matrix().toarray())


# --- questions ----------------------------------------------------------------------------------------------------


def _assert_same_questions(a: Questions, b: Questions) -> None:
    for name in Questions.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_questions_are_deterministic_for_a_seed() -> None:
    data = random_data()
    _assert_same_questions(build_questions(data, seed=3), build_questions(data, seed=3))
    other = build_questions(data, seed=4)
    assert not np.array_equal(build_questions(data, seed=3).fitb, other.fitb)


def test_questions_of_the_hand_data() -> None:
    data = hand_data()
    q = build_questions(data, seed=0)
    assert len(q) == 4
    assert q.users.tolist() == [0, 1, 2, 3]
    assert q.queries.tolist() == [0, 0, 0, 1]
    assert q.targets.tolist() == [5, 7, 8, 6]
    assert q.unseen.tolist() == [False, False, True, False]
    # FITB: the target first, then 3 distinct other bottoms.
    assert q.fitb.shape == (4, 4)
    assert q.fitb[:, 0].tolist() == [5, 7, 8, 6]
    for row in q.fitb:
        assert len(set(row.tolist())) == 4
        assert set(row.tolist()) <= {3, 4, 5, 6, 7, 8}
    # pFITB: for query 0 other users chose 3 distinct targets, so those are exactly the distractors.
    assert q.pfitb.shape == (4, 4)
    assert q.pfitb[:, 0].tolist() == [5, 7, 8, 6]
    assert set(q.pfitb[0, 1:].tolist()) == {3, 7, 8}  # users 1, 2, 3 with top 0
    assert set(q.pfitb[1, 1:].tolist()) == {3, 5, 8}  # users 0, 2, 3 with top 0
    assert set(q.pfitb[2, 1:].tolist()) == {3, 5, 7}  # users 0, 1, 3 with top 0
    # Query 1 was paired by other users with bottoms 4 and 3 only: too few, so any other user's target of a
    # top of the same article type (every top here) is a candidate.
    assert len(set(q.pfitb[3, 1:].tolist())) == 3
    assert set(q.pfitb[3, 1:].tolist()) <= {3, 4, 5, 7, 8}
    # Eq. 6: a random other bottom; Eq. 7: another user's test pair.
    assert set(q.random_negatives.tolist()) <= {3, 4, 5, 6, 7, 8}
    assert (q.random_negatives != q.targets).all()
    assert (q.other_users != q.users).all()
    test_pairs = set(zip(*(a.tolist() for a in data.pairs("test")[:3]), strict=True))
    assert (
        set(zip(q.other_users.tolist(), q.other_queries.tolist(), q.other_targets.tolist(), strict=True)) <= test_pairs
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_candidates_and_negatives_on_random_data(seed: int) -> None:
    data = random_data(seed)
    q = build_questions(data, seed=seed)
    users, queries, targets, _ = data.pairs("test")
    assert len(q) == len(users) == 12 * 4  # every test outfit has a top and a bottom
    np.testing.assert_array_equal(q.targets, targets)
    bottoms = set(data.slot_items(BOTTOM).tolist())
    all_users, all_queries, all_targets, _ = data.pairs(None)
    for n in range(len(q)):
        fitb, pfitb = q.fitb[n].tolist(), q.pfitb[n].tolist()
        assert fitb[0] == pfitb[0] == targets[n]
        assert len(set(fitb)) == len(set(pfitb)) == 4
        assert set(fitb) <= bottoms and set(pfitb) <= bottoms
        same_query = {int(t) for u, qq, t in zip(all_users, all_queries, all_targets, strict=True)
                      if qq == queries[n] and u != users[n] and t != targets[n]}  # fmt: skip
        same_article = {int(t) for u, qq, t in zip(all_users, all_queries, all_targets, strict=True)
                        if data.item_article[qq] == data.item_article[queries[n]] and u != users[n]}  # fmt: skip
        if len(same_query) >= 3:
            assert set(pfitb[1:]) <= same_query, n
        else:
            assert set(pfitb[1:]) <= same_article - {int(targets[n])}, n
    assert (q.other_users != q.users).all()
    test_pairs = set(zip(users.tolist(), queries.tolist(), targets.tolist(), strict=True))
    others = zip(q.other_users.tolist(), q.other_queries.tolist(), q.other_targets.tolist(), strict=True)
    assert set(others) <= test_pairs
    assert (q.random_negatives != q.targets).all()
    assert set(q.random_negatives.tolist()) <= bottoms
    np.testing.assert_array_equal(q.unseen, data.item_unseen[targets])


def test_unknown_part_is_refused() -> None:
    with pytest.raises(ValueError, match="part must be one of"):
        build_questions(hand_data(), part="holdout")


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_questions_of_a_single_user_are_refused_not_looped_on() -> None:
    # Only user 0 keeps a test outfit; the others' outfits become training ones, so pFITB still has pools but
    # no Eq. 7 negative (another user's test pair) exists. Redrawing until one turns up would never end.
    data = hand_data()
    parts = np.where(data.outfit_user == 0, data.outfit_part, TRAIN)
    one_user = replace(data, outfit_part=parts)
    assert one_user.pairs("test")[0].tolist() == [0]
    with time_limit(5), pytest.raises(ValueError, match="at least two users"):
        build_questions(one_user, seed=0)


# --- evaluate -----------------------------------------------------------------------------------------------------


def test_an_oracle_gets_every_metric_right() -> None:
    data = hand_data()
    result = evaluate(OracleScorer(data), data, build_questions(data, seed=0))
    assert set(result) == METRICS
    assert result == {"questions": 4.0, "fitb": 1.0, "pfitb": 1.0, "auc_eq6": 1.0, "auc_eq7": 1.0, "recall10": 1.0,
                      "map10": 1.0, "recall10_unseen": 1.0, "unseen_questions": 1.0}  # fmt: skip


def test_an_oracle_on_random_data() -> None:
    data = random_data(5)
    q = build_questions(data, seed=5)
    oracle = OracleScorer(data)
    assert len(oracle.truth) == len(q)
    result = evaluate(oracle, data, q, k=3, seed=5)
    assert {m: result[m] for m in ("fitb", "pfitb", "auc_eq6", "recall3", "map3", "recall3_unseen")} == dict.fromkeys(
        ("fitb", "pfitb", "auc_eq6", "recall3", "map3", "recall3_unseen"), 1.0
    )


def test_an_anti_oracle_gets_every_metric_wrong() -> None:
    data = hand_data()
    q = build_questions(data, seed=0)
    result = evaluate(AntiOracleScorer(data), data, q, k=5)
    assert (result["fitb"], result["pfitb"], result["auc_eq6"], result["auc_eq7"]) == (0.0, 0.0, 0.0, 0.0)
    assert (result["recall5"], result["map5"], result["recall5_unseen"]) == (0.0, 0.0, 0.0)
    # Ranked last of the 6 bottoms: inside the top 6, at rank 6.
    result6 = evaluate(AntiOracleScorer(data), data, q, k=6)
    assert result6["recall6"] == 1.0
    assert result6["map6"] == pytest.approx(1 / 6)


def test_a_constant_scorer_is_at_chance_with_fair_ties() -> None:
    data = random_data(1)
    q = build_questions(data, seed=1)
    result = evaluate(ConstantScorer(), data, q, k=30)
    assert result["fitb"] == 0.25
    assert result["pfitb"] == 0.25
    assert result["auc_eq6"] == 0.5
    assert result["auc_eq7"] == 0.5
    # Every target is among the 30 bottoms; the seeded tie-breaker spreads the ranks over all 30.
    assert result["recall30"] == 1.0
    assert result["map30"] < 0.5


@pytest.mark.parametrize("k", [1, 3, 10])
def test_ranking_metrics_match_explicit_ranked_lists(k: int) -> None:
    data = random_data(2)
    q = build_questions(data, seed=2)
    scorer = TableScorer(data, seed=7)
    result = evaluate(scorer, data, q, k=k, seed=2, batch=5)  # a batch size that does not divide the questions
    pool = data.slot_items(BOTTOM)
    rankings = []
    for u, qq in zip(q.users, q.queries, strict=True):
        scores = scorer.table[u, qq, pool]
        assert len(np.unique(scores)) == len(pool)  # no ties, so the ranking is unambiguous
        rankings.append(pool[np.argsort(-scores)])
    relevants = [[int(t)] for t in q.targets]
    assert result[f"recall{k}"] == pytest.approx(mean_recall_at_k(rankings, relevants, k), abs=1e-12)
    assert result[f"map{k}"] == pytest.approx(map_at_k(rankings, relevants, k), abs=1e-12)
    unseen = np.flatnonzero(q.unseen)
    assert len(unseen) > 0
    expected_unseen = mean_recall_at_k([rankings[i] for i in unseen], [relevants[i] for i in unseen], k)
    assert result[f"recall{k}_unseen"] == pytest.approx(expected_unseen, abs=1e-12)
    assert result["unseen_questions"] == float(len(unseen))
    assert result["questions"] == float(len(q))


def test_random_scorer_is_repeatable() -> None:
    data = random_data(3)
    q = build_questions(data, seed=0)
    assert evaluate(RandomScorer(4), data, q) == evaluate(RandomScorer(4), data, q)


def test_popularity_scorer_counts_training_items() -> None:
    data = hand_data()
    pop = PopularityScorer.fit(data)
    assert pop.counts.tolist() == [2, 1, 1, 2, 1, 0, 1, 0, 0, 2, 1, 1]
    scores = pop.score(np.array([0, 1]), np.array([0, 0]), np.array([[3, 5], [9, 10]]))
    assert scores.tolist() == [[2.0, 0.0], [2.0, 1.0]]


def test_user_history_scorer_counts_this_users_items_first() -> None:
    data = hand_data()
    history = UserHistoryScorer.fit(data)
    matrix = data.interaction_matrix().toarray()
    users, candidates = np.array([0, 1]), np.array([[3, 5, 9], [3, 9, 10]])
    scores = history.score(users, np.array([0, 0]), candidates)
    own = matrix[users[:, None], candidates]
    assert (np.floor(scores) == own).all()  # the user's own count, then popularity as a tie-break below 1
    pop = matrix.sum(axis=0)[candidates]
    assert (scores - own) * (pop.max() + 1) == pytest.approx(pop)


# --- retrieval candidates -----------------------------------------------------------------------------------------


def test_retrieval_candidates_hold_the_truth_and_same_slot_distractors() -> None:
    data = hand_data()
    targets = np.array([5, 7, 8, 6])
    candidates = retrieval_candidates(data, targets, np.random.default_rng(0))
    assert candidates.shape == (4, 5)
    assert candidates[:, 0].tolist() == [5, 7, 8, 6]
    for row in candidates:
        assert len(set(row.tolist())) == 5
        assert set(row.tolist()) <= {3, 4, 5, 6, 7, 8}
    again = retrieval_candidates(data, targets, np.random.default_rng(0))
    np.testing.assert_array_equal(candidates, again)


def test_retrieval_candidates_of_mixed_slots() -> None:
    data = random_data(0)
    targets = np.array([0, 14, 20, 44, 45, 59])
    candidates = retrieval_candidates(data, targets, np.random.default_rng(1))
    assert candidates.shape == (6, 5)
    np.testing.assert_array_equal(candidates[:, 0], targets)
    for row in candidates:
        assert len(set(row.tolist())) == 5
        assert (data.item_slot[row] == data.item_slot[row[0]]).all()


def test_retrieval_candidates_need_four_other_items_of_the_slot() -> None:
    with pytest.raises(InvalidInputError, match="pool has 2 distinct item"):
        retrieval_candidates(hand_data(), np.array([0]), np.random.default_rng(0))  # only 3 tops


# --- end to end on PostgreSQL -------------------------------------------------------------------------------------


def test_baselines_on_a_simulated_dataset(session) -> None:
    import_myntra(require(MYNTRA), session=session, limit=8000)
    catalogue = load_catalogue(session=session, category_map=load_category_map())
    params = SimulationParams(seed=0, users=30, train_outfits=40, test_outfits=10, newcomer_users=2)
    summary = simulate_users(session=session, name="protocol-e2e", catalogue=catalogue, templates=load_templates(),
                             params=params)  # fmt: skip
    data = load_protocol_data(session=session, dataset="protocol-e2e")

    assert data.dataset_id == summary.dataset_id
    assert len(data.user_ids) == 30
    assert data.newcomer.sum() == 2 and data.newcomer[-2:].all()
    np.testing.assert_array_equal(data.item_ids, catalogue.item_ids)
    assert len(data.outfit_user) == 30 * 50
    assert np.bincount(data.outfit_part, minlength=3).tolist() == [30 * 36, 30 * 4, 30 * 10]
    assert np.bincount(data.outfit_user).tolist() == [50] * 30
    n_interactions = session.scalar(
        select(func.count()).select_from(Interaction).join(User, User.id == Interaction.user_id)
        .where(User.dataset_id == summary.dataset_id)
    )  # fmt: skip
    assert data.interaction_matrix().sum() == n_interactions == summary.interactions
    # No unseen item is in a training outfit.
    assert data.interaction_matrix()[:, data.item_unseen].nnz == 0

    # Each outfit's items per slot are the database's rows; an item that left the catalogue (deactivated) is -1.
    worn = data.item_ids[data.outfit_items[0][data.outfit_items[0] >= 0][0]]
    session.execute(update(Item).where(Item.id == int(worn)).values(is_active=False))
    again = load_protocol_data(session=session, dataset="protocol-e2e")
    index = {int(i): n for n, i in enumerate(again.item_ids)}
    expected = np.full_like(again.outfit_items, -1)
    stmt = select(OutfitItem.outfit_id, OutfitItem.slot, OutfitItem.item_id).join(Outfit)
    rows = session.execute(stmt.where(Outfit.dataset_id == summary.dataset_id)).all()
    outfit_row = {o: n for n, o in enumerate(sorted({o for o, _, _ in rows}))}
    for outfit_id, slot, item_id in rows:
        expected[outfit_row[outfit_id], slot] = index.get(item_id, -1)
    np.testing.assert_array_equal(again.outfit_items, expected)
    assert int(worn) not in index and (again.outfit_items[0] == -1).sum() > (data.outfit_items[0] == -1).sum()
    session.execute(update(Item).where(Item.id == int(worn)).values(is_active=True))

    results = evaluate_baselines(data)
    assert set(results) == {"random", "popularity", "als", "bpr"}
    n_questions = float(len(data.pairs("test")[0]))
    assert n_questions > 100
    for name, metrics in results.items():
        assert set(metrics) == METRICS, name
        assert metrics["questions"] == n_questions
        assert metrics["unseen_questions"] > 0
        for metric, value in metrics.items():
            assert math.isfinite(value), (name, metric)
        for metric in ("fitb", "pfitb", "auc_eq6", "auc_eq7", "recall10", "map10", "recall10_unseen"):
            assert 0.0 <= metrics[metric] <= 1.0, (name, metric)
    # Simulated users have taste, so collaborative filtering must beat chance clearly.
    assert results["als"]["fitb"] > results["random"]["fitb"] + 0.1
    assert results["als"]["recall10"] > results["random"]["recall10"]
    assert results["bpr"]["fitb"] > results["random"]["fitb"]
    # Unseen items were never in a training outfit: popularity 0, behind at least 10 bottoms that were worn.
    counts = PopularityScorer.fit(data).counts
    assert (counts[data.slot_items(data.target_slot)] > 0).sum() >= 10
    assert results["popularity"]["recall10_unseen"] == 0.0
