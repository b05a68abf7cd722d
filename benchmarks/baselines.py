"""Build the default simulated dataset from the Myntra catalogue and measure the baselines on the protocol.

Steps, each timed: import the catalogue into a fresh database (embedded PostgreSQL unless
RECENGINE_DATABASE_URL is set), simulate the default 800 users (~220 training + 40 test outfits each), then
random, popularity, implicit ALS and BPR on every metric of the shared protocol. Also prints the slot
statistics of the built outfits next to the real Polyvore outfits they follow.

    .venv/bin/python benchmarks/baselines.py [--users 800] [--catalogue ../shared/data/myntra]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sqlalchemy.orm import Session

from benchmarks._common import build_default_dataset, scratch_database
from recengine.datasets.outfits.build import compositions
from recengine.datasets.outfits.templates import (
    format_comparison,
    load_polyvore_compositions,
    usable_for_recommendation,
)
from recengine.evaluation.baselines import evaluate_baselines
from recengine.evaluation.protocol_data import load_protocol_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path, default=Path("../shared/data/myntra"))
    parser.add_argument("--polyvore", type=Path, default=Path("../shared/data/polyvore-outfits-valid"))
    parser.add_argument("--users", type=int, default=800)
    args = parser.parse_args()
    with scratch_database() as engine:
        built = build_default_dataset(engine, args.catalogue, users=args.users)
        catalogue, summary, import_s, build_s = built.catalogue, built.summary, built.import_s, built.build_s
        print(f"catalogue import {import_s:.1f} s; dataset build {build_s:.1f} s: {summary}")

        with Session(engine) as session:
            data = load_protocol_data(session=session, dataset="default")
        start = time.perf_counter()
        results = evaluate_baselines(data, k=10, seed=0)
        print(f"baselines evaluated in {time.perf_counter() - start:.1f} s")

    metrics = list(results["random"])
    print("| metric | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for m in metrics:
        print(f"| {m} | " + " | ".join(f"{results[model][m]:.4f}" for model in results) + " |")
    if args.polyvore.exists():
        real = [c for c in load_polyvore_compositions(args.polyvore) if usable_for_recommendation(c)]
        made = compositions(data.outfit_items, catalogue)
        print("\nSlot statistics, real usable Polyvore outfits vs built outfits:\n")
        print(format_comparison(real, made))
    r = results
    print(
        f"RESULT fitb_random={r['random']['fitb']:.4f} fitb_popularity={r['popularity']['fitb']:.4f} "
        f"fitb_als={r['als']['fitb']:.4f} pfitb_als={r['als']['pfitb']:.4f} recall10_als={r['als']['recall10']:.4f} "
        f"fitb_bpr={r['bpr']['fitb']:.4f} build_s={build_s:.1f}"
    )


if __name__ == "__main__":
    main()
