"""URLs of the API's resources under a base URL, and the conversions of rows into the response bodies that carry
them.

The base is a string, not a request, so that answers built away from HTTP (a worker's recommendation job) link
the same way: routes pass :func:`request_base` (it follows the host and any root path a proxy adds), workers
the configured ``api_public_url`` (empty: root-relative links such as ``/v1/designs/<id>.png``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from recengine.api.schemas import ImageOut, ItemOut, JobRef
from recengine.store.models import Item, Job

if TYPE_CHECKING:  # only annotated here: answers built in a worker import this module without FastAPI's request
    from fastapi import Request


def request_base(request: Request) -> str:
    """The base of the URLs in a response to ``request``: its scheme, host and root path, no trailing slash."""
    return str(request.base_url).rstrip("/")


def _segment(value: str) -> str:
    return quote(value, safe=":@-._~")


def item_url(base: str, external_id: str) -> str:
    return f"{base}/v1/items/{_segment(external_id)}"


def item_image_url(base: str, external_id: str) -> str:
    return f"{item_url(base, external_id)}/image"


def design_url(base: str, design_id: str) -> str:
    return f"{base}/v1/designs/{design_id}.png"


def job_url(base: str, job_id: int) -> str:
    return f"{base}/v1/jobs/{job_id}"


def job_ref(base: str, job: Job) -> JobRef:
    return JobRef(id=job.id, kind=job.kind, status=job.status, url=job_url(base, job.id))


def item_out(base: str, item: Item) -> ItemOut:
    image = item.image
    return ItemOut(
        id=item.id, external_id=item.external_id, source=item.source, name=item.name, gender=item.gender,
        master_category=item.master_category, sub_category=item.sub_category, article_type=item.article_type,
        colour=item.colour, season=item.season, usage=item.usage, year=item.year, attributes=item.attributes,
        is_active=item.is_active,
        image=None if image is None else ImageOut(sha256=image.sha256, format=image.format, width=image.width,
                                                  height=image.height, byte_size=image.byte_size),
        image_url=None if item.image_sha256 is None else item_image_url(base, item.external_id),
        created_at=item.created_at, updated_at=item.updated_at,
    )  # fmt: skip
