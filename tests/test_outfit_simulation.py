"""Simulated outfits: the stylist rules, the composer, simulated users and what ``simulate_users`` and
``build_stylist_outfits`` write to PostgreSQL (determinism, splits, interactions, rebuilds)."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from recengine.datasets.importers.fashion_mnist import import_fashion_mnist
from recengine.datasets.importers.myntra import import_myntra
from recengine.datasets.outfits import (
    SLOT_ORDER,
    CatalogueArrays,
    Composer,
    SimulationParams,
    TemplateDistribution,
    build_stylist_outfits,
    load_catalogue,
    load_category_map,
    load_templates,
    rules,
    simulate_users,
)
from recengine.datasets.outfits.composer import GENDERS, catalogue_arrays, template_matrix
from recengine.datasets.outfits.users import MIN_SLOT_ITEMS, simulate_user, templates_for, unseen_items
from recengine.errors import InvalidInputError
from recengine.store.models import Dataset, Interaction, Outfit, OutfitItem, SplitAssignment, User
from tests.conftest import FASHION_MNIST, MYNTRA, require

Row = tuple[int, str, str | None, str | None, str | None, str | None]

ARTICLES = {
    "top": ["Tshirts", "Shirts", "Tops"],
    "bottom": ["Jeans", "Trousers", "Skirts"],
    "shoes": ["Casual Shoes", "Heels"],
    "bag": ["Handbags"],
    "accessory": ["Belts", "Watches"],
    "all-body": ["Dresses"],
}
COLOURS = ["Black", "White", "Red", "Pink", "Blue", "Green", "Yellow", "Navy Blue", "Multi", None]
USAGES = ["Casual", "Formal", "Sports", "Ethnic", "Smart Casual", None]
SEASONS = ["Summer", "Winter", "Fall", "Spring", None]
TEMPLATES = [("bottom", "shoes", "top"), ("all-body", "bag", "shoes"), ("accessory", "bottom", "top"),
             ("bag", "bottom", "shoes", "top")]  # fmt: skip


def hand_rows(n: int = 300, seed: int = 0) -> list[Row]:
    """``n`` usable rows over every slot of :data:`ARTICLES`, plus 3 rows the composer must leave out."""
    rng = np.random.default_rng(seed)
    article_types = [a for names in ARTICLES.values() for a in names]
    rows: list[Row] = []
    for i in range(n):
        rows.append((
            1000 + i, article_types[i % len(article_types)], ["Men", "Women", "Unisex"][int(rng.integers(3))],
            COLOURS[int(rng.integers(len(COLOURS)))], USAGES[int(rng.integers(len(USAGES)))],
            SEASONS[int(rng.integers(len(SEASONS)))],
        ))  # fmt: skip
    rows.append((1, "Perfume and Body Mist", "Women", "Black", "Casual", "Summer"))  # not in the slot map
    rows.append((2, "Tshirts", "Boys", "Black", "Casual", "Summer"))  # kids' item
    rows.append((3, "Jeans", None, "Black", "Casual", "Summer"))  # no gender
    return rows


def arrays(rows: list[Row]) -> CatalogueArrays:
    return catalogue_arrays(rows, load_category_map())


def distinct_per_row(chosen: np.ndarray) -> bool:
    return all(len(set(r[r >= 0].tolist())) == int((r >= 0).sum()) for r in chosen)


# --- rules --------------------------------------------------------------------------------------------------------


def test_colour_table_is_symmetric_with_free_neutrals() -> None:
    table = rules.colour_table()
    families = rules.FAMILIES
    assert table.shape == (len(families), len(families))
    np.testing.assert_array_equal(table, table.T)
    neutral = families.index(rules.NEUTRAL)
    assert (table[neutral] == 1.0).all()
    assert (table[:, neutral] == 1.0).all()
    for i, family in enumerate(families):
        assert table[i, i] == (1.0 if family == rules.NEUTRAL else 0.8)
    assert ((table > 0) & (table <= 1)).all()

    def w(a: str, b: str) -> float:
        return float(table[families.index(a), families.index(b)])

    assert w("red", "pink") == w("pink", "red") == 0.05
    assert w("pink", "green") == 0.15
    assert w("blue", "orange") == w("orange", "blue") == 0.5
    assert w("multi", "red") == 0.2
    assert w("red", "blue") == 0.3  # an unlisted pair of colours
    assert w("multi", "multi") == 0.8


def test_usage_and_season_tables_are_symmetric() -> None:
    usage = rules.usage_table()
    np.testing.assert_array_equal(usage, usage.T)
    assert (np.diag(usage) == 1.0).all()
    u = rules.USAGES.index
    assert usage[u("Formal"), u("Sports")] == 0.02
    assert usage[u("Casual"), u("Travel")] == 0.8
    assert usage[u("Party"), u("Sports")] == 0.05
    assert usage[u("Ethnic"), u("Smart Casual")] == 0.15
    season = rules.season_table()
    np.testing.assert_array_equal(season, season.T)
    assert (np.diag(season) == 1.0).all()
    s = rules.SEASONS.index
    assert season[s("Summer"), s("Winter")] == 0.2
    assert season[s("Winter"), s("Fall")] == 1.0
    assert season[s("Fall"), s("Spring")] == 0.6


def test_codes_and_pair_weights() -> None:
    assert rules.colour_family("Navy Blue") == rules.NEUTRAL
    assert rules.colour_family("Maroon") == "red"
    assert rules.colour_family("Fluorescent Green") == "green"
    assert rules.colour_family("Unobtainium") == rules.NEUTRAL
    assert rules.colour_family(None) == rules.NEUTRAL
    assert rules.usage_code("Formal") == rules.USAGES.index("Formal")
    assert rules.usage_code("Home") == rules.usage_code(None) == 0
    assert rules.season_code("Winter") == 3
    assert rules.season_code(None) == rules.season_code("Monsoon") == 0
    tables = (rules.colour_table(), rules.usage_table(), rules.season_table())
    fam, use, sea = rules.FAMILIES.index, rules.USAGES.index, rules.SEASONS.index
    a = (np.array([fam("red"), fam(rules.NEUTRAL)]), np.array([use("Casual")] * 2), np.array([sea("Summer")] * 2))
    b = (np.array([fam("pink"), fam("green")]), np.array([use("Formal"), use("Casual")]),
         np.array([sea("Winter"), sea("Spring")]))  # fmt: skip
    np.testing.assert_allclose(rules.pair_weight(tables, a, b), [0.05 * 0.15 * 0.2, 1.0])


# --- composer -----------------------------------------------------------------------------------------------------


def test_catalogue_arrays_keep_only_mapped_adult_or_unisex_items() -> None:
    rows = hand_rows()
    cat = arrays(rows)
    assert len(cat) == 300
    assert cat.item_ids.tolist() == [r[0] for r in rows[:300]]
    slot_of = load_category_map().slot_of
    assert [SLOT_ORDER[s] for s in cat.slot] == [slot_of[r[1]] for r in rows[:300]]
    assert [GENDERS[g] for g in cat.gender] == [r[2] for r in rows[:300]]
    assert [cat.colour_names[c] for c in cat.colour] == [r[3] or "" for r in rows[:300]]
    assert [rules.USAGES[u] for u in cat.usage] == [r[4] if r[4] else "Casual" for r in rows[:300]]
    assert cat.article_names == tuple(sorted({r[1] for r in rows[:300]}))
    women = cat.gender_mask("Women")
    assert women.tolist() == [r[2] in ("Women", "Unisex") for r in rows[:300]]
    with pytest.raises(InvalidInputError, match="no catalogue item"):
        arrays(rows[300:])


def test_template_matrix_orders_slots_and_pads() -> None:
    m = template_matrix([("bottom", "shoes", "top"), ("all-body", "shoes"), ("accessory", "accessory", "top")])
    s = SLOT_ORDER.index
    assert m.tolist() == [
        [s("top"), s("bottom"), s("shoes")],
        [s("all-body"), s("shoes"), -1],
        [s("top"), s("accessory"), s("accessory")],
    ]


def test_compose_is_deterministic_and_fills_each_slot_with_distinct_items() -> None:
    cat = arrays(hand_rows())
    rng = np.random.default_rng(5)
    templates = [TEMPLATES[int(i)] for i in rng.integers(0, len(TEMPLATES), size=200)]
    weights = np.random.default_rng(6).random(len(cat))
    composer = Composer(cat)
    first = composer.compose(np.random.default_rng(0), templates, weights)
    second = composer.compose(np.random.default_rng(0), templates, weights)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, composer.compose(np.random.default_rng(1), templates, weights))
    slots = template_matrix(templates)
    assert first.shape == slots.shape == (200, 4)
    np.testing.assert_array_equal(first >= 0, slots >= 0)  # every slot filled, padding left empty
    filled = first >= 0
    np.testing.assert_array_equal(cat.slot[first[filled]], slots[filled])
    assert distinct_per_row(first)


def test_items_of_weight_zero_are_never_chosen() -> None:
    cat = arrays(hand_rows())
    templates = TEMPLATES * 100
    weights = np.where(np.random.default_rng(1).random(len(cat)) < 0.5, 0.0, 1.0)
    weights[cat.slot == SLOT_ORDER.index("bag")] = 0.0  # no bag has weight: the bag slot stays empty
    chosen = Composer(cat).compose(np.random.default_rng(0), templates, weights)
    used = chosen[chosen >= 0]
    assert (weights[used] > 0).all()
    bag_column = template_matrix(templates) == SLOT_ORDER.index("bag")
    assert bag_column.any()
    assert (chosen[bag_column] == -1).all()
    others = (template_matrix(templates) >= 0) & ~bag_column
    assert (chosen[others] >= 0).all()


def test_an_outfit_never_repeats_an_item_even_from_a_one_item_pool() -> None:
    rows: list[Row] = [(1, "Tshirts", "Men", "Black", "Casual", "Summer"),
                       (2, "Belts", "Men", "Black", "Casual", "Summer")]  # fmt: skip
    cat = arrays(rows)
    chosen = Composer(cat).compose(np.random.default_rng(0), [("accessory", "accessory", "top")] * 5, np.ones(2))
    assert distinct_per_row(chosen), chosen.tolist()


def _bottom_share(rows: list[Row], favoured: int, sharpness: float = 2.0, n: int = 1000) -> float:
    """Share of ``n`` top + bottom outfits whose bottom is item id ``favoured``."""
    cat = arrays(rows)
    chosen = Composer(cat, sharpness=sharpness).compose(np.random.default_rng(0), [("bottom", "top")] * n,
                                                        np.ones(len(cat)))  # fmt: skip
    assert (cat.item_ids[chosen[:, 0]] == rows[0][0]).all()  # the only top anchors every outfit
    return float((cat.item_ids[chosen[:, 1]] == favoured).mean())


@pytest.mark.parametrize(
    ("top", "bad", "good"),
    [
        # colour: red with pink clashes (0.05), black is neutral (1.0)
        (("Tshirts", "Red", "Casual", "Summer"), ("Jeans", "Pink", "Casual", "Summer"),
         ("Jeans", "Black", "Casual", "Summer")),
        # usage: Formal with Sports 0.02, with Formal 1.0
        (("Shirts", "White", "Formal", "Summer"), ("Track Pants", "Black", "Sports", "Summer"),
         ("Trousers", "Black", "Formal", "Summer")),
        # season: Summer with Winter 0.2, with Spring 1.0
        (("Tshirts", "White", "Casual", "Summer"), ("Jeans", "Black", "Casual", "Winter"),
         ("Jeans", "Black", "Casual", "Spring")),
    ],
    ids=["colour", "usage", "season"],
)  # fmt: skip
def test_rules_favour_the_compatible_bottom(top: tuple[str, ...], bad: tuple[str, ...], good: tuple[str, ...]) -> None:
    rows: list[Row] = [(1, top[0], "Men", *top[1:]), (2, bad[0], "Men", *bad[1:]), (3, good[0], "Men", *good[1:])]
    assert _bottom_share(rows, favoured=3) > 0.9
    # Without the rules (sharpness 0), the two bottoms are equally likely.
    assert 0.45 < _bottom_share(rows, favoured=3, sharpness=0.0) < 0.55


# --- users --------------------------------------------------------------------------------------------------------


def _gendered_rows(counts: dict[tuple[str, str], int]) -> list[Row]:
    """``counts[(gender, article_type)]`` neutral casual summer items each."""
    rows: list[Row] = []
    for (gender, article), n in counts.items():
        rows += [(len(rows) + k + 1, article, gender, "Black", "Casual", "Summer") for k in range(n)]
    return rows


DIST = TemplateDistribution(
    (
        ("bottom", "shoes", "top"),
        ("all-body", "shoes"),
        ("all-body", "bag", "shoes"),
        ("bag", "bottom", "shoes", "top"),
    ),
    (5, 3, 2, 1),
)


def test_templates_for_drop_compositions_a_gender_cannot_fill() -> None:
    cat = arrays(_gendered_rows({
        ("Men", "Tshirts"): 20, ("Men", "Jeans"): 20, ("Men", "Casual Shoes"): 20, ("Unisex", "Handbags"): 20,
        ("Women", "Dresses"): 20, ("Women", "Heels"): 20, ("Women", "Tops"): MIN_SLOT_ITEMS - 1,
        ("Women", "Skirts"): 20,
    }))  # fmt: skip
    men = templates_for("Men", cat, DIST)  # no men's all-body piece
    assert men.compositions == (("bottom", "shoes", "top"), ("bag", "bottom", "shoes", "top"))
    assert men.counts == (5, 1)
    assert men.probabilities == (5 / 6, 1 / 6)
    women = templates_for("Women", cat, DIST)  # 19 women's tops: one short of a usable slot
    assert women.compositions == (("all-body", "shoes"), ("all-body", "bag", "shoes"))
    assert women.counts == (3, 2)
    only_men = arrays(_gendered_rows({("Men", "Tshirts"): 30, ("Men", "Jeans"): 30}))
    with pytest.raises(InvalidInputError, match="cannot fill any outfit template for Women"):
        templates_for("Women", only_men, DIST)


def test_unseen_items_hold_out_a_fraction_of_every_slot() -> None:
    cat = arrays(hand_rows())
    params = SimulationParams(seed=3, users=5, newcomer_users=1, unseen_item_fraction=0.15)
    held = unseen_items(cat, params)
    for slot in range(len(SLOT_ORDER)):
        members = cat.slot == slot
        assert held[members].sum() == round(members.sum() * 0.15)
    np.testing.assert_array_equal(held, unseen_items(cat, params))
    assert not np.array_equal(held, unseen_items(cat, SimulationParams(seed=4, users=5, newcomer_users=1)))


def test_simulate_user_depends_only_on_seed_and_index() -> None:
    cat = arrays(hand_rows(600))
    per_gender = {g: templates_for(g, cat, DIST) for g in ("Men", "Women")}
    params = SimulationParams(seed=2, users=10, train_outfits=20, test_outfits=6, newcomer_users=3, valid_fraction=0.25)
    held = unseen_items(cat, params)
    user = simulate_user(8, cat, per_gender, params, held)
    assert user.newcomer and not simulate_user(6, cat, per_gender, params, held).newcomer
    assert user.parts == ["train"] * 15 + ["valid"] * 5 + ["test"] * 6
    assert user.outfits.shape[0] == 26
    assert not held[user.outfits[:20][user.outfits[:20] >= 0]].any()  # training and validation: no unseen item
    genders = cat.gender[user.outfits[user.outfits >= 0]]
    assert set(GENDERS[g] for g in genders) <= {user.taste.gender, "Unisex"}
    assert distinct_per_row(user.outfits)
    for row, template in zip(user.outfits, user.templates, strict=True):
        assert tuple(sorted(SLOT_ORDER[cat.slot[i]] for i in row if i >= 0)) == template
    more_users = SimulationParams(seed=2, users=50, train_outfits=20, test_outfits=6, newcomer_users=3,
                                  valid_fraction=0.25)  # fmt: skip
    again = simulate_user(8, cat, per_gender, more_users, held)
    np.testing.assert_array_equal(again.outfits, user.outfits)
    assert again.taste.summary(cat) == user.taste.summary(cat)


def test_simulation_params_are_checked() -> None:
    with pytest.raises(InvalidInputError, match="newcomer_users"):
        SimulationParams(users=5, newcomer_users=5)
    with pytest.raises(InvalidInputError, match="valid_fraction"):
        SimulationParams(valid_fraction=1.0)
    with pytest.raises(InvalidInputError, match="users and train_outfits"):
        SimulationParams(train_outfits=0)
    with pytest.raises(InvalidInputError, match="test_outfits and seed >= 0"):
        SimulationParams(seed=-1)  # was numpy's "expected non-negative integer" once the simulation began


# --- PostgreSQL -----------------------------------------------------------------------------------------------------


SMALL = {"users": 12, "train_outfits": 20, "test_outfits": 5, "newcomer_users": 2}


def import_catalogue(session: Session) -> CatalogueArrays:
    import_myntra(require(MYNTRA), session=session, limit=8000)
    return load_catalogue(session=session, category_map=load_category_map())


def dataset_id(session: Session, name: str) -> int:
    found = session.scalar(select(Dataset.id).where(Dataset.name == name))
    assert found is not None
    return found


def outfit_slots(session: Session, name: str) -> list[tuple[str, str, int, int]]:
    """(user, outfit, slot, item id) of a dataset's outfits in order, external ids without the dataset prefix."""
    stmt = (
        select(User.external_id, Outfit.external_id, OutfitItem.slot, OutfitItem.item_id)
        .join(Outfit, Outfit.owner_user_id == User.id)
        .join(OutfitItem, OutfitItem.outfit_id == Outfit.id)
        .where(Outfit.dataset_id == dataset_id(session, name))
        .order_by(Outfit.external_id, OutfitItem.slot)
    )
    cut = len(name) + 1
    return [(u[cut:], o[cut:], slot, item) for u, o, slot, item in session.execute(stmt)]


def user_attributes(session: Session, name: str) -> list[tuple[str, dict[str, Any]]]:
    stmt = select(User.external_id, User.attributes).where(User.dataset_id == dataset_id(session, name))
    return [(u[len(name) + 1 :], a) for u, a in session.execute(stmt.order_by(User.external_id))]


def test_simulation_is_deterministic_for_a_seed(session: Session) -> None:
    catalogue = import_catalogue(session)
    templates = load_templates()
    a = simulate_users(session=session, name="det-a", catalogue=catalogue, templates=templates,
                       params=SimulationParams(seed=7, **SMALL))  # fmt: skip
    b = simulate_users(session=session, name="det-b", catalogue=catalogue, templates=templates,
                       params=SimulationParams(seed=7, **SMALL))  # fmt: skip
    c = simulate_users(session=session, name="det-c", catalogue=catalogue, templates=templates,
                       params=SimulationParams(seed=8, **SMALL))  # fmt: skip
    rows_a, rows_b, rows_c = (outfit_slots(session, n) for n in ("det-a", "det-b", "det-c"))
    assert (a.users, a.outfits) == (c.users, c.outfits) == (12, 12 * 25)
    assert len(rows_a) == a.slots
    assert rows_a == rows_b
    assert rows_a != rows_c
    assert (a.slots, a.interactions) == (b.slots, b.interactions)
    assert {o for _, o, _, _ in rows_a} == {f"o{n:06d}" for n in range(300)}
    assert [u for u, _ in user_attributes(session, "det-a")] == [f"u{i:05d}" for i in range(12)]
    assert user_attributes(session, "det-a") == user_attributes(session, "det-b")
    assert user_attributes(session, "det-a") != user_attributes(session, "det-c")
    attrs = dict(user_attributes(session, "det-a"))
    assert set(attrs["u00000"]) == {"gender", "strength", "colours", "usages", "article_types", "newcomer"}
    assert [attrs[f"u{i:05d}"]["newcomer"] for i in range(12)] == [False] * 10 + [True] * 2
    # The 8,000-row catalogue has no men's all-body or jewellery piece: men's outfits use neither.
    men = {u for u, at in attrs.items() if at["gender"] == "Men"}
    assert men
    slot_names = {int(i): SLOT_ORDER[s] for i, s in zip(catalogue.item_ids, catalogue.slot, strict=True)}
    men_slots = {slot_names[item] for u, _, _, item in rows_a if u in men}
    assert "all-body" not in men_slots and "jewellery" not in men_slots
    men_templates = templates_for("Men", catalogue, templates)
    assert all("all-body" not in c for c in men_templates.compositions)
    assert any("all-body" in c for c in templates.compositions)


def test_users_and_outfits_can_be_simulated_on_the_fallback_catalogue(session: Session) -> None:
    # Fashion-MNIST is the main job's catalogue where ../shared is absent: its classes and its missing gender
    # must reach the composer, or the job stops at "outfits and users".
    import_fashion_mnist(require(FASHION_MNIST), session=session, splits=("t10k",), limit=2000)
    catalogue = load_catalogue(session=session, category_map=load_category_map())
    assert len(catalogue) == 2000  # every class maps onto a slot
    slots = {SLOT_ORDER[s] for s in catalogue.slot}
    assert slots == {"top", "bottom", "all-body", "outerwear", "shoes", "bag"}

    summary = simulate_users(session=session, name="fmnist", catalogue=catalogue, templates=load_templates(),
                             params=SimulationParams(seed=1, **SMALL))  # fmt: skip
    assert (summary.users, summary.outfits) == (12, 12 * 25)
    rows = outfit_slots(session, "fmnist")
    genders = {at["gender"] for _, at in user_attributes(session, "fmnist")}
    assert genders == {"Men", "Women"}  # unisex items dress both
    slot_of = {int(i): SLOT_ORDER[s] for i, s in zip(catalogue.item_ids, catalogue.slot, strict=True)}
    assert {"top", "bottom"} <= {slot_of[item] for *_, item in rows}


def test_splits_interactions_and_dataset_row(session: Session) -> None:
    catalogue = import_catalogue(session)
    templates = load_templates()
    params = SimulationParams(seed=1, users=12, train_outfits=25, test_outfits=5, newcomer_users=2, valid_fraction=0.1)
    summary = simulate_users(session=session, name="splits", catalogue=catalogue, templates=templates, params=params)
    ds = summary.dataset_id
    n_valid = round(params.train_outfits * params.valid_fraction)
    assert n_valid == 2  # round(2.5) rounds half to even

    def q(sql: str) -> list[Any]:
        return list(session.execute(text(sql), {"ds": ds}).all())

    # Every outfit has exactly one part in the "outfits" split, and nothing else is in it.
    per_outfit = q("""SELECT o.id, count(sa.entity_id) FROM outfits o LEFT JOIN split_assignments sa
                      ON sa.dataset_id = :ds AND sa.split = 'outfits' AND sa.entity = 'outfit' AND sa.entity_id = o.id
                      WHERE o.dataset_id = :ds GROUP BY o.id""")  # fmt: skip
    assert len(per_outfit) == summary.outfits == 12 * 30
    assert {n for _, n in per_outfit} == {1}
    assert q("SELECT count(*) FROM split_assignments WHERE dataset_id = :ds AND split = 'outfits'")[0][0] == 360
    # Per user: 23 train, 2 valid, 5 test.
    per_user = q("""SELECT o.owner_user_id, sa.part, count(*) FROM outfits o JOIN split_assignments sa
                    ON sa.dataset_id = :ds AND sa.split = 'outfits' AND sa.entity_id = o.id
                    WHERE o.dataset_id = :ds GROUP BY 1, 2""")  # fmt: skip
    counts: dict[int, dict[str, int]] = {}
    for user, part, n in per_user:
        counts.setdefault(user, {})[part] = n
    assert len(counts) == 12
    assert all(c == {"train": 23, "valid": 2, "test": 5} for c in counts.values()), counts
    # The users split: the last two users are the newcomers.
    users = q("""SELECT u.external_id, sa.part, (u.attributes->>'newcomer')::boolean FROM users u
                 JOIN split_assignments sa ON sa.dataset_id = :ds AND sa.split = 'users' AND sa.entity = 'user'
                 AND sa.entity_id = u.id WHERE u.dataset_id = :ds ORDER BY u.external_id""")  # fmt: skip
    assert [p for _, p, _ in users] == ["train"] * 10 + ["test"] * 2
    assert [n for _, _, n in users] == [False] * 10 + [True] * 2
    # The items split covers the catalogue; its test part is 15% of each slot, never worn in train or valid.
    items_stmt = select(SplitAssignment.entity_id, SplitAssignment.part).where(
        SplitAssignment.dataset_id == ds, SplitAssignment.split == "items", SplitAssignment.entity == "item"
    )
    items = dict(session.execute(items_stmt).all())
    assert sorted(items) == sorted(catalogue.item_ids.tolist())
    held = unseen_items(catalogue, params)
    assert sorted(i for i, p in items.items() if p == "test") == sorted(catalogue.item_ids[held].tolist())
    by_part = dict(q("""SELECT os.part, count(*) FROM outfit_items oi
                        JOIN split_assignments os ON os.dataset_id = :ds AND os.split = 'outfits'
                             AND os.entity_id = oi.outfit_id
                        JOIN split_assignments si ON si.dataset_id = :ds AND si.split = 'items'
                             AND si.entity_id = oi.item_id AND si.part = 'test'
                        GROUP BY os.part"""))  # fmt: skip
    assert by_part.get("train", 0) == 0 and by_part.get("valid", 0) == 0
    assert by_part["test"] > 0
    # Interactions are exactly the items of training outfits, one per slot, kind "outfit".
    train_items = q("""SELECT o.owner_user_id, oi.item_id FROM outfit_items oi JOIN outfits o ON o.id = oi.outfit_id
                       JOIN split_assignments sa ON sa.dataset_id = :ds AND sa.split = 'outfits'
                            AND sa.entity_id = o.id AND sa.part = 'train' WHERE o.dataset_id = :ds""")  # fmt: skip
    interactions = session.execute(
        select(Interaction.user_id, Interaction.item_id, Interaction.kind).join(User, User.id == Interaction.user_id)
        .where(User.dataset_id == ds)
    ).all()  # fmt: skip
    assert len(interactions) == len(train_items) == summary.interactions
    assert Counter((u, i) for u, i, _ in interactions) == Counter(tuple(r) for r in train_items)
    assert {k for _, _, k in interactions} == {"outfit"}
    all_items = q("SELECT count(*) FROM outfit_items oi JOIN outfits o ON o.id = oi.outfit_id WHERE o.dataset_id = :ds")
    assert all_items[0][0] == summary.slots > summary.interactions
    # The dataset row holds everything needed to rebuild it.
    row = session.get(Dataset, ds)
    assert row is not None
    session.refresh(row)
    assert (row.name, row.kind, row.seed) == ("splits", "simulated-users", 1)
    assert row.params == json.loads(json.dumps({**params.as_dict(), "templates": templates.to_json()}))
    assert row.params["strength"] == [0.5, 1.5]
    assert TemplateDistribution.from_json(row.params["templates"]) == templates
    assert {k: row.stats[k] for k in ("users", "outfits", "slots", "interactions")} == {
        "users": 12, "outfits": 360, "slots": summary.slots, "interactions": summary.interactions}  # fmt: skip
    sources = session.scalars(select(Outfit.source).where(Outfit.dataset_id == ds).distinct()).all()
    assert sources == ["simulated"]


def test_rebuilding_a_dataset_needs_replace_and_leaves_no_orphans(session: Session) -> None:
    catalogue = import_catalogue(session)
    templates = load_templates()
    first = simulate_users(session=session, name="rebuild", catalogue=catalogue, templates=templates,
                           params=SimulationParams(seed=1, **SMALL))  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"dataset 'rebuild' exists \(built with seed 1\)"):
        simulate_users(session=session, name="rebuild", catalogue=catalogue, templates=templates,
                       params=SimulationParams(seed=2, **SMALL))  # fmt: skip
    second = simulate_users(session=session, name="rebuild", catalogue=catalogue, templates=templates,
                            params=SimulationParams(seed=2, **SMALL), replace=True)  # fmt: skip
    session.expire_all()
    assert second.dataset_id != first.dataset_id
    assert session.scalars(select(Dataset.seed).where(Dataset.name == "rebuild")).all() == [2]

    def count(model: Any, *where: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    # This test's transaction holds only the rebuilt dataset: nothing of the first build survives.
    assert count(Dataset) == 1
    assert count(User) == count(User, User.dataset_id == second.dataset_id) == 12
    assert count(Outfit) == count(Outfit, Outfit.dataset_id == second.dataset_id) == 12 * 25
    assert count(Outfit, Outfit.owner_user_id.is_(None)) == 0
    assert count(OutfitItem) == second.slots
    assert count(Interaction) == second.interactions
    assert count(SplitAssignment, SplitAssignment.dataset_id == first.dataset_id) == 0
    assert count(SplitAssignment) == 12 * 25 + 12 + len(catalogue)


def test_stylist_outfits_have_no_owner(session: Session) -> None:
    catalogue = import_catalogue(session)
    templates = load_templates()
    summary = build_stylist_outfits(session=session, name="stylist", catalogue=catalogue, templates=templates,
                                    n_outfits=80, seed=3)  # fmt: skip
    assert (summary.users, summary.outfits, summary.interactions) == (0, 80, 0)
    outfits = session.execute(
        select(Outfit.id, Outfit.owner_user_id, Outfit.source, Outfit.external_id)
        .where(Outfit.dataset_id == summary.dataset_id).order_by(Outfit.id)
    ).all()  # fmt: skip
    assert len(outfits) == 80
    assert {owner for _, owner, _, _ in outfits} == {None}
    assert {source for _, _, source, _ in outfits} == {"stylist"}
    assert [e for _, _, _, e in outfits] == [f"stylist:o{n:06d}" for n in range(80)]
    slots = session.execute(
        select(OutfitItem.outfit_id, OutfitItem.item_id).join(Outfit, Outfit.id == OutfitItem.outfit_id)
        .where(Outfit.dataset_id == summary.dataset_id).order_by(OutfitItem.outfit_id, OutfitItem.slot)
    ).all()  # fmt: skip
    assert len(slots) == summary.slots
    index = {int(i): n for n, i in enumerate(catalogue.item_ids)}
    by_outfit: dict[int, list[int]] = {}
    for outfit_id, item_id in slots:
        by_outfit.setdefault(outfit_id, []).append(index[item_id])
    assert len(by_outfit) == 80
    kinds = set(templates.compositions)
    for items in by_outfit.values():
        assert len(set(items)) == len(items)
        assert tuple(sorted(SLOT_ORDER[catalogue.slot[i]] for i in items)) in kinds
        genders = {GENDERS[catalogue.gender[i]] for i in items} - {"Unisex"}
        assert len(genders) <= 1  # one outfit, one gender (plus unisex pieces)
    row = session.get(Dataset, summary.dataset_id)
    assert row is not None
    assert (row.kind, row.seed, row.params["n_outfits"]) == ("stylist-outfits", 3, 80)
    again = build_stylist_outfits(session=session, name="stylist-2", catalogue=catalogue, templates=templates,
                                  n_outfits=80, seed=3)  # fmt: skip
    items_again = session.execute(
        select(OutfitItem.item_id).join(Outfit, Outfit.id == OutfitItem.outfit_id)
        .where(Outfit.dataset_id == again.dataset_id).order_by(OutfitItem.outfit_id, OutfitItem.slot)
    ).scalars().all()  # fmt: skip
    assert items_again == [item for _, item in slots]
    for n_outfits, seed in ((0, 3), (-1, 3), (80, -1)):  # were NaN statistics PostgreSQL refused, numpy errors
        with pytest.raises(InvalidInputError, match="n_outfits must be >= 1 and seed >= 0"):
            build_stylist_outfits(session=session, name="stylist-bad", catalogue=catalogue, templates=templates,
                                  n_outfits=n_outfits, seed=seed)  # fmt: skip
    assert session.scalar(select(Dataset.id).where(Dataset.name == "stylist-bad")) is None
    for name in ("a/b", "../up", ""):  # a dataset's name is part of the checkpoint files trained on it
        with pytest.raises(InvalidInputError, match=re.escape(f"dataset name {name!r} must be 1 to 64")):
            build_stylist_outfits(session=session, name=name, catalogue=catalogue, templates=templates, n_outfits=5)
