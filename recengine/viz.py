"""Pictures where a person would rather look than read: retrieval results, design grids, training samples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image as PILImage
from PIL import ImageDraw

CAPTION_H = 14


@dataclass(frozen=True)
class Tile:
    pixels: NDArray[np.uint8]  # (S, S, 3)
    caption: str = ""


def save_grid(rows: Sequence[Sequence[Tile]], path: Path, *, tile: int = 96, titles: Sequence[str] = ()) -> Path:
    """Write rows of captioned tiles as one PNG (rows may differ in length; an optional title per row)."""
    width = max((len(r) for r in rows), default=1) * tile
    title_w = 110 if titles else 0
    height = len(rows) * (tile + CAPTION_H)
    canvas = PILImage.new("RGB", (title_w + width, max(height, 1)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(rows):
        y = r * (tile + CAPTION_H)
        if r < len(titles):
            draw.text((4, y + tile // 2), titles[r][:18], fill=(0, 0, 0))
        for c, t in enumerate(row):
            x = title_w + c * tile
            img = PILImage.fromarray(np.ascontiguousarray(t.pixels)).resize((tile, tile), PILImage.Resampling.NEAREST)
            canvas.paste(img, (x, y))
            draw.text((x + 2, y + tile + 1), t.caption[:16], fill=(40, 40, 40))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
