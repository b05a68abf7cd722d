"""`recengine recommend`: design-and-retrieve for one user and one item, as a table and optionally a picture."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from recengine.cli.common import console, err_console, open_db, progress_bar
from recengine.cli.index import index_name
from recengine.cli.outputs import output_file
from recengine.config import Settings
from recengine.embedding.catalogue import load_prepared
from recengine.errors import InvalidInputError, RecengineError
from recengine.indexing.service import DEFAULT_NAME
from recengine.recommend.service import Recommended, Recommender
from recengine.store.database import Database
from recengine.store.jobs import get_job
from recengine.store.models import Job
from recengine.viz import Tile, save_grid

#: Matches per picture row: wide enough to read, narrow enough for a screen.
ROW_WIDTH = 5
#: Seconds between two reads of a job that is being waited for.
POLL_S = 0.5


def recommend(
    item: Annotated[str, typer.Option(help="External id (or database id) of the query item.")],
    category: Annotated[str, typer.Option(help="Category of the recommended items (an outfit slot, e.g. bottom).")],
    user: Annotated[str | None, typer.Option(help="User's external id; unknown or none: population θu.")] = None,
    k: Annotated[int, typer.Option("-k", help="Recommended items.", min=1)] = 10,
    designs: Annotated[int, typer.Option(help="Designs drawn, each retrieving real items.", min=1)] = 4,
    seed: Annotated[int | None, typer.Option(help="Makes the designs repeatable.", min=0)] = None,
    designer: Annotated[str | None, typer.Option(help="Designer version name or checkpoint (default newest).")] = None,
    index: Annotated[str, typer.Option(help="Index name.", callback=index_name)] = DEFAULT_NAME,
    out: Annotated[Path | None, typer.Option(help="Write the query, the designs and the matches here (PNG).",
                                                     callback=output_file)] = None,
) -> None:  # fmt: skip
    """Items of a category that go with an item for a user: designed for them, then found in the catalogue."""
    settings = Settings()
    with open_db() as db, db.sessions() as session:
        service = Recommender.open(session, settings, designer=designer, index_name=index)
        answer = service.recommend(user, item, category, k=k, n_designs=designs, seed=seed)
        _print(answer, user, service.designer.label)
        if out is not None:
            console.print(f"picture: {_draw(session, answer, out)}")


def recommend_batch(
    requests: Annotated[Path, typer.Argument(help='JSON: {"requests": [...]} or a list, each entry a '
                                             "POST /v1/recommendations body.", exists=True, dir_okay=False,
                                             metavar="REQUESTS.json")],
    wait: Annotated[bool, typer.Option(help="Follow the job's progress, then write its result (to stdout "
                                       "without --out).")] = False,
    out: Annotated[Path | None, typer.Option(help="Write the result here (JSON); implies --wait.",
                                                     callback=output_file)] = None,
) -> None:  # fmt: skip
    """Queue a batch of recommendation requests for a worker (up to 10,000); the result, as the API's
    `POST /v1/recommendations:batch` gives it, is kept on the job (`recengine jobs show`, `GET /v1/jobs/{id}`)."""
    from recengine.api.answers import batch_summary
    from workers.app import create_app
    from workers.jobs import submit_job

    params = _batch_params(requests)
    wait = wait or out is not None
    # Waiting without --out puts the result on stdout: everything else goes to stderr, so it can be piped.
    say = err_console if wait and out is None else console
    with open_db() as db:
        job = submit_job(db=db, kind="recommend_batch", params=params, task=create_app())
        say.print(f"queued job {job.id} ({len(params['requests'])} requests): `recengine jobs show {job.id}` "
                  "follows it")  # fmt: skip
        if not wait:
            return
        job = _follow(db, job.id, len(params["requests"]), say)
    if job.status != "succeeded" or job.result is None:
        raise RecengineError(f"job {job.id} {job.status}: {job.error or 'no result'}")
    summary = batch_summary(job.result)
    statuses = ", ".join(f"{n} x {status}" for status, n in summary["statuses"].items())
    text = json.dumps(job.result, ensure_ascii=False)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
    say.print(f"job {job.id}: {summary['entries']} answers ({statuses}){'' if out is None else f' in {out}'}")


def _batch_params(path: Path) -> dict[str, Any]:
    """The file's batch as job params (validated here: a typo fails now, not on the worker)."""
    from recengine.api.answers import parse_body
    from recengine.api.schemas import BatchJobRequest

    try:
        data = json.loads(path.read_bytes())  # bytes: json detects UTF-8 with a BOM (Windows editors), UTF-16
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{path}: not a JSON file: {exc}") from exc
    body = parse_body(BatchJobRequest, {"requests": data} if isinstance(data, list) else data, what=str(path))
    return body.model_dump(mode="json", exclude_unset=True)


def _follow(db: Database, job_id: int, entries: int, say: Console) -> Job:
    """Poll the job with a progress bar until it has finished; Ctrl-C stops waiting, not the job."""
    try:
        with progress_bar(f"job {job_id}") as update:
            while True:
                with db.sessions() as session:  # a fresh session per read: the worker's commits
                    job = get_job(session=session, job_id=job_id)
                update(round(job.progress * entries), entries)
                if job.status in ("succeeded", "failed", "cancelled"):
                    return job
                time.sleep(POLL_S)
    except KeyboardInterrupt:
        say.print(f"stopped waiting; job {job_id} goes on: `recengine jobs show {job_id}`")
        raise typer.Exit(130) from None


def _print(answer: Recommended, user: str | None, designer: str) -> None:
    query = f"{answer.query.external_id} ({answer.query.name or 'no name'})" if answer.query else "a photo"
    title = f"{len(answer.matches)} {answer.category} for {query}, user {user or '-'} (θu {answer.theta_source})"
    table = Table(title=title, caption=f"designer {designer}")
    for col in ("rank", "item", "name", "article type", "colour", "score", "similarity", "design"):
        table.add_column(col)
    for rank, (match, info) in enumerate(answer.rows(), 1):
        table.add_row(str(rank), info.external_id, (info.name or "")[:40], info.article_type or "", info.colour or "",
                      f"{match.score:.3f}", f"{match.similarity:.3f}", str(match.design))  # fmt: skip
    console.print(table)


def _draw(session: Session, answer: Recommended, out: Path) -> Path:
    """First row: the query and the designs; then the matches, ``ROW_WIDTH`` to a row, best first."""
    designs = answer.recommendation.designs
    head = [Tile(answer.query_pixels, f"query {answer.query.external_id if answer.query else ''}")]
    head += [Tile(d, f"design {n}") for n, d in enumerate(designs)]
    rows = answer.rows()
    pixels = load_prepared(session, [str(info.image_sha256) for _, info in rows], designs.shape[1])
    tiles = [Tile(np.asarray(p), f"{i.external_id} {m.score:.2f}") for p, (m, i) in zip(pixels, rows, strict=True)]
    body = [tiles[s : s + ROW_WIDTH] for s in range(0, len(tiles), ROW_WIDTH)]
    titles = ["query, designs", *(f"matches {n * ROW_WIDTH + 1}-{n * ROW_WIDTH + len(r)}" for n, r in enumerate(body))]
    return save_grid([head, *body], out, titles=titles)
