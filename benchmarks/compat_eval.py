"""The personalised compatibility model on the shared protocol: variants, ALS, newcomers, exhaustive scoring.

Rebuilds the default dataset in a scratch database (deterministic: seed 0, so it is the dataset the shipped
checkpoints were trained on), then with the shipped checkpoints (`checkpoints/compatibility-default-*.pt`):

* the three variants of seed Table 2 (full, θu removed, discrete user label), implicit ALS, the user's own
  history (how often this user used the item: pure memory) and ALS fitted on the tops and bottoms of the
  training outfits only (``als_pairs``: the items the compatibility model trains on, where ALS proper sees
  every item of every outfit) on the test questions of the 700 joint users: FITB, AUC (Eq. 6 and Eq. 7
  negatives), personalised FITB, Recall@10, mAP@10; and the full model minus each of the others on the same
  questions with its user-clustered standard error (`recengine.evaluation.paired`), which says whether an
  ordering is larger than the draw of users and questions;
* seed Table 3: θu of the 100 newcomers fitted with F and M frozen (wall time per user), their personalised
  FITB against the joint users' (ratio);
* exhaustive scoring of every catalogue item for one (user, query): latency and items/s, next to a raw
  dot-product pass over the same embeddings (the floor of touching every item once).

    .venv/bin/python -m benchmarks.compat_eval [--checkpoints checkpoints]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks._common import default_protocol
from recengine.compatibility.scoring import CompatibilityScorer, embed_images, score_catalogue
from recengine.compatibility.train import joint_user_rows
from recengine.evaluation.baselines import UserHistoryScorer, fit_cf
from recengine.evaluation.paired import compare
from recengine.evaluation.protocol import Evaluation, Questions, build_questions, evaluate, evaluate_detailed
from recengine.evaluation.protocol_data import ProtocolData
from recengine.nets.compatibility import CompatibilityConfig, CompatibilityModel
from recengine.preferences.cf import CFConfig
from recengine.preferences.service import build_context, fit_examples, trained_negative_mix
from recengine.training.checkpoints import load_checkpoint
from recengine.training.compatibility_recipe import NegativeMix


def subset(q: Questions, keep: np.ndarray) -> Questions:
    return Questions(**{name: getattr(q, name)[keep] for name in q.__dataclass_fields__})


def load_model(path: Path, data: ProtocolData, rows: np.ndarray) -> tuple[CompatibilityModel, NegativeMix]:
    """The checkpoint's model (eval mode) and the negatives it was trained with."""
    payload = load_checkpoint(path, family="compatibility")
    model = CompatibilityModel(CompatibilityConfig.from_dict(payload["config"]))
    model.load_state_dict(payload["state_dict"])
    expected = [data.user_external[i] for i in np.flatnonzero(rows >= 0)]
    saved = payload["extra"].get("user_external_ids")
    if saved is not None and saved != expected:
        raise SystemExit(f"{path} was trained on other users than this dataset's joint users")
    return model.eval(), trained_negative_mix(payload)


def newcomers(model: CompatibilityModel, mix: NegativeMix, data: ProtocolData, z: torch.Tensor,
              rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    ctx = build_context(0, model, data, z, mix)
    users, queries, targets, _ = data.pairs("train")
    thetas = np.full((len(data.user_ids), model.config.z_dim), np.nan)
    seconds = []
    for u in np.flatnonzero(rows < 0):
        mine = users == u
        start = time.perf_counter()
        result = fit_examples(ctx, queries[mine], targets[mine], user_id=int(data.user_ids[u]))
        seconds.append(time.perf_counter() - start)
        thetas[u] = result.theta
    return thetas, np.asarray(seconds)


def exhaustive(model: CompatibilityModel, z: torch.Tensor, rng: np.random.Generator,
               n: int = 50) -> tuple[float, float]:  # fmt: skip
    times, raw = [], []
    theta_table = model.theta.weight.detach() if model.theta is not None else None
    for _ in range(n):
        q = int(rng.integers(0, len(z)))
        theta = None if theta_table is None else theta_table[int(rng.integers(0, len(theta_table)))]
        start = time.perf_counter()
        scores = score_catalogue(model, z[q], z, theta)
        torch.topk(scores, 10)
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        torch.topk(z @ (z[q] if theta is None else theta * z[q]), 10)
        raw.append(time.perf_counter() - start)
    return np.median(times), np.median(raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path, default=Path("../shared/data/myntra"))
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    data, images = default_protocol(args.catalogue)
    rows = joint_user_rows(data)
    questions = build_questions(data, part="test", seed=0)
    joint_q = subset(questions, rows[questions.users] >= 0)
    new_q = subset(questions, rows[questions.users] < 0)
    detailed: dict[str, Evaluation] = {}
    models = {}
    for variant in ("full", "no-theta", "label"):
        model, mix = load_model(args.checkpoints / f"compatibility-default-{variant}.pt", data, rows)
        z = embed_images(model, images)
        models[variant] = (model, mix, z)
        detailed[variant] = evaluate_detailed(CompatibilityScorer(model, z, rows), data, joint_q)
    detailed["als"] = evaluate_detailed(fit_cf(data, CFConfig(model="als")), data, joint_q)
    detailed["history"] = evaluate_detailed(UserHistoryScorer.fit(data), data, joint_q)
    pair_slots = (data.query_slot, data.target_slot)
    detailed["als_pairs"] = evaluate_detailed(fit_cf(data, CFConfig(model="als"), slots=pair_slots), data, joint_q)
    results = {name: e.metrics for name, e in detailed.items()}
    model, mix, z = models["full"]
    thetas, fit_s = newcomers(model, mix, data, z, rows)
    newcomer = evaluate(CompatibilityScorer(model, z, rows, thetas), data, new_q)
    exhaustive_s, raw_s = exhaustive(model, z, np.random.default_rng(0))

    metrics = ["fitb", "auc_eq6", "auc_eq7", "pfitb", "recall10", "map10"]
    print(f"joint users' test questions: {len(joint_q)}; newcomers' test questions: {len(new_q)}")
    print("| metric | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for m in metrics:
        print(f"| {m} | " + " | ".join(f"{results[v][m]:.4f}" for v in results) + " |")
    # The same questions for every scorer: paired differences, users as clusters (recengine.evaluation.paired).
    others = ("no-theta", "label", "als", "als_pairs")
    diffs = {other: compare(detailed["full"], detailed[other], joint_q.users) for other in others}
    print("full minus each, ± its user-clustered standard error:")
    print("| metric | " + " | ".join(f"full - {o}" for o in others) + " |")
    print("|---|" + "---|" * len(others))
    for m in diffs[others[0]]:  # every per-question metric, in the protocol's order
        print(f"| {m} | " + " | ".join(str(diffs[o][m]) for o in others) + " |")
    ratio = newcomer["pfitb"] / results["full"]["pfitb"]
    print(f"newcomers (θu fitted, F and M frozen): pfitb={newcomer['pfitb']:.4f} fitb={newcomer['fitb']:.4f} "
          f"recall10={newcomer['recall10']:.4f}; fit time p50={np.median(fit_s) * 1000:.0f} ms "
          f"p90={np.percentile(fit_s, 90) * 1000:.0f} ms over {len(fit_s)} users")  # fmt: skip
    print(f"exhaustive scoring of {len(z)} items: p50 {exhaustive_s * 1000:.1f} ms = {len(z) / exhaustive_s:.0f} "
          f"items/s; raw dot product p50 {raw_s * 1000:.2f} ms (M costs {exhaustive_s / raw_s:.1f}x)")  # fmt: skip
    r, d = results, diffs
    print(
        f"RESULT fitb_full={r['full']['fitb']:.4f} auc_full={r['full']['auc_eq6']:.4f} "
        f"pfitb_full={r['full']['pfitb']:.4f} pfitb_no_theta={r['no-theta']['pfitb']:.4f} "
        f"pfitb_discrete={r['label']['pfitb']:.4f} pfitb_als={r['als']['pfitb']:.4f} "
        f"recall10_full={r['full']['recall10']:.4f} recall10_als={r['als']['recall10']:.4f} "
        f"newuser_fit_s_p50={np.median(fit_s):.3f} newuser_pfitb_ratio={ratio:.3f} "
        f"exhaustive_ms_p50={exhaustive_s * 1000:.1f} recall10_als_pairs={r['als_pairs']['recall10']:.4f} "
        f"pfitb_full_minus_discrete={d['label']['pfitb'].value:.4f} "
        f"pfitb_full_minus_discrete_se={d['label']['pfitb'].se:.4f} "
        f"recall10_full_minus_als={d['als']['recall10'].value:.4f} "
        f"recall10_full_minus_als_se={d['als']['recall10'].se:.4f}"
    )


if __name__ == "__main__":
    main()
