"""The inpainting seed's Ablation 2: layers until the mask is fully valid, PConv vs DPConv (issue #8).

    .venv/bin/python -m benchmarks.inpainting_ablation [--n-masks 12000] [--size 256] [--device auto]

Draws ``n-masks`` free-form stroke masks, equally many in each 10 % range of hole ratio from 0 to 60 %, runs
them through 20 stacked 1-channel PartialConv2d layers of each kind, prints mean ± std layers per range and per
seed bucket (b0/b1/b2), writes the bar chart to docs/images/ablation2-layers.png, and ends with a RESULT line.
Reference (the seed): DPConv fully valid 2.1 layers earlier on average (~15 % fewer layers).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from recengine.devices import resolve_device
from recengine.inpainting.ablation import SEED_BINS, dpconv_stack, pconv_stack, run_ablation
from recengine.inpainting.metrics import by_bucket
from recengine.inpainting.plots import save_ablation_plot

PLOT = Path(__file__).resolve().parents[1] / "docs" / "images" / "ablation2-layers.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-masks", type=int, default=12_000)
    parser.add_argument("--size", type=int, default=256, help="square mask side (the seed: 256)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", type=Path, default=PLOT)
    parser.add_argument("--dilations", default="2,4,8,16", help="DPConv dilations after the first four layers")
    args = parser.parse_args()
    device = resolve_device(args.device)
    start = time.perf_counter()
    result = run_ablation(
        n_masks=args.n_masks,
        size=(args.size, args.size),
        seed=args.seed,
        batch_size=args.batch_size,
        device=device,
        stacks={"pconv": pconv_stack(), "dpconv": dpconv_stack(dilations=[int(d) for d in args.dilations.split(",")])},
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(f"{args.n_masks} masks of {args.size}x{args.size} on {device} in {seconds:.1f} s, dilations {args.dilations}")
    print(f"{'range':>8} {'n':>5} " + " ".join(f"{name:>16}" for name in result.fills))
    tables = [by_bucket(f.layers, result.ratios, SEED_BINS) for f in result.fills.values()]
    per_bucket = result.summary()
    rows = [(b.name, [t[b.name] for t in tables]) for b in SEED_BINS]
    rows += [(name, [per_bucket[stack][name] for stack in result.fills]) for name in per_bucket["pconv"]]
    for name, stats in rows:
        cells = " ".join(f"{s.mean:>9.2f} ± {s.std:4.2f}" for s in stats)
        print(f"{name:>8} {stats[0].count:>5} {cells}")
    means = {name: float(f.layers.mean()) for name, f in result.fills.items()}
    capped = {name: float((~f.filled).mean()) for name, f in result.fills.items()}
    overall = (f"{k} {v:.2f} layers ({100 * capped[k]:.1f} % hit the cap)" for k, v in means.items())
    print("all masks: " + ", ".join(overall))
    gap = means["pconv"] - means["dpconv"]
    print(f"DPConv fully valid {gap:.2f} layers earlier ({100 * gap / means['pconv']:.1f} % fewer); seed: 2.1 (~15 %)")
    out = save_ablation_plot(result, args.plot)
    print(f"plot: {out}")
    bucket_means = " ".join(
        f"{stack}_{b}={s.mean:.2f}" for stack, stats in per_bucket.items() for b, s in stats.items()
    )
    print(
        f"RESULT n={args.n_masks} size={args.size} pconv={means['pconv']:.2f} dpconv={means['dpconv']:.2f} "
        f"gap={gap:.2f} {bucket_means} pconv_capped={capped['pconv']:.3f} seconds={seconds:.1f} "
        f"ratio_mean={np.mean(result.ratios):.3f}"
    )


if __name__ == "__main__":
    main()
