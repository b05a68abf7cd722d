"""`recengine users ...`: user preference vectors (θu)."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm import Session

from recengine.api.settings import ApiSettings, api_settings
from recengine.cli.common import console, open_db, progress_bar
from recengine.cli.prose import Typer
from recengine.preferences.service import fit_and_store, resolve_user
from recengine.recommend.service import served_model_version_id

app = Typer(help="User preference vectors θu.", no_args_is_help=True)


@app.command("fit")
def fit(
    user: Annotated[str, typer.Argument(help="External id (or database id) of the user.")],
    model_version: Annotated[
        int | None,
        typer.Option(
            help="Compatibility or designer model version id; default: the served designer's (the θu "
            "recommendations read; RECENGINE_API_DESIGNER or the newest), else the newest compatibility."
        ),
    ] = None,
    background: Annotated[bool, typer.Option(help="Queue a job for a worker instead of fitting here.")] = False,
) -> None:
    """Fit θu for one user with the model's networks frozen, and store it (replacing an older fit)."""
    settings = api_settings(None)
    if background:
        _submit(user, model_version, settings)
        return
    with open_db() as db:
        with db.sessions() as session:
            target = resolve_user(session=session, user=user)
            model_version = _default_version(session, model_version, settings)
        with progress_bar(f"fitting θu of {target.external_id}") as progress:
            done = fit_and_store(sessions=db.sessions, user_id=target.id, model_version_id=model_version,
                                 progress=progress)  # fmt: skip
    kind = "population prior (no history)" if done["is_prior"] else f"loss {done['loss']:.4f}"
    console.print(f"θu of {target.external_id} for model version {done['model_version_id']}: "
                  f"{done['n_examples']} examples, {kind}, {done['steps']} steps, "
                  f"{done['seconds'] * 1000:.0f} ms")  # fmt: skip


def _default_version(session: Session, model_version: int | None, settings: ApiSettings) -> int | None:
    """The version asked for, else the served designer's (as the API's fits); None: the newest compatibility."""
    return model_version if model_version is not None else served_model_version_id(session, settings.api_designer)


def _submit(user: str, model_version: int | None, settings: ApiSettings) -> None:
    from workers.app import create_app
    from workers.jobs import submit_job

    with open_db() as db:
        with db.sessions() as session:
            user_id = resolve_user(session=session, user=user).id
            model_version = _default_version(session, model_version, settings)
        job = submit_job(db=db, kind="fit_preferences", params={"user_id": user_id, "model_version_id": model_version},
                         task=create_app())  # fmt: skip
    console.print(f"queued job {job.id}: `recengine jobs show {job.id}` follows it")
