"""FAISS catalogue index: per-category partitions, verified versioned persistence, live swap, shards.

``CatalogueIndex`` is one index (build, add/remove/update by item id, filtered search); ``IndexStore`` keeps
its saved versions; ``IndexHandle`` serves one to many threads and swaps in rebuilt ones; ``ShardedIndex``
splits a catalogue by item id.
"""

from recengine.index.catalogue_index import CatalogueIndex, SearchResult
from recengine.index.factory import choose_factory
from recengine.index.gpu import to_cpu, to_device
from recengine.index.handle import IndexHandle, ReadWriteLock
from recengine.index.manifest import IndexIntegrityError, IndexStore, Manifest, index_path
from recengine.index.shards import ShardedIndex

__all__ = [
    "CatalogueIndex",
    "IndexHandle",
    "IndexIntegrityError",
    "IndexStore",
    "Manifest",
    "ReadWriteLock",
    "SearchResult",
    "ShardedIndex",
    "choose_factory",
    "index_path",
    "to_cpu",
    "to_device",
]
