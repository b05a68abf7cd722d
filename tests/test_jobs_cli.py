"""`recengine jobs show` on a real database: small results shown, large ones summarised or written with --out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from recengine.cli import app as cli_app
from recengine.store.jobs import create_job, finish_job, start_job
from recengine.store.models import Job


def _finished(engine: Engine, result: dict[str, object]) -> int:
    with Session(engine) as session, session.begin():
        job = create_job(session=session, kind="recommend_batch", params={})
        start_job(session=session, job_id=job.id, task_id=None)
        finish_job(session=session, job_id=job.id, result=result)
        return job.id


def test_a_large_result_is_summarised_and_written_whole_with_out(engine: Engine, tmp_path: Path) -> None:
    """A night's batch (10,000 answers) scrolled past as pretty-printed text for minutes."""
    env = {"RECENGINE_DATABASE_URL": engine.url.render_as_string(hide_password=False), "COLUMNS": "200"}
    big = {"entries": 3000, "results": [{"status": 200, "result": {"items": [{"id": i}]}} for i in range(3000)]}
    job_id = _finished(engine, big)
    shown = CliRunner().invoke(cli_app, ["jobs", "show", str(job_id)], env=env)
    assert shown.exit_code == 0, shown.output
    assert "results: 3,000 entries" in shown.output and "entries: 3000" in shown.output
    assert f"recengine jobs show {job_id} --out FILE" in shown.output and "'status'" not in shown.output
    out = tmp_path / "result.json"
    written = CliRunner().invoke(cli_app, ["jobs", "show", str(job_id), "--out", str(out)], env=env)
    assert written.exit_code == 0, written.output
    assert json.loads(out.read_text(encoding="utf-8")) == big
    small = CliRunner().invoke(cli_app, ["jobs", "show", str(_finished(engine, {"loss": 0.25}))], env=env)
    assert small.exit_code == 0 and "'loss': 0.25" in small.output
    folder = CliRunner().invoke(cli_app, ["jobs", "show", str(job_id), "--out", str(tmp_path)], env=env)
    assert folder.exit_code == 2 and "is a folder" in folder.output


def _ended_days_ago(engine: Engine, days: float, status: str = "succeeded") -> int:
    with Session(engine) as session, session.begin():
        job = create_job(session=session, kind="recommend_batch", params={})
        job.status, job.finished_at = status, datetime.now(UTC) - timedelta(days=days)
        session.flush()
        return job.id


def test_prune_deletes_ended_jobs_older_than_the_retention(engine: Engine) -> None:
    """Ops free the space of old batch results at once, with the workers stopped or a shorter retention."""
    env = {"RECENGINE_DATABASE_URL": engine.url.render_as_string(hide_password=False), "COLUMNS": "200"}
    ten, three, today = _ended_days_ago(engine, 10), _ended_days_ago(engine, 3, "failed"), _ended_days_ago(engine, 0)
    default = CliRunner().invoke(cli_app, ["jobs", "prune"], env=env)
    assert default.exit_code == 0 and "deleted 1 jobs that ended more than 7 days ago" in default.output, default.output
    shorter = CliRunner().invoke(cli_app, ["jobs", "prune", "--older-than-days", "2"], env=env)
    assert shorter.exit_code == 0 and "deleted 1 jobs" in shorter.output, shorter.output
    with Session(engine) as session:
        assert [session.get(Job, i) is not None for i in (ten, three, today)] == [False, False, True]
    negative = CliRunner().invoke(cli_app, ["jobs", "prune", "--older-than-days", "-1"], env=env)
    assert negative.exit_code == 2 and "older-than-days" in negative.output
