"""Design-and-retrieve: latency against exhaustive scoring (Myntra and a 1M-item category) and its quality.

Rebuilds the default dataset in a scratch database (as ``compat_eval``: seed 0, the dataset the shipped checkpoints
were trained on), embeds its catalogue with the retrieval embedder (``--embedder``) and with the designer's own
encoder F (``--designer``: the latents of the personalised re-rank), builds the per-category ``CatalogueIndex``,
then in one run:

1. Latency, Myntra bottoms: one ``DesignRetriever.recommend`` call end to end (F(x_q), 4 designs (``--oversample``
   draws more and keeps the best 4 by s(u, q, design)), embedding them, per-category FAISS search with the query
   excluded, de-dup, personalised re-rank, two feedback rounds from the best items found (``--feedback-rounds``),
   k=10) against ``DesignRetriever.exhaustive`` (every bottom scored by s(u, q, c), top 10), the two interleaved
   call by call, over held-out (user, query) test questions after a warm-up: p50, p99, speedup = exhaustive p50 /
   recommend p50.
2. The same on a synthetic category of 1,000,000 items: seeded unit vectors of the retrieval embedder's
   dimension (the Gaussian mixture of ``_synthetic.py``) in the index ``choose_factory`` picks (IVF), random
   F-latents (the real catalogue's per-dimension mean and spread, float32) for the re-rank; the real designer
   and embedder make the designs from the real queries.
3. Quality on a seeded sample of the test questions of the joint users (the users with a trained θu; query =
   top, true item = bottom; 2,000, ``--quick`` 200): Recall@10 of the true bottom among every catalogue bottom,
   the query excluded, for design-and-retrieve, exhaustive scoring (and their ratio), visual similarity (the
   embedder's nearest bottoms to the query's own vector) and implicit ALS (``fit_cf``, the baselines'
   settings); what each step adds (the retriever with design selection and feedback switched on and off); what the
   designs add: the same retrieval started from 4 random bottoms, or from the query's 4 nearest bottoms, instead
   of the designs (``recall10_random``, ``recall10_query_look``); 5-candidate retrieval
   accuracy of the designs (true bottom + 4 random bottoms; the candidate most similar to any design is picked;
   chance 0.2). See ``recengine/evaluation/design_retrieval.py``.

Threads: torch's and FAISS's defaults (printed), unless ``--threads`` sets both.

    .venv/bin/python -m benchmarks.recommend_bench [--designer checkpoints/designer-default-full.pt]
        [--embedder checkpoints/embedder-catalogue.pt] [--catalogue ../shared/data/myntra] [--quick] [--threads N]

``--quick`` (100k synthetic items, 50 latency calls, 200 questions) only checks that everything runs.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import torch
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from benchmarks._common import IMAGE_CACHE, build_default_dataset, describe_database, scratch_database
from benchmarks._synthetic import clustered_vectors
from recengine.compatibility.scoring import embed_images
from recengine.compatibility.train import joint_user_rows
from recengine.datasets.image_cache import load_image_cache
from recengine.datasets.outfits.composer import SLOT_ORDER
from recengine.designer.train import load_designer
from recengine.embedding.catalogue import served_items
from recengine.embedding.embedder import CatalogueEmbedder, EncoderEmbedder, ImageEmbedder
from recengine.evaluation.baselines import fit_cf
from recengine.evaluation.design_retrieval import (
    DesignQuestions,
    ItemVectors,
    acc5_candidates,
    evaluate_design_retrieval,
    scorer_hits,
    visual_hits,
)
from recengine.evaluation.protocol import Questions, build_questions
from recengine.evaluation.protocol_data import ProtocolData, load_protocol_data
from recengine.index import CatalogueIndex
from recengine.index.factory import default_nprobe
from recengine.nets.designer import Designer
from recengine.preferences.cf import CFConfig
from recengine.recommend.design_retrieve import (
    DEFAULT_FEEDBACK_ROUNDS,
    DEFAULT_OVERSAMPLE,
    DEFAULT_PER_DESIGN,
    CatalogueLatents,
    DesignRetriever,
)
from recengine.training.checkpoints import load_checkpoint

K = 10
N_DESIGNS = 4
PER_DESIGN = DEFAULT_PER_DESIGN  # neighbours each design (and each feedback item) fetches
WARMUP = 10
CATEGORY = "bottom"
CACHE = IMAGE_CACHE
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Sizes:
    synthetic: int
    latency_calls: int
    questions: int


FULL = Sizes(synthetic=1_000_000, latency_calls=200, questions=2000)
QUICK = Sizes(synthetic=100_000, latency_calls=50, questions=200)


@dataclass(frozen=True)
class Latency:
    label: str
    items: int
    index: str
    recommend_ms: NDArray[np.float64]
    exhaustive_ms: NDArray[np.float64]
    stages_ms: dict[str, float]  # median of each recommend stage

    def p(self, which: str, q: float) -> float:
        return float(np.percentile(self.recommend_ms if which == "recommend" else self.exhaustive_ms, q))

    @property
    def speedup(self) -> float:
        return self.p("exhaustive", 50) / self.p("recommend", 50)


class Clock:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, what: str) -> None:
        print(f"[{time.perf_counter() - self.start:6.0f} s] {what}", flush=True)


def check_users(path: Path, data: ProtocolData, rows: IntArray) -> None:
    """θu rows are addressed by position: the designer must have been trained on this dataset's joint users."""
    saved = load_checkpoint(path, family="designer")["extra"].get("user_external_ids")
    expected = [data.user_external[i] for i in np.flatnonzero(rows >= 0)]
    if saved is not None and list(saved) != expected:
        raise SystemExit(f"{path} was trained on other users than this dataset's {len(expected)} joint users")


def design_questions(data: ProtocolData, q: Questions, picks: IntArray, images: NDArray[np.uint8],
                     designer: Designer, rows: IntArray) -> DesignQuestions:  # fmt: skip
    theta = designer.compatibility.theta
    thetas = None if theta is None else theta.weight.detach()[torch.as_tensor(rows[q.users[picks]])]
    return DesignQuestions(data.item_ids[q.queries[picks]], np.ascontiguousarray(images[q.queries[picks]]),
                           data.item_ids[q.targets[picks]], thetas)  # fmt: skip


def partition_label(index: CatalogueIndex) -> str:
    """The category's factory and, for an IVF, the nprobe ``build_partition`` set (its default)."""
    factory = index.partitions()[CATEGORY][0]
    ivf = re.match(r"IVF(\d+),", factory)
    return factory if ivf is None else f"{factory} nprobe={default_nprobe(int(ivf.group(1)))}"


def measure_latency(label: str, retriever: DesignRetriever, questions: DesignQuestions, index: str) -> Latency:
    """Interleaved recommend / exhaustive calls on the same (user, query), after ``WARMUP`` calls of each."""
    seeds = np.random.default_rng(7).integers(0, 2**31 - 1, len(questions))
    recommend_ms, exhaustive_ms, stages = [], [], []
    for i in range(-WARMUP, len(questions)):
        j = i % len(questions)
        theta = None if questions.thetas is None else questions.thetas[j]
        query, exclude = questions.query_images[j], [int(questions.queries[j])]
        start = time.perf_counter()
        found = retriever.recommend(query=query, theta=theta, category=CATEGORY, k=K, n_designs=N_DESIGNS,
                                    exclude=exclude, seed=int(seeds[j]))  # fmt: skip
        middle = time.perf_counter()
        retriever.exhaustive(query=query, theta=theta, category=CATEGORY, k=K, exclude=exclude)
        end = time.perf_counter()
        if i >= 0:
            recommend_ms.append((middle - start) * 1000)
            exhaustive_ms.append((end - middle) * 1000)
            stages.append(found.timings_ms)
    medians = {name: float(np.median([s[name] for s in stages])) for name in stages[0]}
    items = int(np.count_nonzero(retriever.latents.categories == CATEGORY))
    return Latency(label, items, index, np.asarray(recommend_ms), np.asarray(exhaustive_ms), medians)


def synthetic_retriever(n: int, designer: Designer, embedder: ImageEmbedder, z: torch.Tensor,
                        clock: Callable[[str], None],
                        like: DesignRetriever) -> tuple[DesignRetriever, str]:  # fmt: skip
    vectors = clustered_vectors(n, embedder.dim)
    ids = np.arange(n, dtype=np.int64)
    start = time.perf_counter()
    index = CatalogueIndex.build(ids, vectors, [CATEGORY] * n, embedder_version=embedder.version)
    clock(f"synthetic index of {n} x {embedder.dim}: {partition_label(index)}, built in "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    mean, std = z.mean(dim=0), z.std(dim=0)
    latents = torch.randn(n, z.shape[1], generator=generator, dtype=torch.float32).mul_(std).add_(mean)
    categories = np.full(n, CATEGORY)
    retriever = DesignRetriever(designer, embedder, index, CatalogueLatents(ids, latents, categories, vectors),
                                per_design=like.per_design, oversample=like.oversample,
                                feedback_rounds=like.feedback_rounds)  # fmt: skip
    return retriever, partition_label(index)


def step_variants(oversample: int, rounds: int) -> list[tuple[int, int]]:
    """The retriever's two steps on and off, (oversample, feedback rounds), the measured configuration left out:
    the seed's procedure, design selection alone, feedback alone, both."""
    selection = max(oversample, 2)
    feedback = max(rounds, 1)
    variants = [(1, 0), (selection, 0), (1, feedback), (selection, feedback)]
    return [v for i, v in enumerate(variants) if v != (oversample, rounds) and v not in variants[:i]]


def describe_steps(oversample: int, rounds: int) -> str:
    designs = (f"{N_DESIGNS} designs drawn" if oversample == 1
               else f"best {N_DESIGNS} of {N_DESIGNS * oversample} designs")  # fmt: skip
    seed = " (the seed's procedure)" if (oversample, rounds) == (1, 0) else ""
    return f"{designs}, {rounds or 'no'} feedback round{'' if rounds == 1 else 's'}{seed}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designer", type=Path, default=Path("checkpoints/designer-default-full.pt"))
    parser.add_argument("--embedder", type=Path, default=Path("checkpoints/embedder-catalogue.pt"))
    parser.add_argument("--catalogue", type=Path, default=Path("../shared/data/myntra"))
    parser.add_argument("--quick", action="store_true", help="small sizes, to check that it runs (not the targets)")
    parser.add_argument("--threads", type=int, default=0, help="torch and FAISS threads (0: their defaults)")
    parser.add_argument("--oversample", type=int, default=DEFAULT_OVERSAMPLE,
                        help="designs drawn per design kept (the compatibility model keeps the best)")  # fmt: skip
    parser.add_argument("--feedback-rounds", type=int, default=DEFAULT_FEEDBACK_ROUNDS,
                        help="searches from the best real items found")  # fmt: skip
    parser.add_argument(
        "--embed-with",
        choices=("catalogue", "f"),
        default="catalogue",
        help="embed designs and items with the catalogue network (default) or the designer's F",
    )
    args = parser.parse_args()
    for path, how in ((args.designer, "recengine train designer"), (args.embedder, "recengine train embedder")):
        if not path.exists():
            raise SystemExit(f"{path} does not exist: train one with `{how}` and pass it")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)
    sizes = QUICK if args.quick else FULL
    clock = Clock()
    print(f"cpus={os.cpu_count()} torch_threads={torch.get_num_threads()} faiss_threads={faiss.omp_get_max_threads()}"
          f" database={describe_database()} designer={args.designer} embedder={args.embedder} "
          f"{'QUICK (sizes are not the targets)' if args.quick else 'full'}")  # fmt: skip

    with scratch_database() as engine:
        build_default_dataset(engine, args.catalogue)
        clock("default dataset built")
        with Session(engine) as session:
            data = load_protocol_data(session=session, dataset="default")
            served = served_items(session=session)
            images = load_image_cache(session=session, item_ids=data.item_ids, size=64, cache_dir=CACHE)
    served_bottoms = served.ids[np.asarray(served.categories) == CATEGORY]
    categories = np.asarray(SLOT_ORDER)[data.item_slot]
    ids = data.item_ids
    if not np.array_equal(np.sort(served_bottoms), ids[categories == CATEGORY]):
        mine = ids[categories == CATEGORY]
        extra = len(np.setdiff1d(served_bottoms, mine))
        print(f"NOTE: the index holds the protocol's items in the protocol's slots ({len(mine)} bottoms, those "
              f"Recall@10 ranks); `served_items` would serve {len(served_bottoms)} bottoms, {extra} of them outside "
              "the protocol's catalogue")  # fmt: skip

    rows = joint_user_rows(data)
    check_users(args.designer, data, rows)
    designer = load_designer(args.designer)
    embedder: ImageEmbedder = CatalogueEmbedder.from_checkpoint(args.embedder)
    if args.embed_with == "f":  # the designer's own encoder F: designs and items compared in F's space
        embedder = EncoderEmbedder(model=designer.compatibility, version="compatibility:designer-f")
    with torch.no_grad():
        vectors = embedder.embed(images)
        z = embed_images(designer.compatibility, images)
    clock(f"embedded {len(ids)} catalogue items ({embedder.version}, {embedder.dim}-d) and their F latents")
    index = CatalogueIndex.build(ids, vectors, list(categories), embedder_version=embedder.version)
    retriever = DesignRetriever(designer, embedder, index, CatalogueLatents(ids, z, categories, vectors),
                                per_design=PER_DESIGN, oversample=args.oversample,
                                feedback_rounds=args.feedback_rounds)  # fmt: skip
    item_vectors = ItemVectors(ids, vectors)

    questions = build_questions(data, part="test", seed=0)
    joint = np.flatnonzero(rows[questions.users] >= 0)
    rng = np.random.default_rng(0)
    picks = np.sort(rng.choice(joint, size=min(sizes.questions, len(joint)), replace=False))
    timing_picks = rng.choice(joint, size=min(sizes.latency_calls, len(joint)), replace=False)
    timed_questions = design_questions(data, questions, timing_picks, images, designer, rows)

    real = measure_latency("Myntra bottoms", retriever, timed_questions, partition_label(index))
    clock(f"latency on the Myntra bottoms: {len(timed_questions)} calls")

    eval_questions = design_questions(data, questions, picks, images, designer, rows)
    bottoms = ids[categories == CATEGORY]
    candidates = acc5_candidates(eval_questions.targets, bottoms, fitb=ids[questions.fitb[picks]], seed=0)
    result = evaluate_design_retrieval(retriever, eval_questions, item_vectors, candidates, category=CATEGORY, k=K,
                                       n_designs=N_DESIGNS, seed=0, references=True)  # fmt: skip
    steps: dict[str, float] = {}
    for oversample, rounds in step_variants(args.oversample, args.feedback_rounds):
        label = describe_steps(oversample, rounds)
        retriever.oversample, retriever.feedback_rounds = oversample, rounds
        steps[label] = evaluate_design_retrieval(retriever, eval_questions, item_vectors, candidates,
                                                 category=CATEGORY, k=K, n_designs=N_DESIGNS, seed=0,
                                                 exhaustive=False).recall  # fmt: skip
    retriever.oversample, retriever.feedback_rounds = args.oversample, args.feedback_rounds
    visual = visual_hits(index, item_vectors, eval_questions.queries, eval_questions.targets, category=CATEGORY, k=K)
    clock(f"design-and-retrieve, exhaustive and visual similarity on {len(picks)} test questions")
    als = fit_cf(data, CFConfig(model="als", seed=0, threads=args.threads))
    als_hits = scorer_hits(als, questions.users[picks], questions.queries[picks], questions.targets[picks],
                           data.slot_items(data.target_slot), k=K, seed=0)  # fmt: skip
    clock("implicit ALS fitted and ranked")
    del images

    synthetic, label = synthetic_retriever(sizes.synthetic, designer, embedder, z, clock, retriever)
    big = measure_latency(f"synthetic {sizes.synthetic // 1000}k", synthetic, timed_questions, label)
    clock(f"latency on the synthetic category: {len(timed_questions)} calls")
    del synthetic

    threads = f"torch threads={torch.get_num_threads()}, faiss threads={faiss.omp_get_max_threads()}"
    print(f"\nlatency of one call (ms), k={K}, {N_DESIGNS} designs, {threads}, {len(timed_questions)} calls after "
          f"{WARMUP} warm-up")  # fmt: skip
    print("| category | items | index | recommend p50 | p99 | exhaustive p50 | p99 | speedup (p50) |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for lat in (real, big):
        print(f"| {lat.label} | {lat.items} | {lat.index} | {lat.p('recommend', 50):.1f} | "
              f"{lat.p('recommend', 99):.1f} | {lat.p('exhaustive', 50):.1f} | {lat.p('exhaustive', 99):.1f} | "
              f"{lat.speedup:.1f} |")  # fmt: skip
    for lat in (real, big):
        stages = ", ".join(f"{name} {ms:.2f}" for name, ms in lat.stages_ms.items())
        print(f"recommend stages, median ms ({lat.label}): {stages}")

    recall, exhaustive_recall = result.recall, result.exhaustive_recall
    ratio = recall / exhaustive_recall if exhaustive_recall > 0 else float("nan")
    print(f"\nquality on {len(picks)} held-out test questions of joint users (query top -> true bottom among "
          f"{len(bottoms)} bottoms, query excluded), k={K}, {N_DESIGNS} designs")  # fmt: skip
    print("| method | recall@10 |\n|---|---:|")
    for name, value in (("design-and-retrieve", recall), ("exhaustive personalised scoring", exhaustive_recall),
                        ("visual similarity to the query", float(visual.mean())),
                        (f"the same retrieval from {N_DESIGNS} random bottoms", result.random_recall),
                        (f"the same retrieval from the query's {N_DESIGNS} look-alikes", result.query_look_recall),
                        ("implicit ALS (64 f, 15 it)", float(als_hits.mean())),
                        ("chance", K / len(bottoms))):  # fmt: skip
        print(f"| {name} | {value:.4f} |")
    found = result.candidates if result.candidates is not None else np.zeros(1)
    print(f"recall10_ratio (design-and-retrieve / exhaustive) = {ratio:.3f}: "
          f"{describe_steps(args.oversample, args.feedback_rounds)}, {PER_DESIGN} neighbours each "
          f"({np.mean(found):.0f} distinct candidates per call on average)")  # fmt: skip
    print("the steps switched on and off (recall@10, ratio to exhaustive):")
    for label, value in steps.items():
        share = value / exhaustive_recall if exhaustive_recall > 0 else float("nan")
        print(f"  {label}: {value:.4f}, {share:.3f}")
    acc5 = result.retrieval_acc5
    print(f"retrieval accuracy, 5 candidates (true bottom + 4 random bottoms; chance 0.2) = {acc5:.4f}")
    print(f"total {time.perf_counter() - clock.start:.0f} s")
    print(
        f"RESULT p50_ms={real.p('recommend', 50):.1f} p99_ms={real.p('recommend', 99):.1f} "
        f"exhaustive_p50_ms={real.p('exhaustive', 50):.1f} speedup_real={real.speedup:.2f} "
        f"p50_ms_1m={big.p('recommend', 50):.1f} exhaustive_p50_ms_1m={big.p('exhaustive', 50):.1f} "
        f"speedup_1m={big.speedup:.2f} recall10={recall:.4f} recall10_exhaustive={exhaustive_recall:.4f} "
        f"recall10_ratio={ratio:.3f} retrieval_acc5={acc5:.4f} "
        f"recall10_visual={float(visual.mean()):.4f} recall10_als={float(als_hits.mean()):.4f} "
        f"recall10_random={result.random_recall:.4f} recall10_query_look={result.query_look_recall:.4f}"
    )


if __name__ == "__main__":
    main()
