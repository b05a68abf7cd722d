"""``/v1/items/{item_id}/mask``: the part of an item's photo to repair by inpainting before the item is embedded
(:mod:`recengine.inpainting.repair`). Like every item change, keeping or removing a mask queues an index sync."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile

from recengine.api.auth import Admin, StateDep
from recengine.api.paths import ItemKey
from recengine.api.routes_items import queue_index_sync
from recengine.api.schemas import ErrorResponse, ItemChange
from recengine.api.uploads import read_image
from recengine.inpainting.repair import keep_masks, remove_masks
from recengine.store.items import get_item

router = APIRouter(tags=["items"], responses={
    401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse},
    413: {"model": ErrorResponse}, 415: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})  # fmt: skip


@router.put("/v1/items/{item_id}/mask", response_model=ItemChange)
def put_mask(
    item_id: ItemKey,
    request: Request,
    state: StateDep,
    _: Admin,
    mask: Annotated[UploadFile, File(description="PNG of the photo's size: white = hole to repair, black = keep.")],
    model: Annotated[str | None, Form(description="Inpainting model name; default the newest.")] = None,
) -> ItemChange:
    """Keep a mask with the item (replacing its earlier one): every index build and sync from now on embeds the
    item from its photo repaired by inpainting; 422 when the mask does not fit the item's photo."""
    settings = state.settings
    data, _info = read_image(mask, max_bytes=settings.api_max_image_bytes, max_pixels=settings.api_max_image_pixels,
                             what="mask")  # fmt: skip
    with state.db.transaction() as session:
        item = get_item(session=session, external_id=item_id)
        keep_masks(session=session, masks={item_id: data}, model=model or None, label=lambda _: "mask")
        session.refresh(item)
    return queue_index_sync(request, state, item, changed=True)


@router.delete("/v1/items/{item_id}/mask", response_model=ItemChange)
def delete_mask(item_id: ItemKey, request: Request, state: StateDep, _: Admin) -> ItemChange:
    """Stop repairing the item's photo (404 when it has no mask): the next sync embeds it as it is."""
    with state.db.transaction() as session:
        item = get_item(session=session, external_id=item_id)
        remove_masks(session=session, external_ids=[item_id])
        session.refresh(item)
    return queue_index_sync(request, state, item, changed=True)
