"""Absolute URLs of the API's resources, built from the request (so they follow the host and any root path a
proxy adds), and the conversions of rows into the response bodies that carry them."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request

from recengine.api.schemas import ImageOut, ItemOut, JobRef
from recengine.store.models import Item, Job


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _segment(value: str) -> str:
    return quote(value, safe=":@-._~")


def item_url(request: Request, external_id: str) -> str:
    return f"{_base(request)}/v1/items/{_segment(external_id)}"


def item_image_url(request: Request, external_id: str) -> str:
    return f"{item_url(request, external_id)}/image"


def design_url(request: Request, design_id: str) -> str:
    return f"{_base(request)}/v1/designs/{design_id}.png"


def job_url(request: Request, job_id: int) -> str:
    return f"{_base(request)}/v1/jobs/{job_id}"


def job_ref(request: Request, job: Job) -> JobRef:
    return JobRef(id=job.id, kind=job.kind, status=job.status, url=job_url(request, job.id))


def item_out(request: Request, item: Item) -> ItemOut:
    image = item.image
    return ItemOut(
        id=item.id, external_id=item.external_id, source=item.source, name=item.name, gender=item.gender,
        master_category=item.master_category, sub_category=item.sub_category, article_type=item.article_type,
        colour=item.colour, season=item.season, usage=item.usage, year=item.year, attributes=item.attributes,
        is_active=item.is_active,
        image=None if image is None else ImageOut(sha256=image.sha256, format=image.format, width=image.width,
                                                  height=image.height, byte_size=image.byte_size),
        image_url=None if item.image_sha256 is None else item_image_url(request, item.external_id),
        created_at=item.created_at, updated_at=item.updated_at,
    )  # fmt: skip
