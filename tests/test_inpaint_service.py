"""Repairing photos: the library call, `recengine inpaint` and the recommendation call's mask (the catalogue's
kept masks: tests/test_item_masks.py), with a tiny inpainting model saved by the project's checkpoint writer
(what is checked is the plumbing: holes filled, everything else untouched, bad masks refused by name)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from sqlalchemy import select
from typer.testing import CliRunner

from recengine.cli import app
from recengine.errors import InvalidInputError
from recengine.inpainting.service import Inpainter, decode_photo, read_mask
from recengine.nets.inpainting import InpaintConfig, InpaintingModel
from recengine.store.models import Image
from recengine.training.checkpoints import save_checkpoint
from recengine.training.register import register_checkpoint
from tests.api_support import Keys, client_for, make_keys
from tests.test_recommend import Shop, shop  # noqa: F401  (the module's shop fixture)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def _hole_file(height: int, width: int) -> bytes:
    """White (hole) rectangle in the middle of a black (keep) mask file."""
    grid = np.zeros((height, width), np.uint8)
    grid[height // 3 : height // 2, width // 4 : width // 2] = 255
    return _png(grid)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = InpaintingModel(InpaintConfig.tiny())
    path = tmp_path_factory.mktemp("inpaint") / "inpainting-tiny.pt"
    save_checkpoint(path, family="inpainting", config=model.config.as_dict(), state_dict=model.state_dict())
    return path


@pytest.fixture(scope="module")
def photo(shop: Shop) -> bytes:  # noqa: F811
    """A real Myntra photo, as imported into the shop's database."""
    with shop.db.sessions() as session:
        return bytes(session.scalars(select(Image.data).order_by(Image.sha256).limit(1)).one())


def test_repair_fills_the_hole_and_keeps_every_other_pixel(checkpoint: Path, photo: bytes) -> None:
    pixels = decode_photo(photo)
    mask = read_mask(_hole_file(*pixels.shape[:2]), pixels.shape[:2])
    assert mask.dtype == np.uint8 and 0 < (mask == 0).mean() < 0.2
    repaired = Inpainter.from_checkpoint(checkpoint).repair(pixels, mask)
    assert repaired.shape == pixels.shape and repaired.dtype == np.uint8
    assert np.array_equal(repaired[mask == 1], pixels[mask == 1])
    assert not np.array_equal(repaired[mask == 0], pixels[mask == 0])


def test_bad_masks_are_refused_with_what_is_wrong(photo: bytes) -> None:
    h, w = decode_photo(photo).shape[:2]
    with pytest.raises(InvalidInputError, match="mask is"):
        read_mask(_hole_file(h + 1, w), (h, w))
    grey = np.full((h, w), 128, np.uint8)
    with pytest.raises(InvalidInputError, match="grey levels"):
        read_mask(_png(grey), (h, w))
    with pytest.raises(InvalidInputError, match="no hole"):
        read_mask(_png(np.zeros((h, w), np.uint8)), (h, w))
    with pytest.raises(InvalidInputError, match="not a readable image"):
        read_mask(b"not a png", (h, w))


def test_cli_inpaints_a_real_photo(checkpoint: Path, photo: bytes, tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(photo)
    h, w = decode_photo(photo).shape[:2]
    (tmp_path / "mask.png").write_bytes(_hole_file(h, w))
    out = tmp_path / "out" / "repaired.png"
    args = ["inpaint", str(tmp_path / "photo.jpg"), "--mask", str(tmp_path / "mask.png"), "--out", str(out),
            "--checkpoint", str(checkpoint)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    # rich wraps at the terminal's width, where the temp path's length decides: compare the words
    assert "hole pixels filled" in " ".join(result.output.split()) and decode_photo(out.read_bytes()).shape == (h, w, 3)
    (tmp_path / "bad.png").write_bytes(_hole_file(h, w + 3))
    bad = CliRunner().invoke(app, [*args[:3], str(tmp_path / "bad.png"), *args[4:]])
    assert bad.exit_code != 0 and "the image is" in str(bad.exception)
    assert f"mask {tmp_path / 'bad.png'} is" in str(bad.exception)  # which file is wrong
    (tmp_path / "notes.txt").write_text("not a photo")
    unreadable = CliRunner().invoke(app, ["inpaint", str(tmp_path / "notes.txt"), *args[2:]])
    message = str(unreadable.exception)
    assert unreadable.exit_code != 0 and message.startswith(f"{tmp_path / 'notes.txt'} is not a readable image")
    assert "JPEG, PNG" in message and "BytesIO" not in message  # not PIL's words about its buffer


def test_an_output_that_cannot_be_written_fails_first_and_in_one_line(checkpoint: Path, photo: bytes,
                                                                      tmp_path: Path) -> None:  # fmt: skip
    (tmp_path / "photo.jpg").write_bytes(photo)
    h, w = decode_photo(photo).shape[:2]
    (tmp_path / "mask.png").write_bytes(_hole_file(h, w))
    (tmp_path / "a-file").write_text("")

    def run(out: Path) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-c", "from recengine.cli import main; main()", "inpaint", str(tmp_path / "photo.jpg"),
               "--mask", str(tmp_path / "mask.png"), "--out", str(out), "--checkpoint", str(checkpoint)]  # fmt: skip
        env = {**os.environ, "COLUMNS": "400"}
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)

    under_a_file = run(tmp_path / "a-file" / "repaired.png")  # checked before the model loads
    assert under_a_file.returncode == 2, under_a_file.stderr
    assert "--out" in under_a_file.stderr and f"{tmp_path / 'a-file'} is a file, not a folder" in under_a_file.stderr
    a_folder = run(tmp_path)
    assert a_folder.returncode == 2 and f"{tmp_path} is a folder; give a file name" in a_folder.stderr
    dangling = tmp_path / "link.png"
    dangling.symlink_to(tmp_path / "gone" / "repaired.png")  # passes the check, fails at the write
    late = run(dangling)
    assert late.returncode == 1 and late.stderr.strip() == f"error: {dangling}: No such file or directory", late.stderr


@pytest.fixture(scope="module")
def registered(shop: Shop, checkpoint: Path) -> Iterator[str]:  # noqa: F811
    with shop.db.transaction() as session:
        version = register_checkpoint(session=session, path=checkpoint, name="tiny-dpconv")
    yield version.name


def test_a_photo_with_a_mask_is_repaired_before_the_recommendation(shop: Shop, registered: str) -> None:  # noqa: F811
    keys: Keys = make_keys(shop, "-inpaint")
    with client_for(shop) as client:
        photo = client.get(f"/v1/items/{shop.top}/image").content
        h, w = decode_photo(photo).shape[:2]
        options = '{"category": "bottom", "k": 3, "designs": 1, "seed": 0, "user": "fan"}'
        header = Keys.header(keys.writer)

        def ask(mask: bytes | None) -> dict[str, object]:
            files = {"image": ("top.jpg", photo, "image/jpeg")}
            if mask is not None:
                files["mask"] = ("mask.png", mask, "image/png")
            response = client.post("/v1/recommendations:image", headers=header, data={"options": options},
                                   files=files)  # fmt: skip
            assert response.status_code == 200, response.text
            return dict(response.json())

        plain, masked = ask(None), ask(_hole_file(h, w))
        assert len(masked["items"]) == 3  # type: ignore[arg-type]
        designs = [client.get(str(a["designs"][0]["url"])).content for a in (plain, masked)]  # type: ignore[index]
        assert designs[0] != designs[1]  # same seed, repaired query: another design
        bad = client.post("/v1/recommendations:image", headers=header, data={"options": options},
                          files={"image": ("top.jpg", photo, "image/jpeg"),
                                 "mask": ("mask.png", _hole_file(h, w + 2), "image/png")})  # fmt: skip
        assert bad.status_code == 422 and "mask is" in bad.json()["error"]["message"]
