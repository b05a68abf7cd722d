"""`recengine recommend`: design-and-retrieve for one user and one item, as a table and optionally a picture."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table
from sqlalchemy.orm import Session

from recengine.cli.common import console, open_db
from recengine.config import Settings
from recengine.embedding.catalogue import load_prepared
from recengine.indexing.service import DEFAULT_NAME
from recengine.recommend.service import Recommended, Recommender
from recengine.viz import Tile, save_grid

#: Matches per picture row: wide enough to read, narrow enough for a screen.
ROW_WIDTH = 5


def recommend(
    item: Annotated[str, typer.Option(help="External id (or database id) of the query item.")],
    category: Annotated[str, typer.Option(help="Category of the recommended items (an outfit slot, e.g. bottom).")],
    user: Annotated[str | None, typer.Option(help="User's external id; unknown or none: population θu.")] = None,
    k: Annotated[int, typer.Option("-k", help="Recommended items.")] = 10,
    designs: Annotated[int, typer.Option(help="Designs drawn, each retrieving real items.")] = 4,
    seed: Annotated[int | None, typer.Option(help="Makes the designs repeatable.")] = None,
    designer: Annotated[str | None, typer.Option(help="Designer version name or checkpoint (default newest).")] = None,
    index: Annotated[str, typer.Option(help="Index name.")] = DEFAULT_NAME,
    out: Annotated[Path | None, typer.Option(help="Write the query, the designs and the matches here (PNG).")] = None,
) -> None:  # fmt: skip
    """Items of a category that go with an item for a user: designed for them, then found in the catalogue."""
    settings = Settings()
    with open_db() as db, db.sessions() as session:
        service = Recommender.open(session, settings, designer=designer, index_name=index)
        answer = service.recommend(user, item, category, k=k, n_designs=designs, seed=seed)
        _print(answer, user, service.designer.label)
        if out is not None:
            console.print(f"picture: {_draw(session, answer, out)}")


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
