"""`recengine cache ...`: the arrays cached on disk under ``RECENGINE_DATA_DIR/cache``."""

from __future__ import annotations

from typing import Annotated

import typer

from recengine.cache_files import KEEP, prune_cache
from recengine.cli.common import console
from recengine.cli.prose import Typer
from recengine.config import Settings

app = Typer(help="Arrays cached on disk (pixels, encoder outputs, retrieval vectors).", no_args_is_help=True)


@app.command("prune")
def prune(
    keep: Annotated[int, typer.Option(help="Files kept per kind of cache, the most recently used first.",
                                      min=1)] = KEEP,
) -> None:  # fmt: skip
    """Delete the cache files no process will read again.

    That is all but the most recently used files of each kind, files of earlier versions' caches, and temp
    files of killed writers. Writers already keep their own kind to the last few files; this frees the rest at
    once, or more with a smaller --keep. A deleted file that is needed again is computed again."""
    from recengine.datasets.image_cache import image_families
    from recengine.recommend.latents import LATENTS_FAMILIES

    directory = Settings().data_dir / "cache"
    families = [*LATENTS_FAMILIES, *image_families(directory)]  # a missing folder has none
    pruned = prune_cache(directory, families, keep=keep)
    console.print(f"deleted {pruned.files:,} cache files ({pruned.bytes / 2**20:,.1f} MiB) from {directory}")
