"""How well a 64×64 product photo tells the catalogue labels that the simulated users' tastes are made of.

The simulated tastes (``recengine/datasets/outfits/users.py``) weight an item by its base colour, article type
and usage labels; an image-only model can rank items by a user's taste only as well as it can read those labels
from pixels. Measured on the items of the outfit catalogue held out from the catalogue network's training (5%,
by a hash of the id), over all of them and over the bottoms (the slot Recall@10 ranks), each label's accuracy:

* ``network``: the catalogue network's heads (F's warm start, ``checkpoints/embedder-catalogue.pt``);
* ``histogram`` (colour only): an MLP on the colour histogram of the garment's pixels (near-white background
  left out), trained on the other 95%: what the pixels' colours alone say about the colour label;
* ``majority``: the most frequent label of the training part, the floor.

    .venv/bin/python -m benchmarks.label_perception [--catalogue ../shared/data/myntra]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from sqlalchemy.orm import Session
from torch import nn

from benchmarks._common import IMAGE_CACHE, scratch_database
from recengine.datasets.image_cache import load_image_cache
from recengine.datasets.importers.myntra import import_myntra
from recengine.datasets.outfits import CatalogueArrays, load_catalogue, load_category_map
from recengine.datasets.outfits.composer import SLOT_ORDER
from recengine.datasets.outfits.rules import USAGES, usage_code
from recengine.embedding.embedder import CatalogueEmbedder
from recengine.training.embedder_recipe import held_out

IntArray = NDArray[np.int64]
BINS = 6  # per channel: 216 colour cells
BACKGROUND = 235  # a pixel whose every channel is above this is the photo's white background or padding


def network_predictions(path: Path, images: NDArray[np.uint8], catalogue: CatalogueArrays) -> dict[str, IntArray]:
    """Each head's predicted class, mapped to the catalogue's codes (-1 where the name is not one of them)."""
    embedder = CatalogueEmbedder.from_checkpoint(path)
    with torch.no_grad():
        logits = embedder.model.logits(torch.from_numpy(embedder.embed(images)))
    heads = embedder.model.config.heads
    names = {name: [heads[name][c] for c in logits[name].argmax(1).tolist()]
             for name in ("colour", "article_type", "usage")}  # fmt: skip
    colour_code = {n: i for i, n in enumerate(catalogue.colour_names)}
    article_code = {n: i for i, n in enumerate(catalogue.article_names)}
    return {
        "colour": np.array([colour_code.get(n, -1) for n in names["colour"]], dtype=np.int64),
        "article": np.array([article_code.get(n, -1) for n in names["article_type"]], dtype=np.int64),
        "usage": np.array([usage_code(n) for n in names["usage"]], dtype=np.int64),
    }


def colour_histograms(images: NDArray[np.uint8]) -> NDArray[np.float32]:
    """(N, BINS³) share of each colour cell among the garment's pixels (square-rooted: Hellinger features)."""
    pixels = images.reshape(len(images), -1, 3)
    cells = (pixels.astype(np.int64) * BINS // 256) @ np.array([BINS * BINS, BINS, 1])
    out = np.zeros((len(images), BINS**3), dtype=np.float32)
    for i in range(len(images)):
        garment = cells[i][pixels[i].min(axis=1) <= BACKGROUND]
        if len(garment):
            out[i] = np.sqrt(np.bincount(garment, minlength=BINS**3) / len(garment))
    return out


def histogram_probe(features: NDArray[np.float32], labels: IntArray, train: NDArray[np.bool_],
                    epochs: int = 300) -> IntArray:  # fmt: skip
    """Predictions of a one-hidden-layer MLP trained full-batch on the ``train`` rows."""
    torch.manual_seed(0)
    x, y = torch.from_numpy(features), torch.from_numpy(labels)
    rows = torch.from_numpy(np.flatnonzero(train))
    mlp = nn.Sequential(nn.Linear(x.shape[1], 256), nn.ReLU(), nn.Linear(256, int(labels.max()) + 1))
    optimiser = torch.optim.Adam(mlp.parameters(), lr=3e-3, weight_decay=1e-5)
    for _ in range(epochs):
        optimiser.zero_grad()
        nn.functional.cross_entropy(mlp(x[rows]), y[rows]).backward()  # type: ignore[no-untyped-call]
        optimiser.step()
    with torch.no_grad():
        predicted: IntArray = mlp(x).argmax(1).numpy()
    return predicted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path, default=Path("../shared/data/myntra"))
    parser.add_argument("--embedder", type=Path, default=Path("checkpoints/embedder-catalogue.pt"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    with scratch_database() as engine:
        with Session(engine) as session, session.begin():
            import_myntra(args.catalogue, session=session)
        with Session(engine) as session:
            catalogue = load_catalogue(session=session, category_map=load_category_map())
            images = load_image_cache(session=session, item_ids=catalogue.item_ids, size=64, cache_dir=IMAGE_CACHE)
    valid = held_out(catalogue.item_ids)
    bottoms = catalogue.slot == SLOT_ORDER.index("bottom")
    print(f"[{time.perf_counter() - start:.0f} s] {len(catalogue)} outfit items, {valid.sum()} held out "
          f"({(valid & bottoms).sum()} bottoms)")  # fmt: skip

    truth = {"colour": catalogue.colour, "article": catalogue.article, "usage": catalogue.usage}
    predictions = {f"{label}_network": p for label, p in network_predictions(args.embedder, images, catalogue).items()}
    predictions["colour_histogram"] = histogram_probe(colour_histograms(images), catalogue.colour, ~valid)
    for label, codes in truth.items():
        predictions[f"{label}_majority"] = np.full(len(codes), np.bincount(codes[~valid]).argmax())
    print(f"[{time.perf_counter() - start:.0f} s] predictions made (usages: {', '.join(USAGES)})")

    figures: dict[str, float] = {}
    print("| label, reader | all held-out items | held-out bottoms |")
    print("|---|---:|---:|")
    for name, predicted in predictions.items():
        hit = predicted == truth[name.split("_")[0]]
        figures[f"{name}_acc"] = float(hit[valid].mean())
        figures[f"{name}_acc_bottoms"] = float(hit[valid & bottoms].mean())
        print(f"| {name} | {figures[f'{name}_acc']:.3f} | {figures[f'{name}_acc_bottoms']:.3f} |")
    print(f"total {time.perf_counter() - start:.0f} s")
    print("RESULT " + " ".join(f"{k}={v:.4f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
