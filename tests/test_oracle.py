"""The simulation oracle: the simulator's own log-probabilities, re-drawn from the seed (the metrics' ceiling)."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.datasets.outfits import SLOT_ORDER, SimulationParams, rules
from recengine.datasets.outfits.users import simulate_user, templates_for, unseen_items
from recengine.errors import InvalidInputError
from recengine.evaluation.metrics import fitb_accuracy
from recengine.evaluation.oracle import SimulationOracle
from tests.test_outfit_simulation import DIST, arrays, hand_rows

PARAMS = SimulationParams(seed=5, users=30, train_outfits=60, test_outfits=10, newcomer_users=3)


@pytest.fixture(scope="module")
def world() -> tuple:
    cat = arrays(hand_rows(900))
    per_gender = {g: templates_for(g, cat, DIST) for g in ("Men", "Women")}
    held = unseen_items(cat, PARAMS)
    users = [simulate_user(i, cat, per_gender, PARAMS, held) for i in range(PARAMS.users)]
    return cat, users


def test_taste_part_is_the_simulated_users_log_weight(world: tuple) -> None:
    cat, users = world
    oracle = SimulationOracle.fit(cat, PARAMS, PARAMS.users, parts="taste")
    items = np.arange(len(cat))
    for u in (0, 7, 29):
        weights = users[u].taste.item_weights(cat)
        got = oracle.score(np.asarray([u]), np.asarray([0]), items[None])[0]
        ok = weights > 0
        np.testing.assert_allclose(got[ok], np.log(weights[ok]), rtol=1e-9, atol=1e-9)
        assert (got[~ok] < -600).all()  # the other gender's items: never chosen


def test_rules_part_is_the_pair_weight_to_the_composers_sharpness(world: tuple) -> None:
    cat, _ = world
    oracle = SimulationOracle.fit(cat, PARAMS, 2, parts="rules")
    tables = (rules.colour_table(), rules.usage_table(), rules.season_table())
    q, c = np.asarray([3, 10]), np.asarray([[5, 6, 7], [8, 9, 11]])
    pair = rules.pair_weight(tables, tuple(x[:, None] for x in cat.rule_codes(q)), cat.rule_codes(c))
    np.testing.assert_allclose(oracle.score(np.asarray([0, 1]), q, c), PARAMS.sharpness * np.log(pair))
    both = SimulationOracle.fit(cat, PARAMS, 2)
    np.testing.assert_allclose(
        both.score(np.asarray([0, 1]), q, c),
        oracle.score(np.asarray([0, 1]), q, c)
        + SimulationOracle.fit(cat, PARAMS, 2, parts="taste").score(np.asarray([0, 1]), q, c),
    )


def test_the_oracle_picks_the_users_own_bottoms_far_above_chance(world: tuple) -> None:
    cat, users = world
    oracle = SimulationOracle.fit(cat, PARAMS, PARAMS.users)
    top, bottom = SLOT_ORDER.index("top"), SLOT_ORDER.index("bottom")
    bottoms = np.flatnonzero(cat.slot == bottom)
    rng = np.random.default_rng(0)
    rows = []
    for u in users:
        for outfit in u.outfits:
            slots = cat.slot[outfit[outfit >= 0]]
            if top in slots and bottom in slots:
                items = outfit[outfit >= 0]
                rows.append((u.index, items[slots == top][0], items[slots == bottom][0]))
    us, qs, ts = (np.asarray(x) for x in zip(*rows, strict=True))
    candidates = np.column_stack([ts, rng.choice(bottoms, size=(len(ts), 3))])
    assert fitb_accuracy(oracle.score(us, qs, candidates)) > 0.6  # chance 0.25


def test_unknown_parts_are_refused(world: tuple) -> None:
    with pytest.raises(InvalidInputError, match="parts must be"):
        SimulationOracle.fit(world[0], PARAMS, 1, parts="colour")  # type: ignore[arg-type]
