"""Which retrieval embedder: the catalogue image network, encoder F of the compatibility model, or pixels.

Queries: the catalogue items held out from the catalogue network's training (5%, by a hash of the id; at most
2,000, seeded), so none of the three saw a query's labels. For each, the 10 nearest other items by cosine
over the whole Myntra catalogue (exact search), and how many of them share the query's article type, base
colour, both, and outfit slot (the index category). Labels are the real Myntra labels. Also the embedding
throughput (decode from PostgreSQL + embed) of each.

    .venv/bin/python -m benchmarks.embedder_choice [--catalogue ../shared/data/myntra]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import faiss
import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from benchmarks._common import scratch_database
from recengine.datasets.importers.myntra import import_myntra
from recengine.embedding.catalogue import embed_served, served_items
from recengine.embedding.embedder import CatalogueEmbedder, EncoderEmbedder, ImageEmbedder, PixelEmbedder
from recengine.store.models import Item
from recengine.training.embedder_recipe import held_out

QUERIES = 2000
K = 10


def neighbour_agreement(vectors: NDArray[np.float32], labels: dict[str, NDArray[np.int64]],
                        queries: NDArray[np.int64]) -> dict[str, float]:  # fmt: skip
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    _, found = index.search(vectors[queries], K + 1)
    out = {}
    for name, codes in labels.items():
        hits = []
        for q, row in zip(queries, found, strict=True):
            others = [i for i in row if i != q][:K]
            hits.append(np.mean(codes[others] == codes[q]))
        out[name] = float(np.mean(hits))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path, default=Path("../shared/data/myntra"))
    parser.add_argument("--embedder", type=Path, default=Path("checkpoints/embedder-catalogue.pt"))
    parser.add_argument("--compatibility", type=Path, default=Path("checkpoints/compatibility-default-full.pt"))
    args = parser.parse_args()
    embedders: list[ImageEmbedder] = [
        CatalogueEmbedder.from_checkpoint(args.embedder),
        EncoderEmbedder.from_checkpoint(args.compatibility),
        PixelEmbedder(),
    ]
    with scratch_database() as engine, Session(engine) as session:
        with session.begin():
            import_myntra(args.catalogue, session=session)
        items = served_items(session=session)
        meta = {r.id: r for r in session.execute(select(Item.id, Item.article_type, Item.colour))}
        labels: dict[str, NDArray[np.int64]] = {}
        for name, values in (
            ("article_type", [meta[int(i)].article_type for i in items.ids]),
            ("colour", [meta[int(i)].colour for i in items.ids]),
            ("article_type+colour", [(meta[int(i)].article_type, meta[int(i)].colour) for i in items.ids]),
            ("slot", items.categories),
        ):
            codes = {v: n for n, v in enumerate(dict.fromkeys(values))}
            labels[name] = np.array([codes[v] for v in values], dtype=np.int64)
        pool = np.flatnonzero(held_out(items.ids))
        queries = np.random.default_rng(0).choice(pool, size=min(QUERIES, len(pool)), replace=False)
        results: dict[str, dict[str, float]] = {}
        for embedder in embedders:
            start = time.perf_counter()
            vectors = embed_served(session=session, items=items, embedder=embedder)
            seconds = time.perf_counter() - start
            results[embedder.version] = {**neighbour_agreement(vectors, labels, queries),
                                         "images_per_s": len(items) / seconds}  # fmt: skip
    print(f"{len(items)} catalogue items, {len(queries)} held-out queries, agreement of the {K} nearest neighbours")
    columns = [*labels, "images_per_s"]
    print(f"{'embedder':44s}" + "".join(f"{c:>22s}" for c in columns))
    for version, row in results.items():
        print(f"{version:44s}" + "".join(f"{row[c]:22.3f}" for c in columns))
    rows = {name: results[e.version] for name, e in zip(("catalogue", "f", "pixels"), embedders, strict=True)}
    print("RESULT " + " ".join(f"{name}_{label}={row[label]:.3f}" for name, row in rows.items()
                               for label in ("article_type", "colour", "slot"))
          + f" catalogue_images_per_s={rows['catalogue']['images_per_s']:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
