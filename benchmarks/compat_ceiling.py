"""What limits the compatibility model's Recall@10 on the simulated users: seeing the garments, or the model?

Rebuilds the default dataset in a scratch database (as ``compat_eval``) and, on the test questions of the 700
joint users (Recall@10 of the true bottom among every catalogue bottom, personalised FITB):

1. the simulation oracle (``recengine/evaluation/oracle.py``: the simulator's true tastes and stylist rules, a
   reference that reads the hidden truth), and its taste part alone;
2. implicit ALS (the baselines' settings);
3. the seed's model — F's fully connected layers, M and θu, Eq. 10 with the Eq. 6/7 negatives of the
   shipped recipe (``CompatibilityRecipe``; ``--negatives in-batch-even`` for the mix used before issue 4's
   last round: the batch's bottoms as Eq. 6 negatives too, the user's own bottoms included, Eq. 6 and 7
   weighted equally) — trained for ``--steps`` on fixed per-item inputs in place of F's convolutional stack:
   * ``attributes``: each item's true catalogue labels, one-hot (colour, article type, usage, season, gender):
     what the simulated tastes and rules are made of, i.e. perfect perception;
   * ``photos``: the catalogue network's conv features of the item's photo (F's warm start), frozen, pooled to
     2×2 (the layout the recorded results used; the shipped F reads a 4×4 map);
   * ``photos_memory``: ``photos`` plus a learned vector per item added to F's output (zero at the start and for
     items nobody trained on): VBPR's item factor (He & McAuley, AAAI 2016), i.e. the per-item memory that ALS
     has and an image encoder lacks. Not the seed's model: a measurement of what such memory is worth here.

The gap between ``attributes`` and ``photos`` is what reading those labels from 64×64 pixels costs
(``benchmarks/label_perception.py`` measures how well they can be read); the gap between ``attributes`` and ALS
is the model's own; ``photos_memory`` says how much of the photo gap is the labels' per-item noise, which only
memory of each item's wearers can recover. The models' Recall@10 varies from run to run by a few hundredths
(threads, steps: ``benchmarks/RESULTS.md``); 4,000 steps per model keep the whole run within 15 minutes.

    .venv/bin/python -m benchmarks.compat_ceiling [--steps 4000] [--threads 2] [--variants attributes,photos]
                                                  [--negatives default|in-batch-even]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from sqlalchemy.orm import Session
from torch import nn

from benchmarks._common import IMAGE_CACHE, build_default_dataset, scratch_database
from recengine.compatibility.scoring import CompatibilityScorer
from recengine.compatibility.train import joint_user_rows
from recengine.compatibility.warm_start import warm_start
from recengine.datasets.image_cache import load_image_cache
from recengine.datasets.outfits import CatalogueArrays, SimulationParams
from recengine.evaluation.baselines import UserHistoryScorer, fit_cf
from recengine.evaluation.oracle import SimulationOracle
from recengine.evaluation.protocol import Questions, build_questions, evaluate
from recengine.evaluation.protocol_data import ProtocolData, load_protocol_data
from recengine.nets.compatibility import CompatibilityConfig, CompatibilityModel
from recengine.preferences.cf import CFConfig, ImplicitCF
from recengine.training.compatibility_recipe import CompatibilityRecipe, NegativeMix, conv_outputs
from recengine.training.trainer import TrainConfig, Trainer

#: The layout this benchmark's recorded results were measured with: the conv stack pooled after its last block,
#: (64, 2, 2) = 256 values (the shipped F keeps a 4×4 map, ``final_pool=False``: docs/decisions.md; its wider
#: head would take the run past the 15-minute budget). Every fixed input is that wide, flattened.
BASE = CompatibilityConfig(final_pool=True)
INPUT_WIDTH = BASE.conv_output_size
VARIANTS = ("attributes", "photos", "photos_memory", "als_factors")
#: Run when --variants is not given (all but ``als_factors`` fit the 15-minute budget together).
DEFAULT_VARIANTS = VARIANTS[:3]
MIXES = {"default": NegativeMix(), "in-batch-even": NegativeMix.in_batch_even()}


class ItemMemoryModel(CompatibilityModel):
    """The seed's model plus a learned vector per item added to F's output (``photos_memory``)."""

    def __init__(self, config: CompatibilityConfig, n_items: int) -> None:
        super().__init__(config)
        self.item_memory = nn.Embedding(n_items, config.z_dim)
        nn.init.zeros_(self.item_memory.weight)

    def remember(self, z: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """F's output ``z`` of ``items`` (every item when None) plus their memory vectors."""
        memory = self.item_memory.weight if items is None else self.item_memory(items)
        return z + memory


class FixedInputRecipe(CompatibilityRecipe):
    """The recipe with each item's fixed input (and its mirror image's) in place of its pixels."""

    def __init__(self, inputs: tuple[torch.Tensor, torch.Tensor], *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.inputs = inputs

    def _encode(self, items: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
        plain, mirrored = self.inputs
        z: torch.Tensor = self.model.encoder(torch.where(flip[:, None], mirrored[items], plain[items]))
        return self.model.remember(z, items) if isinstance(self.model, ItemMemoryModel) else z

    def evaluate(self) -> dict[str, float]:
        return {}


def padded_inputs(columns: NDArray[np.float32], what: str) -> torch.Tensor:
    """(I, C) per-item columns, zero-padded to F's input width."""
    if columns.shape[1] > INPUT_WIDTH:
        raise SystemExit(f"{columns.shape[1]} {what} columns do not fit F's {INPUT_WIDTH} inputs")
    padded = np.zeros((len(columns), INPUT_WIDTH), dtype=np.float32)
    padded[:, : columns.shape[1]] = columns
    return torch.from_numpy(padded)


def attribute_inputs(catalogue: CatalogueArrays) -> torch.Tensor:
    codes = (catalogue.colour, catalogue.article, catalogue.usage, catalogue.season, catalogue.gender)
    onehot = np.concatenate([np.eye(int(c.max()) + 1, dtype=np.float32)[c] for c in codes], axis=1)
    return padded_inputs(onehot, "attribute")


def als_factor_inputs(cf: ImplicitCF) -> torch.Tensor:
    """ALS's item factors, each dimension scaled to unit variance over the items someone wore, zero-padded to
    F's input width (items nobody wore keep ALS's all-zero factors)."""
    factors = cf.item_factors.astype(np.float32)
    worn = np.abs(factors).sum(1) > 0
    return padded_inputs(factors / factors[worn].std(0, ddof=1), "ALS factor")


def rewear_rate(data: ProtocolData, questions: Questions) -> float:
    """Share of ``questions`` whose true bottom the asking user wore in one of their training outfits."""
    worn = data.interaction_matrix().tocsr()
    # Copies: scipy's fancy indexing refuses the protocol's read-only index arrays.
    return float((np.asarray(worn[np.array(questions.users), np.array(questions.targets)]).ravel() > 0).mean())


def photo_inputs(embedder: Path, images: NDArray[np.uint8]) -> tuple[torch.Tensor, torch.Tensor]:
    model = CompatibilityModel(BASE)
    warm_start(model, f"embedder:{embedder}", default_embedder=None)  # F's warm start; only its conv stack is used
    return conv_outputs(model.encoder.features, images)


def train_on_inputs(inputs: tuple[torch.Tensor, torch.Tensor], data: ProtocolData, images: NDArray[np.uint8],
                    rows: NDArray[np.int64], args: argparse.Namespace,
                    memory: bool = False) -> CompatibilityScorer:  # fmt: skip
    """Train on ``inputs`` with the shipped recipe's settings; the trained model's scorer."""
    torch.manual_seed(0)
    config = dataclasses.replace(BASE, n_users=int((rows >= 0).sum()))
    model = ItemMemoryModel(config, len(data.item_ids)) if memory else CompatibilityModel(config)
    model.encoder.features = nn.Sequential()  # identity: the fixed inputs are what the conv stack would give
    recipe = FixedInputRecipe(inputs, model, data, images, rows, seed=0, user_lr=args.user_lr,
                              random_negatives=args.random_negatives, negatives=MIXES[args.negatives])  # fmt: skip
    train = TrainConfig(steps=args.steps, batch_size=64, lr=args.lr, eval_every=args.steps, threads=args.threads)
    Trainer(recipe, train).fit()
    model.eval()
    with torch.no_grad():
        z: torch.Tensor = model.encoder(inputs[0])
        z = model.remember(z) if isinstance(model, ItemMemoryModel) else z
    return CompatibilityScorer(model, z, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path, default=Path("../shared/data/myntra"))
    parser.add_argument("--embedder", type=Path, default=Path("checkpoints/embedder-catalogue.pt"))
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=2)
    # The shipped recipe's settings (checkpoints/README.md).
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--user-lr", type=float, default=5e-2)
    parser.add_argument("--random-negatives", type=int, default=512)
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help=f"Some of {', '.join(VARIANTS)}.")
    parser.add_argument("--negatives", choices=tuple(MIXES), default="default", help="The recipe's NegativeMix.")
    args = parser.parse_args()
    variants = args.variants.split(",")
    if not variants or set(variants) - set(VARIANTS):
        raise SystemExit(f"--variants: choose from {', '.join(VARIANTS)}")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    with scratch_database() as engine:
        built = build_default_dataset(engine, args.catalogue)
        with Session(engine) as session:
            data = load_protocol_data(session=session, dataset="default")
            images = load_image_cache(session=session, item_ids=data.item_ids, size=64, cache_dir=IMAGE_CACHE)
    if not np.array_equal(built.catalogue.item_ids, data.item_ids):
        raise SystemExit("the protocol's items are not the simulated catalogue's")
    rows = joint_user_rows(data)
    questions = build_questions(data, part="test", seed=0)
    keep = rows[questions.users] >= 0
    joint = Questions(**{n: getattr(questions, n)[keep] for n in questions.__dataclass_fields__})
    print(f"[{time.perf_counter() - start:.0f} s] dataset built; {len(joint)} test questions of joint users")

    results: dict[str, dict[str, float]] = {}
    params = SimulationParams(users=len(data.user_ids))
    oracle = SimulationOracle.fit(built.catalogue, params, len(data.user_ids))
    results["oracle"] = evaluate(oracle, data, joint)
    results["oracle_taste"] = evaluate(dataclasses.replace(oracle, parts="taste"), data, joint)
    als = fit_cf(data, CFConfig(model="als"))
    results["als"] = evaluate(als, data, joint)
    results["user_history"] = evaluate(UserHistoryScorer.fit(data), data, joint)
    rewear = rewear_rate(data, joint)
    print(f"[{time.perf_counter() - start:.0f} s] oracle and ALS evaluated")
    flat = attribute_inputs(built.catalogue)
    photos = photo_inputs(args.embedder, images) if {"photos", "photos_memory"} & set(variants) else None
    fixed = {"attributes": (flat, flat)}
    if "als_factors" in variants:
        factors = als_factor_inputs(als)
        fixed["als_factors"] = (factors, factors)
    for name in variants:
        inputs = fixed.get(name, photos)
        assert inputs is not None
        scorer = train_on_inputs(inputs, data, images, rows, args, memory=name == "photos_memory")
        results[name] = evaluate(scorer, data, joint)
        print(f"[{time.perf_counter() - start:.0f} s] model on {name} trained ({args.steps} steps) and evaluated")

    print("| metric | " + " | ".join(results) + " |")
    print("|---|" + "---:|" * len(results))
    for metric in ("fitb", "pfitb", "recall10", "map10", "recall10_unseen"):
        print(f"| {metric} | " + " | ".join(f"{r[metric]:.4f}" for r in results.values()) + " |")
    print(f"total {time.perf_counter() - start:.0f} s")
    figures = {f"recall10_{name}": r["recall10"] for name, r in results.items()}
    figures |= {f"pfitb_{name}": results[name]["pfitb"] for name in variants}
    figures["rewear"] = rewear
    print("RESULT " + " ".join(f"{k}={v:.4f}" for k, v in figures.items()) + f" steps={args.steps} "
          f"negatives={args.negatives}")  # fmt: skip


if __name__ == "__main__":
    main()
