"""A bar chart of the mask-filling ablation, drawn with PIL (matplotlib is not a dependency)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from recengine.inpainting.ablation import MAX_LAYERS, AblationResult
from recengine.inpainting.masks import MASK_BUCKETS
from recengine.inpainting.metrics import BucketStats, by_bucket

__all__ = ["save_ablation_plot"]

_COLOURS = ((66, 114, 196), (221, 132, 82), (85, 168, 104), (196, 78, 82))
_WIDTH, _HEIGHT = 900, 420
_LEFT, _RIGHT, _TOP, _BOTTOM = 60, 20, 50, 70
_GROUP_GAP = 0.3  # fraction of a group's slot left empty


def _groups(result: AblationResult) -> list[tuple[str, dict[str, BucketStats]]]:
    """(label, {stack: stats}) per x position: the 10 % bins, then the seed's buckets b0/b1/b2."""
    per_bin = {name: by_bucket(fill.layers, result.ratios, result.bins) for name, fill in result.fills.items()}
    per_bucket = result.summary(MASK_BUCKETS)
    out = [(b.name, {name: per_bin[name][b.name] for name in per_bin}) for b in result.bins]
    out += [(b.name, {name: per_bucket[name][b.name] for name in per_bucket}) for b in MASK_BUCKETS]
    return out


def save_ablation_plot(result: AblationResult, path: str | Path, *, max_layers: int = MAX_LAYERS) -> Path:
    """Write mean layers-to-fully-valid per hole-ratio range, one bar per stack, ±1 std whiskers, as a PNG.

    Args:
        result: Output of :func:`~recengine.inpainting.ablation.run_ablation`.
        path: PNG file to write; parent folders are created.
        max_layers: Top of the y axis (the stack length).

    Returns:
        The path written.
    """
    groups = _groups(result)
    names = list(result.fills)
    canvas = Image.new("RGB", (_WIDTH, _HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM

    def y_of(value: float) -> float:
        return _TOP + plot_h * (1.0 - min(max(value, 0.0), max_layers) / max_layers)

    for tick in range(0, max_layers + 1, 5):
        y = y_of(tick)
        draw.line((_LEFT, y, _WIDTH - _RIGHT, y), fill=(225, 225, 225))
        draw.text((_LEFT - 24, y - 6), f"{tick:>2}", fill=(0, 0, 0))
    slot = plot_w / len(groups)
    bar = slot * (1.0 - _GROUP_GAP) / len(names)
    for g, (label, stats) in enumerate(groups):
        x0 = _LEFT + g * slot + slot * _GROUP_GAP / 2
        for s, name in enumerate(names):
            st = stats[name]
            if st.count == 0:
                continue
            left, colour = x0 + s * bar, _COLOURS[s % len(_COLOURS)]
            draw.rectangle((left, y_of(st.mean), left + bar - 2, y_of(0.0)), fill=colour)
            mid = left + (bar - 2) / 2
            draw.line((mid, y_of(st.mean - st.std), mid, y_of(st.mean + st.std)), fill=(0, 0, 0))
            draw.text((left, y_of(st.mean) - 12), f"{st.mean:.1f}", fill=(0, 0, 0))
        draw.text((x0, _HEIGHT - _BOTTOM + 6), label, fill=(0, 0, 0))
    split = _LEFT + len(result.bins) * slot
    draw.line((split, _TOP, split, _HEIGHT - _BOTTOM), fill=(120, 120, 120))
    draw.line((_LEFT, _TOP, _LEFT, _HEIGHT - _BOTTOM), fill=(0, 0, 0))
    draw.line((_LEFT, _HEIGHT - _BOTTOM, _WIDTH - _RIGHT, _HEIGHT - _BOTTOM), fill=(0, 0, 0))
    n = result.ratios.size
    draw.text((_LEFT, 10), f"Layers until the mask is fully valid (mean, +-1 std; {n} masks, cap {max_layers})", fill=0)
    draw.text((_LEFT, 26), "x: hole ratio range (10% bins | seed buckets b0/b1/b2)", fill=(80, 80, 80))
    for s, name in enumerate(names):
        x = _WIDTH - _RIGHT - 110 * (len(names) - s)
        draw.rectangle((x, 12, x + 12, 24), fill=_COLOURS[s % len(_COLOURS)])
        draw.text((x + 16, 12), name, fill=(0, 0, 0))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)
    return out
