"""`recengine index ...`: build, sync, inspect, check and query the FAISS catalogue index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table
from sqlalchemy import select

from recengine.cli.common import console, open_db, progress_bar
from recengine.cli.outputs import output_file
from recengine.cli.prose import Typer
from recengine.config import Settings
from recengine.datasets.image_cache import prepare_image
from recengine.embedding.catalogue import load_prepared
from recengine.embedding.embedder import EMBEDDERS, embedder_kind, resolve_embedder
from recengine.errors import InvalidInputError, NotFoundError
from recengine.index import IndexStore, index_path
from recengine.indexing.service import DEFAULT_NAME, build_index, check_consistency, sync_index
from recengine.inpainting.repair import store_masks
from recengine.inpainting.service import decode_photo
from recengine.names import check_name
from recengine.recommend.service import index_categories
from recengine.store.models import IndexVersion, Item
from recengine.viz import Tile, save_grid

app = Typer(help="The FAISS catalogue index (artifacts under <data dir>/indexes).", no_args_is_help=True)


def index_name(value: str) -> str:
    """Typer callback: an index name is refused when the command line is read, before any embedding."""
    try:
        check_name("index name", value)
    except InvalidInputError as exc:
        raise typer.BadParameter(str(exc)) from exc
    return value


Name = Annotated[str, typer.Option(help="Index name.", callback=index_name)]
Embedder = Annotated[str, typer.Option(help=f"One of {', '.join(EMBEDDERS)}.")]
ModelVersionOpt = Annotated[int | None, typer.Option(help="Compatibility model version of the embedder.")]
Background = Annotated[bool, typer.Option(help="Queue a job for a worker instead of running here.")]
Masks = Annotated[Path | None, typer.Option(help="Folder of <external_id>.png masks (white = hole) to keep with "
                                            "the items first: from then on every build and sync embeds those "
                                            "photos repaired (`recengine catalogue masks`).")]  # fmt: skip
InpaintModel = Annotated[str | None, typer.Option(help="Inpainting model name for --inpaint-masks; default newest.")]


def _run(full: bool, name: str, embedder: str, model_version: int | None, background: bool,
         masks: Path | None = None, inpaint_model: str | None = None) -> None:  # fmt: skip
    settings = Settings()
    with open_db() as db:
        if masks is not None:
            with db.transaction() as session:
                kept = store_masks(session=session, directory=masks, model=inpaint_model)
            console.print(f"kept {kept} masks from {masks}")
        if background:
            from workers.app import create_app
            from workers.jobs import submit_job

            params: dict[str, object] = {"name": name, "embedder": embedder, "model_version_id": model_version}
            job = submit_job(db=db, kind="index_build" if full else "index_sync", params=params, task=create_app())
            console.print(f"queued job {job.id}: `recengine jobs show {job.id}` follows it")
            return
        with db.sessions() as session:
            emb = resolve_embedder(session=session, kind=embedder, model_version_id=model_version)
        run = build_index if full else sync_index
        with progress_bar(f"indexing with {emb.version}") as progress:
            report = run(db=db, root=settings.indexes_dir, embedder=emb, name=name, progress=progress)
    console.print(f"index {name} version {report.version_name} (row {report.index_version_id}): "
                  f"{report.item_count} items; +{report.added} -{report.removed} ~{report.updated}, "
                  f"{report.embedded} embedded in {report.seconds:.1f} s")  # fmt: skip


@app.command("build")
def build(name: Name = DEFAULT_NAME, embedder: Embedder = EMBEDDERS[0], model_version: ModelVersionOpt = None,
          background: Background = False, inpaint_masks: Masks = None,
          inpaint_model: InpaintModel = None) -> None:  # fmt: skip
    """Embed every served catalogue item and publish a new index version."""
    _run(True, name, embedder, model_version, background, inpaint_masks, inpaint_model)


@app.command("sync")
def sync(name: Name = DEFAULT_NAME, embedder: Embedder = EMBEDDERS[0], model_version: ModelVersionOpt = None,
         background: Background = False, inpaint_masks: Masks = None,
         inpaint_model: InpaintModel = None) -> None:  # fmt: skip
    """Apply catalogue changes (new, changed, deactivated items) to the index as a new version."""
    _run(False, name, embedder, model_version, background, inpaint_masks, inpaint_model)


@app.command("status")
def status(name: Name = DEFAULT_NAME) -> None:
    """Index versions recorded in PostgreSQL and the one serving on disk."""
    settings = Settings()
    store = IndexStore(index_path(settings.indexes_dir, name))
    with open_db() as db, db.sessions() as session:
        rows = session.scalars(select(IndexVersion).where(IndexVersion.name == name).order_by(IndexVersion.id)).all()
    table = Table(title=f"index {name}: serving {store.current_version() or 'nothing'}")
    for col in ("row", "version", "status", "items", "factory", "embedder", "synced through"):
        table.add_column(col)
    for r in rows[-10:]:
        table.add_row(str(r.id), r.version_name or "", r.status, str(r.item_count), r.factory, r.embedder or "",
                      f"{r.synced_through:%Y-%m-%d %H:%M:%S}" if r.synced_through else "")  # fmt: skip
    console.print(table)


@app.command("check")
def check(name: Name = DEFAULT_NAME) -> None:
    """Compare the serving index with the catalogue; exit status 1 when they disagree."""
    index = IndexStore(index_path(Settings().indexes_dir, name)).load_current()
    if index is None:
        raise NotFoundError(f"index {name!r} has no version yet: run `recengine index build`")
    with open_db() as db, db.sessions() as session:
        report = check_consistency(session=session, index=index)
    console.print(f"{len(index)} indexed; missing from the index: {len(report.missing)} {report.missing[:10]}; "
                  f"extra in the index: {len(report.extra)} {report.extra[:10]}; "
                  f"category differs: {len(report.miscategorised)} {report.miscategorised[:10]}")  # fmt: skip
    if not report.ok:
        raise typer.Exit(1)


@app.command("search")
def search(
    image: Annotated[Path | None, typer.Option(help="A query photo (any format PIL reads).")] = None,
    item: Annotated[str | None, typer.Option(help="Or a catalogue item's external id as the query.")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category (outfit slot, e.g. bottom).")] = None,
    k: Annotated[int, typer.Option("-k", help="Results.")] = 10,
    nprobe: Annotated[int | None, typer.Option(help="IVF lists to probe (default: the index's).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write a picture of the query and its matches here.", callback=output_file)
    ] = None,
    name: Name = DEFAULT_NAME,
) -> None:
    """The catalogue items nearest to a photo or an item, embedded with the index's own embedder."""
    if (image is None) == (item is None):
        raise InvalidInputError("give exactly one of --image PATH or --item EXTERNAL_ID")
    index = IndexStore(index_path(Settings().indexes_dir, name)).load_current()
    if index is None:
        raise NotFoundError(f"index {name!r} has no version yet: run `recengine index build`")
    with open_db() as db, db.sessions() as session:
        row = session.scalar(select(IndexVersion).where(IndexVersion.name == name, IndexVersion.status == "ready"))
        kind = embedder_kind(index.manifest.embedder_version)
        emb = resolve_embedder(session=session, kind=kind, model_version_id=row.embedder_version_id if row else None)
        if emb.version != index.manifest.embedder_version:
            raise InvalidInputError(f"the index was built by {index.manifest.embedder_version}, which is not "
                                    f"registered here (found {emb.version}): rebuild the index")  # fmt: skip
        known = index_categories(index)
        if category is not None and category not in known:
            raise NotFoundError(f"index {name!r} has no category {category!r}; it has: {', '.join(known)}")
        if image is not None:
            if not image.is_file():
                raise NotFoundError(f"no image file {image}")
            data = image.read_bytes()
            decode_photo(data, what=str(image))  # names the file; PIL's error names a buffer
            pixels = prepare_image(data, emb.image_size)[None]
            exclude: list[int] = []
        else:
            found = session.scalar(select(Item).where(Item.external_id == item))
            if found is None or found.image_sha256 is None:
                raise NotFoundError(f"no catalogue item {item!r} with an image")
            pixels, exclude = load_prepared(session, [found.image_sha256], emb.image_size), [found.id]
        result = index.search(emb.embed(pixels), k, categories=category, exclude_ids=exclude, nprobe=nprobe)
        ids = [int(i) for i in result.ids[0] if i >= 0]
        items = {it.id: it for it in session.scalars(select(Item).where(Item.id.in_(ids)))}
        matches = load_prepared(session, [str(items[i].image_sha256) for i in ids], emb.image_size)
    table = Table(title=f"{len(ids)} nearest of {len(index)} ({category or 'all categories'})")
    for col in ("rank", "item", "score", "article type", "colour", "name"):
        table.add_column(col)
    for rank, (i, score) in enumerate(zip(ids, result.scores[0], strict=False), 1):
        it = items[i]
        table.add_row(str(rank), it.external_id, f"{score:.3f}", it.article_type or "", it.colour or "",
                      (it.name or "")[:40])  # fmt: skip
    console.print(table)
    if out is not None:
        scores = result.scores[0][: len(ids)]
        tiles = [Tile(pixels[0], "query")] + [
            Tile(np.asarray(m), f"{items[i].external_id} {s:.2f}") for m, i, s in zip(matches, ids, scores, strict=True)
        ]
        console.print(f"picture: {save_grid([tiles], out)}")
