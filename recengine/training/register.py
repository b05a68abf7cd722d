"""Register a checkpoint file (a shipped one, or one copied from another machine) in ``model_versions``.

Training registers what it writes; this is for checkpoints that arrive as files. A compatibility or designer
checkpoint carries its users' θu rows with their external ids: those users that exist in this database get them
in ``user_preferences`` under the new version, so a shop that rebuilt the same dataset can serve them at once
(a designer's θu are those of its own fine-tuned compatibility model, the ones its designs are conditioned on).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from recengine.compatibility.train import write_preferences
from recengine.datasets.outfits.simulate import DEFAULT_DATASET
from recengine.nets.compatibility import CompatibilityModel
from recengine.preferences.service import FITTABLE, load_compatibility_part
from recengine.store.bulk import any_of
from recengine.store.model_versions import claim_model_version
from recengine.store.models import ModelVersion, User
from recengine.training.checkpoints import file_sha256, load_checkpoint


def register_checkpoint(*, session: Session, path: Path, name: str | None = None,
                        dataset: str | None = None) -> ModelVersion:  # fmt: skip
    """Upsert the ``model_versions`` row of ``path`` (family from the file; name defaults to the file's stem
    without the family prefix). Re-registering the same file is a no-op; a changed file updates the row.

    ``dataset`` names the dataset a model with θu was trained on (newcomers are fitted against its catalogue
    split); default: the one the file records, else ``default`` (files written before they recorded it).
    """
    payload = load_checkpoint(path)
    family = str(payload["family"])
    label = name or path.stem.removeprefix(f"{family}-")
    sha = file_sha256(path)
    version = claim_model_version(session=session, family=family, name=label)
    if version.checkpoint_sha256 == sha and version.checkpoint_path == str(path.resolve()):
        return version
    extra = payload["extra"]
    version.config = {"model": payload["config"], "train": extra.get("train", {}), "registered_from": str(path)}
    if family in FITTABLE:
        version.config["dataset"] = dataset or extra.get("dataset") or DEFAULT_DATASET
    version.metrics = dict(extra.get("metrics", {}))
    version.checkpoint_path, version.checkpoint_sha256 = str(path.resolve()), sha
    session.flush()
    if family in FITTABLE and extra.get("user_external_ids"):
        _write_thetas(session, version, load_compatibility_part(path, family), list(extra["user_external_ids"]))
    return version


def _write_thetas(session: Session, version: ModelVersion, model: CompatibilityModel, external: list[str]) -> None:
    known = dict(session.execute(select(User.external_id, User.id).where(any_of(User.external_id, external))).all())
    if model.theta is None or not known:
        return
    rows = [n for n, e in enumerate(external) if e in known]
    model.theta.weight.data = model.theta.weight.data[rows]
    write_preferences(session=session, model=model, model_version_id=version.id,
                      user_ids=[known[external[n]] for n in rows], n_examples={})  # fmt: skip
