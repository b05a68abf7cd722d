"""Preparing photos for the networks: upright by EXIF, transparency on white, and catalogue JPEGs as before."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image

from recengine.datasets.image_cache import prepare_image
from recengine.inpainting.service import decode_photo
from tests.conftest import MYNTRA, require

RED = (200, 0, 0)


def _png(img: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _cut_out(mode: str) -> bytes:
    """A red square on a transparent 32x32 canvas; the colour stored under the transparency is black."""
    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    rgba.paste(Image.new("RGBA", (16, 16), (*RED, 255)), (8, 8))
    if mode == "P":
        paletted = Image.new("P", (32, 32), 0)
        paletted.putpalette([0, 0, 0, *RED] + [0] * 762)
        paletted.paste(1, (8, 8, 24, 24))
        return _png(paletted, transparency=0)
    if mode == "LA":
        return _png(rgba.convert("LA"))
    return _png(rgba)


def test_transparent_parts_are_white_like_the_catalogues_backgrounds() -> None:
    """convert("RGB") kept the black stored under the transparency: a cut-out met the network on black."""
    for mode in ("RGBA", "P", "LA"):
        pixels = prepare_image(_cut_out(mode), 32)
        assert pixels[0, 0].tolist() == [255, 255, 255] and pixels[31, 31].tolist() == [255, 255, 255], mode
        centre = pixels[16, 16].tolist()
        assert centre == list(RED) if mode != "LA" else centre[0] == centre[1] == centre[2] < 128, (mode, centre)


def test_a_photo_is_turned_upright_by_its_exif_orientation() -> None:
    """A phone stores a portrait photo sideways with an orientation tag; it was embedded lying down."""
    upright = Image.new("RGB", (20, 40), (255, 255, 255))
    upright.paste(Image.new("RGB", (20, 10), RED), (0, 0))  # red at the top
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # as the sensor stored it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    buffer = io.BytesIO()
    sideways.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    pixels = prepare_image(buffer.getvalue(), 40)
    reference = prepare_image(_png(upright), 40)
    assert np.abs(pixels.astype(int) - reference.astype(int)).max() < 40  # JPEG's loss, not a turn
    assert pixels[2, 20, 0] > 150 and pixels[2, 20, 1] < 80  # red at the top, as the shopper took it
    # Inpainting decodes it the same way: a mask drawn on the photo as shown (20 wide, 40 high) fits it.
    assert decode_photo(buffer.getvalue()).shape == (40, 20, 3)
    assert decode_photo(_cut_out("RGBA"))[0, 0].tolist() == [255, 255, 255]


def test_catalogue_jpegs_are_prepared_exactly_as_before() -> None:
    """The shipped models were trained on these pixels: the Myntra photos (RGB, no orientation tag) are unchanged."""
    with zipfile.ZipFile(require(MYNTRA) / "images.zip") as zf:
        data = zf.read("images/1163.jpg")
    with Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
    side = max(rgb.size)
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(rgb, ((side - rgb.width) // 2, (side - rgb.height) // 2))
    before = np.asarray(canvas.resize((64, 64), Image.Resampling.BILINEAR), dtype=np.uint8)
    assert np.array_equal(prepare_image(data, 64), before)


def test_a_16_bit_greyscale_photo_keeps_its_tones() -> None:
    """convert("RGB") clipped every 16-bit value above 255: the whole photo came out white."""
    values = np.full((32, 32), 20000, np.uint16)
    values[8:24, 8:24] = 60000
    pixels = prepare_image(_png(Image.fromarray(values)), 32)
    assert pixels[0, 0].tolist() == [78, 78, 78] and pixels[16, 16].tolist() == [234, 234, 234]
