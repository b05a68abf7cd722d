"""Design-quality metrics of the personalised designer (seed Table 2/3, Fig. 7) on a tiny designer and hand-made
data: the metrics' fixed points (a set against itself, designs that ignore noise or users, designs that are the
true bottoms), seeding, and newcomers' fitted θu standing in for table rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from recengine.compatibility.train import joint_user_rows
from recengine.errors import InvalidInputError
from recengine.evaluation.design_quality import (
    DesignPairs,
    Designs,
    Judge,
    draw_designs,
    measure,
    real_reference,
    sample_pairs,
    training_bottoms,
)
from recengine.evaluation.protocol_data import ProtocolData
from tests.test_compatibility import toy_data, toy_images
from tests.test_designer import designer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def features(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A tiny stand-in for the catalogue network: per-channel mean and spread, and a softmax over the means."""
    x = images.astype(np.float64) / 255.0
    mean, std = x.mean(axis=(1, 2)), x.std(axis=(1, 2))
    logits = 10.0 * mean
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.concatenate([mean, std], axis=1), probs / probs.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data() -> ProtocolData:
    return toy_data(test=6)


def joint_pairs(data: ProtocolData, n: int = 12, skip: int = 0) -> DesignPairs:
    return sample_pairs(data, joint_user_rows(data), n=n, seed=3, skip=skip)


def test_sample_is_seeded_disjoint_and_of_the_right_users(data: ProtocolData) -> None:
    rows = joint_user_rows(data)
    a, b, again = joint_pairs(data), joint_pairs(data, skip=12), joint_pairs(data)
    assert len(a) == len(b) == 12 and (a.queries == again.queries).all() and (a.randoms == again.randoms).all()
    _, queries, targets, outfits = data.pairs("test")
    where = {(int(q), int(t), int(u)) for q, t, u in zip(queries, targets, data.outfit_user[outfits], strict=True)}
    assert all((int(q), int(t), int(u)) in where for q, t, u in zip(a.queries, a.targets, a.users, strict=True))
    assert (rows[a.users] == a.rows).all() and (a.rows >= 0).all()
    assert np.isin(a.randoms, training_bottoms(data)).all() and not np.isin(a.randoms, [28, 29]).any()
    new = sample_pairs(data, rows, n=50, newcomers=True, user_thetas=np.ones((5, 8)))
    assert len(new) == 6 and (new.rows == -1).all() and new.thetas is not None and new.thetas.shape == (6, 8)
    with pytest.raises(InvalidInputError, match="fitted thetas"):
        sample_pairs(data, rows, n=5, newcomers=True)


def test_designs_equal_to_the_true_bottoms_score_like_them(data: ProtocolData) -> None:
    images, pairs = toy_images(), joint_pairs(data)
    model = designer()
    true = images[pairs.targets]
    groups = np.stack([true[:3], true[3:6]], axis=1)  # (3, 2, …): different bottoms, so diversity > 0
    designs = Designs(true, groups, groups, np.zeros((3, 2), dtype=np.int64))
    judge = Judge(model.compatibility, images)
    q = measure(designs, pairs, images, features, judge)
    assert q.fid == pytest.approx(0.0, abs=1e-5)  # a set against itself
    assert q.l1 == 0.0 and q.ssim == pytest.approx(1.0)
    assert q.score_design == pytest.approx(q.score_true, abs=1e-5) and q.own_score_design == q.score_design
    assert q.score_true != pytest.approx(q.score_random)
    assert q.diversity > 0 and q.users_l1 > 0
    ref = real_reference(images, pairs.targets, pairs.targets, features, n=2, groups=3)
    assert ref.fid_floor == pytest.approx(0.0, abs=1e-5) and ref.inception == pytest.approx(q.inception)


def test_designs_that_ignore_noise_or_users_have_no_diversity(data: ProtocolData) -> None:
    images, pairs = toy_images(), joint_pairs(data)
    model = designer()
    judge = Judge(model.compatibility, images)
    varied = measure(draw_designs(model, pairs, images, groups=4, n=3, k=3), pairs, images, features, judge)
    assert varied.diversity > 0.01 and varied.users_diversity > 0.01 and varied.users_l1 > 0
    with torch.no_grad():
        model.decoder.project.weight[:, -model.config.noise_dim :] = 0.0  # G no longer reads its noise
    deaf = draw_designs(model, pairs, images, groups=4, n=3, k=3)
    assert measure(deaf, pairs, images, features, judge).diversity == pytest.approx(0.0, abs=1e-9)
    unaware = designer("none")
    blind = draw_designs(unaware, pairs, images, groups=4, n=3, k=3)
    q = measure(blind, pairs, images, features, judge, Judge(unaware.compatibility, images))
    assert q.users_diversity == pytest.approx(0.0, abs=1e-9) and q.users_l1 == 0.0 and q.diversity > 0.01
    assert q.own_score_design != pytest.approx(q.score_design)  # two judges, two scores


def test_designs_are_seeded_and_across_users_share_the_query(data: ProtocolData) -> None:
    images, pairs = toy_images(), joint_pairs(data)
    model = designer()
    a = draw_designs(model, pairs, images, seed=1, groups=4, k=3)
    b = draw_designs(model, pairs, images, seed=1, groups=4, k=3, batch=5)  # batches do not change a design
    c = draw_designs(model, pairs, images, seed=2, groups=4, k=3)
    assert (a.one == b.one).all() and (a.across == b.across).all() and (a.several == b.several).all()
    assert (a.one != c.one).any()
    assert a.one.shape == (12, 32, 32, 3) and a.several.shape == (4, 4, 32, 32, 3) and a.across.shape[:2] == (4, 3)
    assert (a.across_pairs[:, 0] == np.arange(4)).all()
    for g, row in enumerate(a.across_pairs):
        assert len(set(pairs.users[row].tolist())) == 3 and pairs.users[row[0]] == pairs.users[g]


def test_a_fitted_theta_stands_in_for_the_table_row(data: ProtocolData) -> None:
    images, pairs = toy_images(), joint_pairs(data)
    model = designer()
    assert model.compatibility.theta is not None
    fitted = model.compatibility.theta.weight.detach()[torch.as_tensor(pairs.rows)]
    as_newcomers = dataclasses.replace(pairs, rows=np.full(len(pairs), -1), thetas=fitted)
    a = draw_designs(model, pairs, images, groups=2, k=2)
    b = draw_designs(model, as_newcomers, images, groups=2, k=2)
    assert np.abs(a.one.astype(int) - b.one.astype(int)).max() <= 1  # rounding of the same floats
    judge = Judge(model.compatibility, images)
    assert measure(a, pairs, images, features, judge).score_true == pytest.approx(
        measure(b, as_newcomers, images, features, judge).score_true, abs=1e-5
    )
    with pytest.raises(InvalidInputError, match="newcomers"):
        draw_designs(designer("label"), as_newcomers, images)
