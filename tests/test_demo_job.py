"""The README's main job (`recengine demo`) as a user runs it: a separate process on the embedded default,
scaled down (part of the real Myntra catalogue, fewer simulated users), with the shipped checkpoints, a real
API process and a real Celery worker; the report must show designs and real matches for every call."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import FASHION_MNIST, MYNTRA, require

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _demo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", "from recengine.cli import main; main()", "demo", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


# Fashion-MNIST is the fallback where ../shared is absent (its --limit counts per split: 2 x 1250 items).
@pytest.mark.parametrize(("catalogue", "limit"), [(MYNTRA, "2500"), (FASHION_MNIST, "1250")], ids=["myntra", "fmnist"])
def test_the_main_job_serves_recommendations_over_http_and_writes_a_report(tmp_path: Path, catalogue: Path,
                                                                           limit: str) -> None:  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECENGINE_")}
    env.update(RECENGINE_DATA_DIR=str(tmp_path / "data"), RECENGINE_CATALOGUE_PATH=str(require(catalogue)),
               COLUMNS="200", OMP_NUM_THREADS="1")  # fmt: skip
    run = _demo(env, "--limit", limit, "--users", "40")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for step in ("database", "catalogue", "outfits and users", "models", "index", "API and worker"):
        assert f"▶ {step}" in run.stdout
    report = tmp_path / "data" / "demo" / "index.html"
    assert f"report: {report}" in run.stdout.replace("\n", "")
    page = report.read_text()

    sections = re.split(r"<h2>\d+\. ", page)[1:]
    assert len(sections) == 5
    sources = [re.search(r"θu: <b>(\w+)</b>", s).group(1) for s in sections]  # type: ignore[union-attr]
    assert sources == ["trained", "trained", "prior", "fitted", "trained"]  # the worker fitted the newcomer
    for section in sections:
        designs = re.findall(r'<figure class="design"><img src="([^"]+)"', section)
        items = re.findall(r'<figure class=""><img src="(assets/item-[^"]+)"', section)
        assert len(designs) == 4 and len(items) >= 8 - 1, section[:500]  # k=8 (de-duplicated by id)
        for src in designs + items:
            with Image.open(report.parent / src) as image:
                assert image.size[0] >= 28 and image.getbbox() is not None  # a real picture (28 px: Fashion-MNIST)
    assert "ms over HTTP" in page and "how this was made" in page.lower()

    again = _demo(env, "--limit", limit, "--users", "40")  # idempotent: reuses the shop, a fresh report
    assert again.returncode == 0, again.stderr[-3000:]
    assert "exists: 40 users" in report.read_text()
