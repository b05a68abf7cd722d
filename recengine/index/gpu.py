"""Moving partition indexes to GPUs and back; with faiss-cpu every call is a no-op or a clear error.

Saving always goes through ``to_cpu``: a GPU index cannot be serialised, and the file must load on a
CPU-only server. GPU FAISS indexes take no ``IDSelector``, so exclusions on GPU are done by fetching
``k + len(exclude)`` and dropping excluded ids (exact, never short: at most ``len(exclude)`` hits go).
"""

from __future__ import annotations

import logging

import faiss

from recengine.devices import faiss_gpu_count
from recengine.errors import ConfigurationError

logger = logging.getLogger(__name__)
#: Largest k a GPU FAISS search accepts.
GPU_MAX_K = 2048


def gpu_wanted(use_gpu: bool | None) -> bool:
    """``None`` means "if there is one"; ``True`` without a FAISS GPU is an error rather than a silent CPU run."""
    count = faiss_gpu_count()
    if use_gpu and count == 0:
        raise ConfigurationError("a GPU index was requested but FAISS sees no GPU (faiss-cpu, or no CUDA device)")
    return bool(count) and use_gpu is not False


def is_gpu_index(index: faiss.Index) -> bool:
    inner = faiss.downcast_index(index.index if isinstance(index, faiss.IndexIDMap2) else index)
    return type(inner).__name__.startswith("Gpu") or isinstance(inner, faiss.IndexShards | faiss.IndexReplicas)


def to_device(index: faiss.Index, use_gpu: bool | None) -> faiss.Index:
    """``index`` on all GPUs (sharded across them when there are several) or unchanged on CPU."""
    if not gpu_wanted(use_gpu) or is_gpu_index(index):
        return index
    logger.info("moving a %d-vector index to %d GPU(s)", index.ntotal, faiss_gpu_count())
    if faiss_gpu_count() == 1:
        resources = faiss.StandardGpuResources()
        moved = faiss.index_cpu_to_gpu(resources, 0, index)
        moved.referenced_objects = [resources]  # type: ignore[attr-defined]  # keep the resources alive as long as the index
        return moved
    options = faiss.GpuMultipleClonerOptions()
    options.shard = True
    return faiss.index_cpu_to_all_gpus(index, co=options)


def to_cpu(index: faiss.Index) -> faiss.Index:
    """A CPU copy of a GPU index (the same object when it already is on CPU)."""
    if not is_gpu_index(index):
        return index
    return faiss.index_gpu_to_cpu(index)
