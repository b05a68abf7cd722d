"""The stylist rules: recengine's documented STAND-IN for real outfit compatibility.

No outfits with images exist for the Myntra catalogue, so simulated users compose outfits with these rules.
They read item metadata only (gender, usage, season, base colour); the models trained on the outfits see only
pixels, never these labels. Everything here is a modelling choice written down so it can be judged, not a
fact about fashion.

Rules, each a weight in (0, 1] for a PAIR of items (an outfit's compatibility with a new item is the product
over the items already in it):

* **Gender** is a hard filter: a men's outfit takes Men and Unisex items, a women's outfit Women and Unisex.
  Kids' items (Boys, Girls) are left out of simulated adult outfits.
* **Usage**: same usage 1.0; neighbours combine (Casual with Smart Casual or Travel 0.7-0.8, Formal with Smart
  Casual 0.7, Ethnic with Party 0.5); distant ones are rare (Formal with Sports 0.02, Ethnic with Sports 0.02).
* **Season**: items of the same season bucket (warm: Summer/Spring, cold: Fall/Winter) 1.0; Summer with
  Winter 0.2; the rest 0.5-0.6.
* **Colour harmony**: colours fall into families. Neutrals (black, white, greys, navy, beige, browns,
  metallics...) combine freely with everything (1.0). Two items of the same non-neutral family are tonal
  (0.8). Complementary or classic pairs (blue with orange, yellow or pink; green with yellow; purple with
  green) 0.5. Known clashes (red with pink, orange or green; pink with orange or green; purple with yellow or
  orange) are rare: 0.05-0.15. Any other pair of non-neutral families 0.3; "Multi" with a non-neutral 0.2.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

NEUTRAL = "neutral"
COLOUR_FAMILY = {
    **dict.fromkeys(
        ["Black", "White", "Grey", "Navy Blue", "Beige", "Brown", "Cream", "Off White", "Charcoal", "Grey Melange",
         "Khaki", "Tan", "Skin", "Nude", "Taupe", "Coffee Brown", "Mushroom Brown", "Silver", "Steel", "Metallic",
         "Gold", "Bronze", "Copper"],
        NEUTRAL,
    ),
    **dict.fromkeys(["Red", "Maroon", "Burgundy", "Rust"], "red"),
    **dict.fromkeys(["Pink", "Magenta", "Rose", "Peach"], "pink"),
    **dict.fromkeys(["Purple", "Lavender", "Mauve"], "purple"),
    **dict.fromkeys(["Blue", "Turquoise Blue", "Teal"], "blue"),
    **dict.fromkeys(["Green", "Olive", "Sea Green", "Lime Green", "Fluorescent Green"], "green"),
    **dict.fromkeys(["Yellow", "Mustard"], "yellow"),
    **dict.fromkeys(["Orange"], "orange"),
    **dict.fromkeys(["Multi"], "multi"),
}  # fmt: skip
FAMILIES = (NEUTRAL, "red", "pink", "purple", "blue", "green", "yellow", "orange", "multi")
_GOOD_PAIRS = {("blue", "orange"), ("blue", "yellow"), ("blue", "pink"), ("green", "yellow"), ("purple", "green")}
_CLASHES = {
    ("red", "pink"): 0.05, ("red", "orange"): 0.1, ("red", "green"): 0.05, ("pink", "orange"): 0.1,
    ("pink", "green"): 0.15, ("purple", "yellow"): 0.1, ("purple", "orange"): 0.1, ("red", "purple"): 0.15,
}  # fmt: skip

USAGES = ("Casual", "Smart Casual", "Formal", "Sports", "Ethnic", "Party", "Travel")
_USAGE_PAIRS = {
    ("Casual", "Smart Casual"): 0.7, ("Casual", "Travel"): 0.8, ("Casual", "Party"): 0.4, ("Casual", "Sports"): 0.25,
    ("Casual", "Formal"): 0.15, ("Casual", "Ethnic"): 0.2, ("Smart Casual", "Formal"): 0.7,
    ("Smart Casual", "Party"): 0.5, ("Smart Casual", "Travel"): 0.5, ("Smart Casual", "Sports"): 0.1,
    ("Smart Casual", "Ethnic"): 0.15, ("Formal", "Party"): 0.5, ("Formal", "Sports"): 0.02, ("Formal", "Ethnic"): 0.1,
    ("Formal", "Travel"): 0.2, ("Sports", "Travel"): 0.5, ("Sports", "Ethnic"): 0.02, ("Sports", "Party"): 0.05,
    ("Ethnic", "Party"): 0.5, ("Ethnic", "Travel"): 0.2, ("Party", "Travel"): 0.3,
}  # fmt: skip

SEASONS = ("Summer", "Spring", "Fall", "Winter")
_SEASON_PAIRS = {
    ("Summer", "Spring"): 1.0, ("Fall", "Winter"): 1.0, ("Summer", "Winter"): 0.2, ("Spring", "Fall"): 0.6,
    ("Summer", "Fall"): 0.5, ("Spring", "Winter"): 0.5,
}  # fmt: skip

ADULT_GENDERS = ("Men", "Women")


def _symmetric(names: tuple[str, ...], pairs: dict[tuple[str, str], float], default: float) -> NDArray[np.float64]:
    table = np.full((len(names), len(names)), default)
    np.fill_diagonal(table, 1.0)
    for (a, b), weight in pairs.items():
        i, j = names.index(a), names.index(b)
        table[i, j] = table[j, i] = weight
    return table


def colour_table() -> NDArray[np.float64]:
    """(F, F) pair weights over :data:`FAMILIES`."""
    pairs: dict[tuple[str, str], float] = {(a, b): 0.5 for a, b in _GOOD_PAIRS}
    pairs.update(_CLASHES)
    pairs.update({(NEUTRAL, f): 1.0 for f in FAMILIES})
    pairs.update({("multi", f): 0.2 for f in FAMILIES if f not in (NEUTRAL, "multi")})
    table = _symmetric(FAMILIES, pairs, 0.3)
    for i, family in enumerate(FAMILIES):
        table[i, i] = 1.0 if family == NEUTRAL else 0.8
    return table


def usage_table() -> NDArray[np.float64]:
    """(U, U) pair weights over :data:`USAGES`."""
    return _symmetric(USAGES, _USAGE_PAIRS, 0.1)


def season_table() -> NDArray[np.float64]:
    """(S, S) pair weights over :data:`SEASONS`."""
    return _symmetric(SEASONS, _SEASON_PAIRS, 0.5)


def colour_family(colour: str | None) -> str:
    """Family of a catalogue colour; unknown colours count as neutral (they cannot clash by rule)."""
    return COLOUR_FAMILY.get(colour or "", NEUTRAL)


def usage_code(usage: str | None) -> int:
    """Index into :data:`USAGES`; missing or rare usages (e.g. Home) count as Casual."""
    return USAGES.index(usage) if usage in USAGES else 0


def season_code(season: str | None) -> int:
    """Index into :data:`SEASONS`; a missing season counts as Summer, the catalogue's most common one."""
    return SEASONS.index(season) if season in SEASONS else 0


def pair_weight(
    tables: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
    a: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]],
    b: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]],
) -> NDArray[np.float64]:
    """Rule weight of item pairs given as (colour family, usage, season) code arrays that broadcast together."""
    colour, usage, season = tables
    return colour[a[0], b[0]] * usage[a[1], b[1]] * season[a[2], b[2]]
