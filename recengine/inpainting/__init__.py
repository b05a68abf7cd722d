"""Clothing inpainting: masks, array conventions, classical baselines, metrics, and the seed's Ablation 2.

Reference:
    Kınlı, Özcan, Kıraç. "A Benchmark for Inpainting of Clothing Images with Irregular Holes" (2020).

Conventions (see :mod:`recengine.inpainting.arrays`): images (B, 3, H, W) float32 in [-1, 1]; masks
(B, 1, H, W) or (H, W), 1 = valid pixel, 0 = hole; mask files white = hole.
"""

from recengine.inpainting.arrays import to_model_images, to_model_masks, to_uint8_images
from recengine.inpainting.baselines import opencv_inpaint
from recengine.inpainting.masks import (
    B0,
    B1,
    B2,
    MASK_BUCKETS,
    MaskRatioBucket,
    garment_foreground,
    hole_ratio,
    load_mask,
    random_stroke_mask,
    random_stroke_masks,
    validate_mask,
)
from recengine.inpainting.metrics import by_bucket, l1_percent

__all__ = [
    "B0",
    "B1",
    "B2",
    "MASK_BUCKETS",
    "MaskRatioBucket",
    "by_bucket",
    "garment_foreground",
    "hole_ratio",
    "l1_percent",
    "load_mask",
    "opencv_inpaint",
    "random_stroke_mask",
    "random_stroke_masks",
    "to_model_images",
    "to_model_masks",
    "to_uint8_images",
    "validate_mask",
]
