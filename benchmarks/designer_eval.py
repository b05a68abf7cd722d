"""The personalised designer's designs on the shared protocol: seed Table 2 (ablations), Table 3 (newcomers), Fig. 7.

Rebuilds the default dataset in a scratch database (deterministic: seed 0, the dataset the designers were trained
on), loads `designer-default-{full,no-theta,label,no-fm-g}.pt` (a missing variant is skipped with a note) and
evaluates each on the same seeded sample of test pairs (user, query top, true bottom) of the joint users with
:mod:`recengine.evaluation.design_quality`:

* FID and IS on recengine's own catalogue network ("own features": ImageNet Inception is not available), with
  real-data references: the FID between two disjoint samples of real bottoms of the same size (the floor) and the
  IS of real bottoms;
* diversity (opposite mean SSIM of 4 designs per (user, query)) and across users (same query, same noise, 4
  users: opposite mean SSIM and pixel L1, Fig. 7);
* SSIM and L1 against the true bottom;
* the personalised compatibility score s(u, q, ·) of the design, the true bottom and a random bottom, judged by
  the full designer's compatibility part for every variant (and by each variant's own alongside).

Then seed Table 3: θu of the newcomers fitted with the full designer's F and M frozen (``fit_examples`` on their
training outfits, as `benchmarks.compat_eval` does), designs for their test pairs, against the joint users on a
sample of the same size. Pictures: ``<out-dir>/designs-across-users.png`` (Fig. 7) and
``<out-dir>/designs-<variant>.png``.

    .venv/bin/python -m benchmarks.designer_eval [--checkpoints checkpoints] [--pairs 2000] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks._common import default_protocol
from recengine.compatibility.train import joint_user_rows
from recengine.designer.train import VARIANTS, load_designer
from recengine.embedding.embedder import CatalogueEmbedder
from recengine.evaluation.design_quality import (
    DesignPairs,
    DesignQuality,
    Designs,
    Judge,
    catalogue_features,
    draw_designs,
    measure,
    real_reference,
    sample_pairs,
)
from recengine.evaluation.protocol_data import ProtocolData
from recengine.nets.designer import Designer
from recengine.preferences.service import build_context, fit_examples, load_compatibility_part
from recengine.training.checkpoints import load_checkpoint
from recengine.viz import Tile, save_grid

#: The judge when the full designer is missing: the compatibility model every designer started from.
FALLBACK_JUDGE = Path("checkpoints/compatibility-default-full.pt")


def load_variant(path: Path, data: ProtocolData, rows: np.ndarray) -> Designer:
    """A designer checked against this dataset's joint users (θu and label rows are addressed by position)."""
    saved = load_checkpoint(path, family="designer")["extra"].get("user_external_ids")
    expected = [data.user_external[i] for i in np.flatnonzero(rows >= 0)]
    if saved is not None and list(saved) != expected:
        raise SystemExit(f"{path} was trained on other users than this dataset's joint users")
    return load_designer(path)


def fit_newcomers(judge: Judge, data: ProtocolData, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """θu (U, z_dim) of ``users`` (data indices) from their training pairs, F and M frozen, and the seconds each
    fit took. The context's embeddings come from the judge's cache, which the designs are scored with anyway."""
    z = judge.item_z(np.arange(len(judge.images)))
    ctx = build_context(0, judge.model, data, z)
    train_users, queries, targets, _ = data.pairs("train")
    thetas = np.zeros((len(data.user_ids), judge.model.config.z_dim))
    seconds = []
    for u in users:
        mine = train_users == u
        start = time.perf_counter()
        thetas[u] = fit_examples(ctx, queries[mine], targets[mine], user_id=int(data.user_ids[u])).theta
        seconds.append(time.perf_counter() - start)
    return thetas, np.asarray(seconds)


def save_variant_grid(designs: Designs, pairs: DesignPairs, images: np.ndarray, data: ProtocolData,
                      path: Path, rows: int = 6) -> Path:  # fmt: skip
    """Query, the n designs (different noise) and the true bottom for the first ``rows`` pairs."""
    grid = [[Tile(images[pairs.queries[g]], "query"),
             *(Tile(d, f"design {k + 1}") for k, d in enumerate(designs.several[g])),
             Tile(images[pairs.targets[g]], "true")] for g in range(min(rows, len(designs.several)))]  # fmt: skip
    return save_grid(grid, path, titles=[data.user_external[pairs.users[g]] for g in range(len(grid))])


def save_across_users(designs: Designs, pairs: DesignPairs, images: np.ndarray, data: ProtocolData,
                      path: Path, rows: int = 4) -> Path:  # fmt: skip
    """Fig. 7: each row one query and its designs for different users, all from the same noise."""
    grid = [[Tile(images[pairs.queries[g]], "query"),
             *(Tile(d, data.user_external[pairs.users[p]]) for d, p in zip(designs.across[g],
                                                                           designs.across_pairs[g], strict=True))]
            for g in range(min(rows, len(designs.across)))]  # fmt: skip
    return save_grid(grid, path, titles=[f"item {data.item_ids[pairs.queries[g]]}" for g in range(len(grid))])


def fmt(value: float, digits: int = 4) -> str:
    return "nan" if math.isnan(value) else f"{value:.{digits}f}"


def print_table(results: dict[str, DesignQuality], real: dict[str, float], first: str = "variant") -> None:
    print(f"| {first} | pairs | FID own ↓ | IS own ↑ | diversity ↑ | users-diversity ↑ | users L1 ↑ | SSIM ↑ | L1 ↓ | "
          "score design | score true | score random | own judge: design / true / random |")  # fmt: skip
    print("|---|" + "---:|" * 12)
    for name, q in results.items():
        print(f"| {name} | {q.pairs} | {fmt(q.fid)} | {fmt(q.inception, 3)}±{fmt(q.inception_std, 3)} | "
              f"{fmt(q.diversity)} | {fmt(q.users_diversity)} | {fmt(q.users_l1)} | {fmt(q.ssim)} | {fmt(q.l1)} | "
              f"{fmt(q.score_design, 3)} | {fmt(q.score_true, 3)} | {fmt(q.score_random, 3)} | "
              f"{fmt(q.own_score_design, 3)} / {fmt(q.own_score_true, 3)} / "
              f"{fmt(q.own_score_random, 3)} |")  # fmt: skip
    if real:
        print(f"| real bottoms | {int(real['pairs'])} | {fmt(real['fid_floor'])} (floor) | "
              f"{fmt(real['inception'], 3)}±{fmt(real['inception_std'], 3)} | {fmt(real['diversity'])} | – | – | – | "
              f"– | – | {fmt(real['score_true'], 3)} | {fmt(real['score_random'], 3)} | – |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path, default=Path("../shared/data/myntra"))
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    parser.add_argument("--embedder", type=Path, default=Path("checkpoints/embedder-catalogue.pt"))
    parser.add_argument("--pairs", type=int, default=2000, help="test pairs per variant (and per newcomer sample)")
    parser.add_argument("--groups", type=int, default=100, help="(user, query) groups for the diversity measures")
    parser.add_argument("--quick", action="store_true", help="300 pairs, 24 groups: a smoke run")
    parser.add_argument("--out-dir", type=Path, default=Path("docs/images"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.groups = min(args.pairs, 300), min(args.groups, 24)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    paths = {v: args.checkpoints / f"designer-default-{v}.pt" for v in VARIANTS}
    for variant, path in paths.items():
        if not path.exists():
            print(f"note: {path} not found, variant {variant} skipped")
    paths = {v: p for v, p in paths.items() if p.exists()}
    if not paths:
        raise SystemExit(f"no designer checkpoints in {args.checkpoints}: train one with `recengine train designer`")

    data, images = default_protocol(args.catalogue)
    print(f"dataset built and loaded in {time.perf_counter() - started:.0f} s")
    rows = joint_user_rows(data)
    designers = {v: load_variant(p, data, rows) for v, p in paths.items()}
    if "full" in paths:
        judge_model = load_compatibility_part(paths["full"], family="designer")
    else:
        print(f"note: no full designer; scores are judged by {FALLBACK_JUDGE} (the model the designers started from)")
        judge_model = load_compatibility_part(FALLBACK_JUDGE)
    judge = Judge(judge_model, images)
    features = catalogue_features(CatalogueEmbedder.from_checkpoint(args.embedder).model)
    pairs = sample_pairs(data, rows, n=args.pairs, seed=args.seed)
    other = sample_pairs(data, rows, n=args.pairs, seed=args.seed, skip=args.pairs)
    if len(other) != len(pairs):
        raise SystemExit(f"need {2 * args.pairs} joint-user test pairs for the FID floor; lower --pairs")
    reference = real_reference(images, pairs.targets, other.targets, features, groups=args.groups)
    print(
        f"{len(pairs)} test pairs of {len(np.unique(pairs.users))} joint users, seed {args.seed}; "
        f"features: own (catalogue network {args.embedder.name}: 64-d embedding; IS: article-type head)"
    )

    results: dict[str, DesignQuality] = {}
    drawn: dict[str, Designs] = {}
    for variant, model in designers.items():
        start = time.perf_counter()
        designs = draw_designs(model, pairs, images, seed=args.seed, groups=args.groups)
        own = judge if variant == "full" else Judge(model.compatibility, images)
        results[variant] = measure(designs, pairs, images, features, judge, own)
        drawn[variant] = designs
        picture = save_variant_grid(designs, pairs, images, data, args.out_dir / f"designs-{variant}.png")
        print(f"{variant}: {time.perf_counter() - start:.1f} s, grid {picture}")
    first = "full" if "full" in drawn else next(iter(drawn))
    fig7 = save_across_users(drawn[first], pairs, images, data, args.out_dir / "designs-across-users.png")
    print(f"Fig. 7 ({first}): {fig7}")

    real = {**reference.as_dict(), "pairs": len(pairs), "score_true": next(iter(results.values())).score_true,
            "score_random": next(iter(results.values())).score_random}  # fmt: skip
    print("\nTable 2 analogue (scores: common judge = the full designer's compatibility part)")
    print_table(results, real)

    newcomer: DesignQuality | None = None
    if "full" in designers:
        start = time.perf_counter()
        sampled = sample_pairs(data, rows, n=args.pairs, seed=args.seed, newcomers=True,
                               user_thetas=np.zeros((len(data.user_ids), judge_model.config.z_dim)))  # fmt: skip
        fitted = np.unique(sampled.users)
        thetas, fit_s = fit_newcomers(judge, data, fitted)
        new_pairs = dataclasses.replace(sampled, thetas=torch.as_tensor(thetas[sampled.users], dtype=torch.float32))
        model = designers["full"]
        newcomer = measure(draw_designs(model, new_pairs, images, seed=args.seed, groups=args.groups), new_pairs,
                           images, features, judge)  # fmt: skip
        joint = results["full"]
        if len(new_pairs) != len(pairs):  # FID depends on the set size: compare at the same size
            same = pairs.take(slice(0, len(new_pairs)))
            joint = measure(draw_designs(model, same, images, seed=args.seed, groups=args.groups), same, images,
                            features, judge)  # fmt: skip
        print(f"\nTable 3 analogue: {len(fitted)} newcomers' θu fitted with the full designer's F and M frozen "
              f"(p50 {np.median(fit_s) * 1000:.0f} ms per user), {len(new_pairs)} of their test pairs; "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip
        print_table({"joint users (trained θu)": joint, "newcomers (fitted θu)": newcomer}, {}, first="users")
    else:
        print("note: no full designer, newcomer protocol skipped")

    def pick(variant: str, key: str) -> float:
        return getattr(results[variant], key) if variant in results else float("nan")

    base = next(iter(results.values()))
    values = {
        **{f"fid_{v.replace('-', '_')}": pick(v, "fid") for v in VARIANTS},
        "fid_real_floor": reference.fid_floor,
        "is_full": pick("full", "inception"),
        "diversity_full": pick("full", "diversity"),
        "users_diversity_full": pick("full", "users_diversity"),
        "score_design_full": pick("full", "score_design"),
        "score_true": base.score_true,
        "score_random": base.score_random,
        "fid_newcomers": newcomer.fid if newcomer else float("nan"),
        "score_design_newcomers": newcomer.score_design if newcomer else float("nan"),
    }
    print(f"total {time.perf_counter() - started:.0f} s")
    print("RESULT " + " ".join(f"{k}={fmt(v)}" for k, v in values.items()))


if __name__ == "__main__":
    main()
