"""Evaluation metrics of the fashion-compatibility literature, in pure numpy.

* Fill-in-the-blank (FITB) accuracy, as on Polyvore Outfits: one row of candidate scores per question.
* Compatibility AUC: ROC AUC of compatible vs incompatible outfit scores (the Mann-Whitney U statistic).
* Retrieval Recall@K and AP@K / mAP@K: in :mod:`recengine.evaluation.ranking`.
* The 5-candidate retrieval accuracy of generated images, scored like FITB.
* :func:`candidate_sets`, which builds FITB-style candidate rows (true id first, then sampled distractors).

Ties never favour the model: a true candidate tied with others for the best score gets fractional credit, and
AUC counts tied positive/negative pairs as 1/2. Bad input raises :class:`~recengine.errors.InvalidInputError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from recengine.errors import InvalidInputError

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
RelevantIds: TypeAlias = AbstractSet[int] | npt.ArrayLike
Rankings: TypeAlias = Sequence[npt.ArrayLike] | npt.NDArray[np.integer[Any]]

_INT64_MAX = np.iinfo(np.int64).max


# --- input checks -----------------------------------------------------------------------------------------------


def _as_array(values: object, name: str) -> npt.NDArray[Any]:
    """``np.asarray`` whose failures (ragged nesting, odd objects) become InvalidInputError."""
    try:
        return np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} is not a numeric array: {exc}") from exc


def _float_array(values: object, name: str, ndim: int) -> FloatArray:
    """Finite-or-infinite float64 array of ``ndim`` dimensions; NaN has no order, so it is refused."""
    arr = _as_array(values, name)
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise InvalidInputError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    out = arr.astype(np.float64)
    nan = np.isnan(out)
    if nan.any():
        first = tuple(int(i) for i in np.argwhere(nan)[0])
        raise InvalidInputError(f"{name} contains {int(nan.sum())} NaN value(s), the first at index {first}")
    return out


def _id_array(values: object, name: str) -> IntArray:
    """1-D int64 array of item ids (an empty list, which numpy makes float, is accepted as no ids)."""
    if isinstance(values, AbstractSet):
        values = list(values)
    arr = _as_array(values, name)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise InvalidInputError(f"{name} must hold integer ids, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and int(arr.max()) > _INT64_MAX:
        raise InvalidInputError(f"{name} holds an id above the int64 range: {int(arr.max())}")
    return arr.astype(np.int64)


def _positive_int(value: object, name: str) -> int:
    """``value`` as a Python int >= 1 (bools are refused: ``k=True`` is a bug, not 1)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    number = int(value)
    if number < 1:
        raise InvalidInputError(f"{name} must be >= 1, got {number}")
    return number


def _score_matrix(scores: npt.ArrayLike, name: str) -> FloatArray:
    """(N, C) float64 scores with at least one question and one candidate."""
    arr = _float_array(scores, name, ndim=2)
    if arr.shape[0] == 0:
        raise InvalidInputError(f"{name} is empty: no questions (shape {arr.shape})")
    if arr.shape[1] == 0:
        raise InvalidInputError(f"{name} has no candidates (shape {arr.shape})")
    return arr


def _correct_indices(correct: npt.ArrayLike | None, shape: tuple[int, ...]) -> IntArray:
    """(N,) int64 column of the true candidate per row; column 0 when ``correct`` is None."""
    n_questions, n_candidates = shape
    if correct is None:
        return np.zeros(n_questions, dtype=np.int64)
    arr = _as_array(correct, "correct")
    if arr.shape != (n_questions,):
        raise InvalidInputError(f"correct must have shape ({n_questions},) to match the scores, got {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise InvalidInputError(f"correct must hold integer column indices, got dtype {arr.dtype}")
    # Negative indices are refused rather than wrapped: -1 is far more often a "missing" marker than "last".
    bad = (arr < 0) | (arr >= n_candidates)
    if bad.any():
        row = int(np.argmax(bad))
        raise InvalidInputError(f"correct[{row}] = {int(arr[row])} is not a candidate column (0 to {n_candidates - 1})")
    return arr.astype(np.int64)


# --- fill in the blank ------------------------------------------------------------------------------------------


def _fitb_credit(scores: FloatArray, correct: npt.ArrayLike | None) -> FloatArray:
    """Per-question credit of validated (N, C) scores."""
    truth = _correct_indices(correct, scores.shape)
    at_max = scores == scores.max(axis=1, keepdims=True)
    ties = at_max.sum(axis=1)
    true_at_max: npt.NDArray[np.bool_] = at_max[np.arange(scores.shape[0]), truth]
    credit: FloatArray = true_at_max / ties
    return credit


def fitb_per_question(scores: npt.ArrayLike, correct: npt.ArrayLike | None = None) -> FloatArray:
    """Fill-in-the-blank credit of each question, with fair tie-breaking.

    A question whose true candidate has the strictly highest score earns 1, one whose true candidate is below
    the maximum earns 0, and one whose true candidate ties with t - 1 other candidates for the maximum earns
    1/t: the probability of picking the true candidate when ties are broken uniformly at random. So a constant
    scorer earns exactly 1/C per question, never the 1 that "argmax picks the first column" would give it.

    Args:
        scores: (N, C) real array, one row per question, one column per candidate; ``-inf``/``inf`` are
            allowed (they order normally), NaN is not.
        correct: (N,) int array, the column of the true candidate in each row (0 <= correct[i] < C);
            None means column 0 for every row.

    Returns:
        (N,) float64 array of credits in [0, 1].

    Raises:
        InvalidInputError: ``scores`` is not 2-D, has no rows or columns, or holds NaN; ``correct`` has the
            wrong shape, is not integer, or names a column outside the scores.
    """
    return _fitb_credit(_score_matrix(scores, "scores"), correct)


def fitb_accuracy(scores: npt.ArrayLike, correct: npt.ArrayLike | None = None) -> float:
    """Fill-in-the-blank accuracy: the mean of :func:`fitb_per_question`.

    Ties are broken fairly, so this is the expected accuracy under uniformly random tie-breaking, and a
    constant scorer gets exactly 1/C.

    Args:
        scores: (N, C) real array, one row per question, one column per candidate (NaN refused).
        correct: (N,) int array, the true candidate's column per row; None means column 0 for every row.

    Returns:
        Accuracy in [0, 1].

    Raises:
        InvalidInputError: As for :func:`fitb_per_question`.
    """
    return float(fitb_per_question(scores, correct).mean())


def retrieval_accuracy(similarities: npt.ArrayLike, correct: npt.ArrayLike | None = None) -> float:
    """Candidate retrieval accuracy of generated images (e.g. 5 candidates: the ground truth + 4 random items).

    Each generated image counts as retrieved when its similarity to the ground-truth item is the highest
    among the candidates, with the same fair tie rule as :func:`fitb_accuracy` (a constant similarity gets
    exactly 1/C).

    Args:
        similarities: (N, C) real array, the similarity of generated image i to candidate j; C >= 2.
        correct: (N,) int array, the ground truth's column per row; None means column 0 for every row.

    Returns:
        Accuracy in [0, 1].

    Raises:
        InvalidInputError: Fewer than 2 candidates, or any problem :func:`fitb_per_question` refuses.
    """
    arr = _score_matrix(similarities, "similarities")
    if arr.shape[1] < 2:
        raise InvalidInputError(f"similarities needs at least 2 candidates per row, got shape {arr.shape}")
    return float(_fitb_credit(arr, correct).mean())


# --- compatibility AUC ------------------------------------------------------------------------------------------


def _average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks of a 1-D array, tied values sharing the mean of their ranks (scipy's "average" method)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts_group = np.ones(values.size, dtype=bool)
    starts_group[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(starts_group)
    ends = np.append(starts[1:], values.size)
    # A group fills 0-based sorted positions start..end-1, i.e. ranks start+1..end, whose mean is this.
    group_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(group_rank, ends - starts)
    return ranks


def compatibility_auc(positive_scores: npt.ArrayLike, negative_scores: npt.ArrayLike) -> float:
    """ROC AUC of compatibility scores: compatible (positive) vs incompatible (negative) outfits.

    Computed exactly as the normalised Mann-Whitney U statistic, the fraction of (positive, negative) pairs
    in which the positive scores higher, a tied pair counting 1/2. Average ranks make it O((n + m) log(n + m))
    instead of O(n m). Perfect separation gives 1.0, reversed 0.0, all scores equal 0.5.

    Args:
        positive_scores: (n,) real array, scores of compatible outfits, n >= 1 (NaN refused).
        negative_scores: (m,) real array, scores of incompatible outfits, m >= 1 (NaN refused).

    Returns:
        AUC in [0, 1].

    Raises:
        InvalidInputError: Either input is empty, not 1-D, not numeric, or holds NaN.
    """
    pos = _float_array(positive_scores, "positive_scores", ndim=1)
    neg = _float_array(negative_scores, "negative_scores", ndim=1)
    for name, arr in (("positive_scores", pos), ("negative_scores", neg)):
        if arr.size == 0:
            raise InvalidInputError(f"{name} is empty: AUC needs at least one positive and one negative")
    n, m = pos.size, neg.size
    ranks = _average_ranks(np.concatenate([pos, neg]))
    u_statistic = float(ranks[:n].sum()) - n * (n + 1) / 2.0
    return u_statistic / (n * m)


# --- candidate sets ---------------------------------------------------------------------------------------------


def _draw_distractors(rng: np.random.Generator, true_id: int, distinct: IntArray, need: int, row: int) -> IntArray:
    """``need`` ids of the sorted, distinct ``distinct`` other than ``true_id``, sampled without replacement."""
    ids: IntArray = distinct[distinct != true_id]
    if ids.size < need:
        raise InvalidInputError(
            f"question {row}: pool has {ids.size} distinct item(s) other than the true id {true_id}, "
            f"{need} needed for {need + 1} candidates"
        )
    if need == 0:
        return ids[:0]
    drawn: IntArray = rng.choice(ids, size=need, replace=False)
    return drawn


def candidate_sets(
    rng: np.random.Generator, true_ids: npt.ArrayLike, pools: Sequence[npt.ArrayLike], n_candidates: int
) -> IntArray:
    """FITB-style candidate rows: the true id in column 0, then distractors sampled from each question's pool.

    Distractors of a row are distinct, never the true id, and drawn without replacement from the distinct ids
    of ``pools[i]`` (e.g. other items of the same category). Rows are drawn in order from ``rng``, so the same
    generator state gives the same result. Scoring these rows needs no shuffling: the fair tie rule of
    :func:`fitb_accuracy` gives column 0 no advantage.

    Args:
        rng: The generator to draw from (advanced in place).
        true_ids: (N,) int array, the true item id of each question, N >= 1.
        pools: N 1-D int arrays, the ids to draw question i's distractors from.
        n_candidates: Candidates per row, >= 1 (the true id included).

    Returns:
        (N, n_candidates) int64 array.

    Raises:
        InvalidInputError: ``rng`` is not a ``numpy.random.Generator``; n_candidates < 1; ``true_ids`` is
            empty or not 1-D integer ids; ``pools`` has a different length; a pool has fewer than
            n_candidates - 1 distinct ids besides the true id (the message names the question index).
    """
    if not isinstance(rng, np.random.Generator):
        raise InvalidInputError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    width = _positive_int(n_candidates, "n_candidates")
    truth = _id_array(true_ids, "true_ids")
    if truth.size == 0:
        raise InvalidInputError("true_ids is empty: no questions to build candidates for")
    if len(pools) != truth.size:
        raise InvalidInputError(f"pools has {len(pools)} entries but true_ids has {truth.size}")
    rows = np.empty((truth.size, width), dtype=np.int64)
    rows[:, 0] = truth
    # np.unique both removes repeated ids and fixes their order, so the draw depends on the pool's ids only.
    # Questions often share one pool object (every item of a category): it is made distinct once.
    distinct: dict[int, IntArray] = {}
    for i, pool in enumerate(pools):
        if id(pool) not in distinct:
            distinct[id(pool)] = np.unique(_id_array(pool, f"pools[{i}]"))
        rows[i, 1:] = _draw_distractors(rng, int(truth[i]), distinct[id(pool)], width - 1, i)
    return rows
