"""VGG16's convolutional features in plain torch, laid out as torchvision's so its state dicts load unchanged.

Reference: Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition" (ICLR
2015), configuration D. The inpainting seed's style loss (Eq. 9–10) and Liu et al.'s perceptual loss read
the activations after pool1, pool2 and pool3 of an ImageNet-trained VGG16. Those weights are not shipped with
recengine (and torchvision is not a dependency): a user who has ``vgg16-397923af.pth`` or any state dict with
torchvision's keys (``features.0.weight`` ...) passes its path; only the layers up to the last tap are built
and loaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from recengine.errors import InvalidInputError, NotFoundError

__all__ = ["VGG16_LAYERS", "VGG16Features"]

#: torchvision's ``cfgs["D"]``: conv widths, "M" = 2x2 max pooling.
VGG16_LAYERS: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                                       512, 512, 512, "M")  # fmt: skip
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG16Features(nn.Module):
    """(B, 3, H, W) in [-1, 1] -> the activations after the first ``pools`` max-pooling layers (pool1, ...).

    ``features`` holds torchvision's modules at torchvision's indices (conv, ReLU, ..., pool), so
    ``features.N.weight`` keys match. Input is mapped to [0, 1] and normalised with ImageNet's mean and std,
    as the torchvision weights expect.
    """

    def __init__(self, pools: int = 3) -> None:
        super().__init__()
        if not 1 <= pools <= 5:
            raise ValueError(f"VGG16 has 5 pooling layers, asked for {pools}")
        layers: list[nn.Module] = []
        channels, seen = 3, 0
        self.taps: list[int] = []
        for spec in VGG16_LAYERS:
            if spec == "M":
                layers.append(nn.MaxPool2d(2, 2))
                self.taps.append(len(layers) - 1)
                seen += 1
                if seen == pools:
                    break
            else:
                assert isinstance(spec, int)
                layers += [nn.Conv2d(channels, spec, 3, padding=1), nn.ReLU(inplace=True)]
                channels = spec
        self.features = nn.Sequential(*layers)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = ((x + 1) / 2 - self.mean) / self.std
        out: list[torch.Tensor] = []
        for n, layer in enumerate(self.features):
            h = layer(h)
            if n in self.taps:
                out.append(h)
        return out

    def load_torchvision(self, path: Path) -> VGG16Features:
        """Load the ``features.*`` weights of a torchvision-format VGG16 state dict (extra keys are ignored).

        Raises:
            NotFoundError: No such file.
            InvalidInputError: Not a state dict, or a needed key is missing or has another shape.
        """
        if not path.exists():
            raise NotFoundError(f"VGG16 weights {path} do not exist")
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several unrelated types for a damaged or foreign file
            raise InvalidInputError(f"{path}: not a readable torch state dict ({exc})") from exc
        if isinstance(raw, dict) and isinstance(raw.get("state_dict"), dict):
            raw = raw["state_dict"]  # some re-saved files wrap the state dict
        if not isinstance(raw, dict):
            raise InvalidInputError(f"{path}: expected a state dict, got {type(raw).__name__}")
        needed = {f"features.{k}" for k in self.features.state_dict()}
        state = {k: v for k, v in raw.items() if k in needed}
        missing = sorted(needed - set(state))
        if missing:
            raise InvalidInputError(f"{path}: not a torchvision VGG16 state dict (missing {', '.join(missing[:3])})")
        try:
            self.load_state_dict(state)
        except RuntimeError as exc:
            raise InvalidInputError(f"{path}: VGG16 weights of unexpected shapes ({exc})") from exc
        return self
