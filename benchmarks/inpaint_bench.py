"""The seed's Table 1 on held-out Myntra garments: Telea, Navier–Stokes, PConv and DPConv in one run, by
hole-ratio bucket, plus the seed's Ablation 2 and the model's latency.

    python -m benchmarks.inpaint_bench [--images 600] [--ablation-masks 12000] [--threads 2]

* Images: the served garments (top, bottom, all-body, outerwear) of the real Myntra catalogue imported into a
  scratch database, the 5 % held out of inpainting training by a hash of the item id (the split
  ``recengine train inpainting`` uses), at the models' 64 × 64.
* Masks: one free-form stroke mask per image and bucket (b0 [0, 0.2), b1 [0.2, 0.4), b2 [0.4, 0.6]), seeded,
  each erasing part of the garment (:func:`recengine.inpainting.masks.random_stroke_mask`); every method sees
  the same masks.
* Metrics (the seed's Table 1 columns): ℓ1 % over the whole image, PSNR, SSIM, and an Inception-Score analogue
  on recengine's own catalogue network (its article-type softmax: ImageNet's Inception is not available here).
* Ablation 2: layers needed until a mask is fully valid, PConv vs DPConv stacks
  (:mod:`recengine.inpainting.ablation`), over ``--ablation-masks`` masks at 64 × 64, the models' size.
* Latency: median wall time of DPConv's ``inpaint`` on one image and on a batch of 32.

Last line: ``RESULT l1_<method>_<bucket>=.. psnr_<method>_<bucket>=.. ... layers_pconv=.. layers_dpconv=..
ms_b1=.. ms_b32=..``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from benchmarks._common import IMAGE_CACHE, scratch_database
from recengine.datasets.image_cache import load_image_cache
from recengine.datasets.importers.myntra import import_myntra
from recengine.embedding.catalogue import served_items
from recengine.embedding.embedder import CatalogueEmbedder
from recengine.evaluation.design_quality import catalogue_features
from recengine.evaluation.distribution_metrics import inception_score
from recengine.evaluation.image_metrics import psnr, ssim
from recengine.inpainting.ablation import run_ablation
from recengine.inpainting.arrays import to_model_images, to_model_masks, to_uint8_images
from recengine.inpainting.baselines import opencv_inpaint
from recengine.inpainting.masks import MASK_BUCKETS, garment_foreground, random_stroke_mask
from recengine.inpainting.metrics import l1_percent
from recengine.inpainting.train import CLOTHING, load_inpainting
from recengine.training.embedder_recipe import held_out

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT.parent / "shared" / "data" / "myntra"
CHECKPOINTS = ROOT / "checkpoints"
METHODS = ("telea", "ns", "pconv", "dpconv")
Images = NDArray[np.uint8]


def held_out_garments(catalogue: Path, limit: int) -> Images:
    """(N, 64, 64, 3) uint8: the first ``limit`` held-out garments, in item id order."""
    with scratch_database() as engine:
        with Session(engine) as session, session.begin():
            import_myntra(catalogue, session=session)
        with Session(engine) as session:
            items = served_items(session=session)
            garments = items.ids[np.array([c in CLOTHING for c in items.categories])]
            chosen = garments[held_out(garments)][:limit]
            return load_image_cache(session=session, item_ids=chosen, size=64, cache_dir=IMAGE_CACHE)


def bucket_masks(images: Images, seed: int) -> dict[str, NDArray[np.uint8]]:
    """Per bucket, one (N, 64, 64) mask per image (1 = valid), each covering part of that image's garment."""
    rng = np.random.default_rng(seed)
    out: dict[str, NDArray[np.uint8]] = {}
    for bucket in MASK_BUCKETS:
        masks = [random_stroke_mask((64, 64), bucket, rng, garment=garment_foreground(img)) for img in images]
        out[bucket.name] = np.stack(masks)
    return out


@torch.no_grad()
def fill(
    method: str, x: NDArray[np.float32], masks: NDArray[np.float32], models: dict[str, Path]
) -> NDArray[np.float32]:
    """(B, 3, 64, 64) in [-1, 1] with holes filled by ``method``."""
    if method in ("telea", "ns"):
        return opencv_inpaint(x, masks, method)  # type: ignore[arg-type]
    model = load_inpainting(models[method])
    parts = [model.inpaint(torch.from_numpy(x[s : s + 64]), torch.from_numpy(masks[s : s + 64])).numpy()
             for s in range(0, len(x), 64)]  # fmt: skip
    return np.concatenate(parts).astype(np.float32)


def latency_ms(checkpoint: Path, batch: int, repeats: int) -> float:
    model = load_inpainting(checkpoint)
    x = torch.rand(batch, 3, 64, 64) * 2 - 1
    m = torch.ones(batch, 1, 64, 64)
    m[:, :, 20:40, 16:44] = 0
    times = []
    with torch.no_grad():
        for n in range(repeats + 2):
            start = time.perf_counter()
            model.inpaint(x, m)
            if n >= 2:  # the first calls allocate
                times.append((time.perf_counter() - start) * 1000)
    return float(statistics.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=600, help="held-out garments evaluated per bucket")
    parser.add_argument("--ablation-masks", type=int, default=12_000, help="masks of Ablation 2 (the seed: 12,000)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    for method in ("pconv", "dpconv"):
        parser.add_argument(f"--{method}", type=Path, default=CHECKPOINTS / f"inpainting-default-{method}.pt")
    args = parser.parse_args()
    models = {"pconv": args.pconv, "dpconv": args.dpconv}
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    images = held_out_garments(CATALOGUE, args.images)
    print(f"{len(images)} held-out garments at 64x64 ({time.perf_counter() - start:.0f} s)", flush=True)
    masks = bucket_masks(images, args.seed)
    judge = catalogue_features(CatalogueEmbedder.from_checkpoint(CHECKPOINTS / "embedder-catalogue.pt").model)
    truth = to_model_images(images)
    result: dict[str, float] = {}
    print(f"{'method':8} {'bucket':6} {'hole':>6} {'l1 %':>7} {'PSNR':>7} {'SSIM':>7} {'IS':>6}")
    for bucket, bucket_mask in masks.items():
        m = to_model_masks(bucket_mask[:, None])
        holes = 1.0 - float(bucket_mask.mean())
        for method in METHODS:
            filled = to_uint8_images(fill(method, truth, m, models))
            l1 = float(l1_percent(filled, images).mean())
            quality = float(psnr(filled, images).mean()), float(ssim(filled, images).mean())
            inception, _ = inception_score(judge(filled)[1], splits=5)
            key = f"{method}_{bucket}"
            result |= {f"l1_{key}": l1, f"psnr_{key}": quality[0], f"ssim_{key}": quality[1], f"is_{key}": inception}
            print(f"{method:8} {bucket:6} {holes:6.3f} {l1:7.3f} {quality[0]:7.2f} {quality[1]:7.4f} {inception:6.2f}",
                  flush=True)  # fmt: skip
    real_is, _ = inception_score(judge(images)[1], splits=5)
    print(f"IS of the real images: {real_is:.2f}")

    ablation = run_ablation(n_masks=args.ablation_masks, size=(64, 64), seed=args.seed)
    for name, stats in ablation.summary().items():
        print(f"ablation 2 {name}: {stats}")
    layers = {name: float(np.mean(fill_result.layers)) for name, fill_result in ablation.fills.items()}
    result |= {"layers_pconv": layers["pconv"], "layers_dpconv": layers["dpconv"]}
    result |= {"ms_b1": latency_ms(args.dpconv, 1, 50), "ms_b32": latency_ms(args.dpconv, 32, 10)}
    print(f"latency: {result['ms_b1']:.2f} ms (1 image), {result['ms_b32']:.1f} ms (32 images); "
          f"{args.threads} threads; total {time.perf_counter() - start:.0f} s")  # fmt: skip
    keys = [k for k in result if k.startswith(("l1_", "psnr_"))] + ["layers_pconv", "layers_dpconv", "ms_b1", "ms_b32"]
    print("RESULT " + " ".join(f"{k}={result[k]:.4g}" for k in keys))


if __name__ == "__main__":
    main()
