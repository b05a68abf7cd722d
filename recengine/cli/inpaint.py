"""`recengine inpaint`: repair a photo's holes (logos, banners, occlusions) with the inpainting model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recengine.cli.common import console, open_db
from recengine.cli.outputs import output_file
from recengine.errors import NotFoundError


def inpaint(
    image: Annotated[Path, typer.Argument(help="The photo to repair (JPEG, PNG, ...).")],
    mask: Annotated[Path, typer.Option(help="Mask image of the photo's size: white = hole, black = keep.")],
    out: Annotated[Path, typer.Option(help="Where to write the repaired photo (PNG).", callback=output_file)],
    model: Annotated[str | None, typer.Option(help="Registered inpainting model name; default: the newest.")]
    = None,
    checkpoint: Annotated[Path | None, typer.Option(help="An inpainting checkpoint file instead of a registered "
                                                    "model (no database needed).")] = None,
) -> None:  # fmt: skip
    """Fill the white part of MASK in IMAGE with the (D)PConv inpainting model and write the result."""
    from recengine.inpainting.service import Inpainter, decode_photo, read_mask
    from recengine.store.designs import encode_png

    for path, what in ((image, "image"), (mask, "mask")):
        if not path.is_file():
            raise NotFoundError(f"{what} file {path} does not exist")
    pixels = decode_photo(image.read_bytes(), what=str(image))
    holes = read_mask(mask.read_bytes(), (pixels.shape[0], pixels.shape[1]), what=f"mask {mask}")
    if checkpoint is not None:
        inpainter = Inpainter.from_checkpoint(checkpoint)
    else:
        with open_db() as db, db.sessions() as session:
            inpainter = Inpainter.registered(session=session, name=model)
    repaired = inpainter.repair(pixels, holes)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(encode_png(repaired))
    console.print(f"{out}: {int((holes == 0).sum())} hole pixels filled by {inpainter.label}")
