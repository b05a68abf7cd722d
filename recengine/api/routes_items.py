"""``/v1/items``: the catalogue, one item at a time. Every change queues an index sync, so the item is found
(or no longer found) by recommendations once a worker has run it."""

from __future__ import annotations

import functools
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from pydantic import ValidationError

from recengine.api.auth import Admin, StateDep
from recengine.api.caching import not_modified
from recengine.api.errors import ApiError
from recengine.api.links import item_image_url, item_out, item_url, job_ref, request_base
from recengine.api.paths import ItemKey
from recengine.api.schemas import (
    LIST_MAX,
    Categories,
    CategoryOut,
    ErrorResponse,
    ItemChange,
    ItemCreate,
    ItemListed,
    ItemOut,
    ItemPage,
    ItemPatch,
)
from recengine.api.state import ApiState
from recengine.api.uploads import read_image
from recengine.datasets.outfits.templates import load_category_map
from recengine.embedding.catalogue import category_clause, item_category
from recengine.indexing.service import sync_job_params
from recengine.store.catalogue import list_items
from recengine.store.images import load_image
from recengine.store.items import create_item, deactivate_item, get_item, update_item
from recengine.store.models import Item

_log = logging.getLogger(__name__)
router = APIRouter(tags=["items"], responses={
    401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse},
    409: {"model": ErrorResponse}, 413: {"model": ErrorResponse}, 415: {"model": ErrorResponse},
    422: {"model": ErrorResponse}})  # fmt: skip
#: Query text: PostgreSQL text cannot hold NUL, so it is a 422 here rather than a database error.
NO_NUL = r"^[^\x00]*$"
#: Largest offset of a listing (beyond it PostgreSQL's bigint would overflow; no catalogue is that large).
OFFSET_MAX = 2**31 - 1
#: The shipped slot map, read once: it decides each item's category, as it does when the index is built.
_category_map = functools.cache(load_category_map)
CATEGORY_HELP = "A recommendation category (top, bottom, ..., other): only the items served in it."
Q_HELP = "Text in the name, external id or article type (any case)."
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif", "BMP": "image/bmp",
               "TIFF": "image/tiff"}  # fmt: skip


def queue_index_sync(request: Request, state: ApiState, item: Item, changed: bool) -> ItemChange:
    """The response to a change, with the index sync it queued (or joined, or why there is none)."""
    out = item_out(request_base(request), item)
    if not changed:
        return ItemChange(item=out, changed=False, index_sync="unchanged")
    with state.db.sessions() as session:
        params = sync_job_params(session=session, name=state.settings.api_index_name)
    if params is None:
        return ItemChange(item=out, changed=True, index_sync="no_index",
                          message="no index is built yet: `recengine index build` includes this item")  # fmt: skip
    try:
        job, new = state.submit("index_sync", params, join_pending=True)
    except Exception as exc:  # the broker's errors vary by transport; the change itself is committed
        _log.exception("item %s changed, but no index sync could be queued", item.external_id)
        return ItemChange(item=out, changed=True, index_sync="failed",
                          message=f"the change is saved, but no index sync could be queued ({exc}): "
                          "run `recengine index sync`")  # fmt: skip
    return ItemChange(item=out, changed=True, index_sync="queued" if new else "joined",
                      index_job=job_ref(request_base(request), job))  # fmt: skip


def _parse(model: type[ItemCreate], raw: str) -> ItemCreate:
    try:
        return model.model_validate(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise ApiError(422, "validation_error", f"metadata is not JSON: {exc}") from exc
    except ValidationError as exc:
        raise ApiError(422, "validation_error", "metadata is invalid",
                       details=exc.errors(include_url=False, include_input=False)) from exc  # fmt: skip


@router.post("/v1/items", response_model=ItemChange, status_code=201, responses={503: {"model": ErrorResponse}})
def create(
    request: Request,
    response: Response,
    state: StateDep,
    _: Admin,
    metadata: Annotated[str, Form(description="ItemCreate as JSON: external_id, name, article_type, ...")],
    image: Annotated[UploadFile | None, File(description="The item's photo; without one it is not served.")] = None,
) -> ItemChange:
    """Add a catalogue item (409 when its external id exists: PATCH it instead; 503 with `Retry-After` while a
    catalogue import runs)."""
    body = _parse(ItemCreate, metadata)
    settings = state.settings
    checked = None if image is None else read_image(image, max_bytes=settings.api_max_image_bytes,
                                                    max_pixels=settings.api_max_image_pixels)  # fmt: skip
    fields: dict[str, Any] = body.model_dump(exclude={"external_id"})
    with state.db.transaction() as session:
        item = create_item(session=session, external_id=body.external_id, fields=fields, image=checked)
        session.refresh(item)
    response.headers["Location"] = item_url(request_base(request), item.external_id)
    return queue_index_sync(request, state, item, changed=True)


@router.patch("/v1/items/{item_id}", response_model=ItemChange)
def patch(item_id: ItemKey, body: ItemPatch, request: Request, state: StateDep, _: Admin) -> ItemChange:
    """Change some fields (those present in the body); concurrent changes apply one after the other."""
    with state.db.transaction() as session:
        item, changed = update_item(session=session, external_id=item_id, changes=body.model_dump(exclude_unset=True))
    return queue_index_sync(request, state, item, changed)


@router.delete("/v1/items/{item_id}", response_model=ItemChange)
def deactivate(item_id: ItemKey, request: Request, state: StateDep, _: Admin) -> ItemChange:
    """Deactivate an item: it is no longer recommended, from this answer on (the index drops it at its next
    sync), but stays for history (outfits and interactions refer to it); `PATCH {"is_active": true}` brings it
    back."""
    with state.db.transaction() as session:
        item, changed = deactivate_item(session=session, external_id=item_id)
    return queue_index_sync(request, state, item, changed)


@router.get("/v1/items", response_model=ItemPage)
def listing(
    request: Request,
    state: StateDep,
    category: Annotated[str | None, Query(max_length=64, pattern=NO_NUL, description=CATEGORY_HELP)] = None,
    q: Annotated[str | None, Query(max_length=128, pattern=NO_NUL, description=Q_HELP)] = None,
    limit: Annotated[int, Query(ge=1, le=LIST_MAX)] = 50,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> ItemPage:
    """Active catalogue items in id order, a page at a time (open, like the items themselves)."""
    cmap = _category_map()
    where = None if not category else category_clause(category, cmap)
    with state.db.sessions() as session:
        rows, total = list_items(session=session, where=where, q=q or None, limit=limit, offset=offset)
    base = request_base(request)
    items = [ItemListed(id=r.id, external_id=r.external_id, name=r.name, article_type=r.article_type, colour=r.colour,
                        image_url=None if r.image_sha256 is None else item_image_url(base, r.external_id),
                        category=item_category((r.master_category, r.sub_category, r.article_type), cmap),
                        has_image=r.image_sha256 is not None)
             for r in rows]  # fmt: skip
    return ItemPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/v1/categories", response_model=Categories, responses={503: {"model": ErrorResponse}})
def categories(state: StateDep) -> Categories:
    """The categories recommendations can be asked for (the serving index's, with items); 503 before an index
    is loaded. Open: it says no more than the catalogue does."""
    counts = state.recommender().categories()
    return Categories(index=state.settings.api_index_name,
                      categories=[CategoryOut(name=name, items=n) for name, n in counts.items()])  # fmt: skip


@router.get("/v1/items/{item_id}", response_model=ItemOut)
def read(item_id: ItemKey, request: Request, state: StateDep) -> ItemOut:
    """An item by external id, active or not (open: the catalogue is what a shop shows anyway)."""
    with state.db.sessions() as session:
        return item_out(request_base(request), get_item(session=session, external_id=item_id))


@router.get("/v1/items/{item_id}/image", response_class=Response,
            responses={200: {"content": {"image/*": {}}}, 404: {"model": ErrorResponse}})  # fmt: skip
def image(item_id: ItemKey, request: Request, state: StateDep) -> Response:
    """The item's photo as stored; the ETag is its sha256, so a client revalidates for free."""
    with state.db.sessions() as session:
        item = get_item(session=session, external_id=item_id)
        if item.image_sha256 is None or item.image is None:
            raise ApiError(404, "not_found", f"catalogue item {item_id!r} has no image")
        etag = f'"{item.image_sha256}"'
        headers = {"ETag": etag, "Cache-Control": "public, max-age=3600"}
        if not_modified(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        data = load_image(session, item.image_sha256)
        media = MEDIA_TYPES.get(item.image.format, "application/octet-stream")
    return Response(data, media_type=media, headers=headers)
