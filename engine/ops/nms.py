"""Non-maximum suppression (TF.js ``tf.image.nonMaxSuppression`` and its ``Async``,
``WithScore`` and ``Padded`` forms), exported as ``tw.image.non_max_suppression`` etc.

How many boxes survive depends on the data, so, as TF.js's CPU kernel and its async ops do,
the boxes and scores are read back to the host and the selection runs there, as a port of
TF.js 4.22's ``nonMaxSuppressionImpl_`` (``tfjs-core/src/backends/non_max_suppression_impl.ts``):

- candidates are the boxes with ``score > score_threshold``, taken highest score first; equal
  scores go lowest box index first;
- a candidate is dropped when its IoU with an already selected box is ``>= iou_threshold``
  (IoU is 0 when either box has no area; corners may come in either order);
- with ``soft_nms_sigma > 0`` (soft-NMS) each selected box scales a candidate's score by
  ``exp(-0.5 * iou**2 / sigma)`` instead; a candidate whose score drops goes back into the
  queue (or out, at ``<= score_threshold``) and is selected when it is the best again;
- ``max_output_size`` is first clipped to the number of boxes; padding (``Padded``) fills with
  index 0 up to that clipped size.

The arithmetic is JS's: float64 on the float32 (or int32) values, so the selected indices are
TF.js's exactly. None of these ops has a gradient (TF.js registers none: the outputs are
indices, and ``selected_scores`` is a new tensor). The ``*_async`` names are TF.js's async
functions; every op here is synchronous, so they return the same values directly.
"""

from __future__ import annotations

import bisect
import math
import numbers

import numpy as np

from engine import dtypes
from engine.ops.core import as_tensor, tensor
from engine.tensor import Tensor
from engine.typing import TensorLike

__all__ = [
    "non_max_suppression",
    "non_max_suppression_async",
    "non_max_suppression_padded",
    "non_max_suppression_padded_async",
    "non_max_suppression_with_score",
    "non_max_suppression_with_score_async",
]


def _real(value: object, name: str, op: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a number, got {value!r} ({type(value).__name__})")
    return float(value)


def _checked(
    boxes: TensorLike,
    scores: TensorLike,
    max_output_size: int,
    iou_threshold: float,
    score_threshold: float,
    soft_nms_sigma: float,
    op: str,
) -> tuple[np.ndarray, np.ndarray, int, float, float, float]:
    """TF.js's ``nonMaxSuppSanityCheck`` (plus dtype and argument-type checks), then the boxes
    and scores as float64 host arrays; ``max_output_size`` comes back clipped to the box
    count, as TF.js."""
    b, s = as_tensor(boxes), as_tensor(scores)
    for name, t in (("boxes", b), ("scores", s)):
        if t.dtype == "bool":
            raise TypeError(f"{op}: {name} must be float32 (or int32), got dtype bool")
    if b.rank != 2 or b.shape[1] != 4:
        raise ValueError(f"{op}: boxes must have shape (num_boxes, 4), got {b.shape}")
    if s.rank != 1 or s.shape[0] != b.shape[0]:
        raise ValueError(
            f"{op}: scores must have shape ({b.shape[0]},) (one per box of boxes {b.shape}), "
            f"got {s.shape}"
        )
    n = dtypes.as_int(max_output_size, f"{op}: max_output_size", minimum=0)
    iou = _real(iou_threshold, "iou_threshold", op)
    if not 0.0 <= iou <= 1.0:
        raise ValueError(f"{op}: iou_threshold must be in [0, 1], got {iou_threshold!r}")
    thr = _real(score_threshold, "score_threshold", op)
    if math.isnan(thr):
        raise ValueError(f"{op}: score_threshold must be a number or -inf, got NaN")
    sigma = _real(soft_nms_sigma, "soft_nms_sigma", op)
    if not 0.0 <= sigma <= 1.0:
        raise ValueError(f"{op}: soft_nms_sigma must be in [0, 1], got {soft_nms_sigma!r}")
    bx = b.numpy().astype(np.float64).reshape(-1, 4)
    sc = s.numpy().astype(np.float64).reshape(-1)
    return bx, sc, min(n, bx.shape[0]), iou, thr, sigma


def _select(
    boxes: np.ndarray,
    scores: np.ndarray,
    max_output_size: int,
    iou_threshold: float,
    score_threshold: float,
    soft_nms_sigma: float,
) -> tuple[list[int], list[float]]:
    """TF.js's ``nonMaxSuppressionImpl_``: the selected box indices and their (soft-NMS
    adjusted) scores, in selection order."""
    ymin = np.minimum(boxes[:, 0], boxes[:, 2])
    xmin = np.minimum(boxes[:, 1], boxes[:, 3])
    ymax = np.maximum(boxes[:, 0], boxes[:, 2])
    xmax = np.maximum(boxes[:, 1], boxes[:, 3])
    area = (ymax - ymin) * (xmax - xmin)

    def ious(i: int, js: list[int]) -> np.ndarray:
        j = np.asarray(js, dtype=np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            inter = np.maximum(np.minimum(ymax[i], ymax[j]) - np.maximum(ymin[i], ymin[j]), 0.0)
            inter = inter * np.maximum(
                np.minimum(xmax[i], xmax[j]) - np.maximum(xmin[i], xmin[j]), 0.0
            )
            out = inter / (area[i] + area[j] - inter)
        return np.where((area[i] <= 0) | (area[j] <= 0), 0.0, out)

    # Ascending by (score, -index): pop() takes the best score, the lowest index among ties.
    queue = sorted(
        (float(scores[i]), -i, 0) for i in range(len(scores)) if scores[i] > score_threshold
    )
    scale = -0.5 / soft_nms_sigma if soft_nms_sigma > 0 else 0.0
    selected: list[int] = []
    selected_scores: list[float] = []
    while len(selected) < max_output_size and queue:
        score, neg_index, begin = queue.pop()
        index, original = -neg_index, score
        if original < score_threshold:
            break
        ignore = False
        if len(selected) > begin:
            overlaps = ious(index, selected[begin:])
            bad = (overlaps >= iou_threshold) | np.isnan(overlaps)
            if scale == 0.0 and not bad.any():
                pass  # every weight is exp(0) = 1: the score stays, the candidate is selected
            elif scale == 0.0 and overlaps[np.flatnonzero(bad)[-1]] >= iou_threshold:
                ignore = True  # the backward scan meets this overlap before any NaN weight
            else:
                for iou in overlaps[::-1].tolist():  # newest selection first, as TF.js
                    if iou >= iou_threshold:
                        ignore = True
                        break
                    score *= math.exp(scale * iou * iou) if iou <= iou_threshold else 0.0
                    if score <= score_threshold:
                        break
        begin = len(selected)
        if ignore:
            continue
        if score == original:
            selected.append(index)
            selected_scores.append(score)
        elif score > score_threshold:
            bisect.insort_left(queue, (score, neg_index, begin))
    return selected, selected_scores


def _indices(values: list[int]) -> Tensor:
    return tensor(np.asarray(values, dtype=np.int32).reshape(-1), dtype="int32")


def non_max_suppression(
    boxes: TensorLike,
    scores: TensorLike,
    max_output_size: int,
    iou_threshold: float = 0.5,
    score_threshold: float = float("-inf"),
) -> Tensor:
    """Select boxes greedily by score, dropping those that overlap a selected one too much
    (TF.js ``image.nonMaxSuppression``).

    Runs on the host (the module docstring gives the exact rules); no gradient.

    Args:
        boxes: ``(num_boxes, 4)`` corners ``[y1, x1, y2, x2]`` (either corner order).
        scores: ``(num_boxes,)`` scores.
        max_output_size: The most boxes to select (an int >= 0).
        iou_threshold: A box whose IoU with a selected box is ``>=`` this is dropped; in
            ``[0, 1]``.
        score_threshold: Only boxes scoring ``>`` this are considered (default: all).

    Returns:
        An int32 Tensor of the selected box indices, best first (at most
        ``min(max_output_size, num_boxes)`` of them).

    Raises:
        ValueError: Bad shapes, a negative ``max_output_size``, ``iou_threshold`` outside
            ``[0, 1]``.
        TypeError: bool boxes or scores, or a threshold that is not a number.

    Example:

    >>> boxes = tw.tensor([[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 10, 1, 11]])
    >>> tw.image.non_max_suppression(boxes, tw.tensor([0.9, 0.75, 0.6]), 3).tolist()
    [0, 2]
    """
    bx, sc, n, iou, thr, _ = _checked(
        boxes, scores, max_output_size, iou_threshold, score_threshold, 0.0, "non_max_suppression"
    )
    return _indices(_select(bx, sc, n, iou, thr, 0.0)[0])


def non_max_suppression_async(
    boxes: TensorLike,
    scores: TensorLike,
    max_output_size: int,
    iou_threshold: float = 0.5,
    score_threshold: float = float("-inf"),
) -> Tensor:
    """TF.js's ``image.nonMaxSuppressionAsync``, synchronous here: ``non_max_suppression``.

    Args:
        boxes: ``(num_boxes, 4)`` corners ``[y1, x1, y2, x2]``.
        scores: ``(num_boxes,)`` scores.
        max_output_size: The most boxes to select.
        iou_threshold: The IoU at which a box is dropped, in ``[0, 1]``.
        score_threshold: Only boxes scoring ``>`` this are considered.

    Returns:
        An int32 Tensor of the selected box indices, best first.

    Example:

    >>> boxes = tw.tensor([[0, 0, 1, 1], [0, 0.1, 1, 1.1]])
    >>> tw.image.non_max_suppression_async(boxes, tw.tensor([0.5, 0.7]), 2).tolist()
    [1]
    """
    return non_max_suppression(boxes, scores, max_output_size, iou_threshold, score_threshold)


def non_max_suppression_with_score(
    boxes: TensorLike,
    scores: TensorLike,
    max_output_size: int,
    iou_threshold: float = 0.5,
    score_threshold: float = float("-inf"),
    soft_nms_sigma: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """Non-maximum suppression that also returns the scores, with soft-NMS (TF.js
    ``image.nonMaxSuppressionWithScore``).

    With ``soft_nms_sigma > 0`` an overlapping box is not dropped (unless its IoU reaches
    ``iou_threshold``) but its score is multiplied by ``exp(-0.5 * iou**2 / soft_nms_sigma)``
    for each selected box it overlaps; it is selected, with that lower score, when it is the
    best remaining box and still above ``score_threshold``. Runs on the host; no gradient.

    Args:
        boxes: ``(num_boxes, 4)`` corners ``[y1, x1, y2, x2]``.
        scores: ``(num_boxes,)`` scores.
        max_output_size: The most boxes to select (an int >= 0).
        iou_threshold: The IoU at which a box is dropped, in ``[0, 1]``.
        score_threshold: Only boxes scoring ``>`` this are considered (and kept).
        soft_nms_sigma: The soft-NMS sigma in ``[0, 1]``; 0 is plain NMS.

    Returns:
        ``(selected_indices, selected_scores)`` (TF.js's ``{selectedIndices,
        selectedScores}``): int32 indices and float32 scores, in selection order.

    Raises:
        ValueError: Bad shapes, or a threshold or sigma out of range.
        TypeError: bool boxes or scores, or a threshold that is not a number.

    Example:

    >>> boxes = tw.tensor([[0, 0, 1, 1], [0, 0.5, 1, 1.5]])
    >>> idx, sc = tw.image.non_max_suppression_with_score(
    ...     boxes, tw.tensor([0.9, 0.8]), 2, 1.0, 0.0, 0.5)
    >>> idx.tolist(), [round(v, 4) for v in sc.tolist()]
    ([0, 1], [0.9, 0.7159])
    """
    bx, sc, n, iou, thr, sigma = _checked(
        boxes,
        scores,
        max_output_size,
        iou_threshold,
        score_threshold,
        soft_nms_sigma,
        "non_max_suppression_with_score",
    )
    idx, kept = _select(bx, sc, n, iou, thr, sigma)
    return _indices(idx), tensor(np.asarray(kept, dtype=np.float32).reshape(-1), dtype="float32")


def non_max_suppression_with_score_async(
    boxes: TensorLike,
    scores: TensorLike,
    max_output_size: int,
    iou_threshold: float = 0.5,
    score_threshold: float = float("-inf"),
    soft_nms_sigma: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """TF.js's ``image.nonMaxSuppressionWithScoreAsync``, synchronous here:
    ``non_max_suppression_with_score``.

    Args:
        boxes: ``(num_boxes, 4)`` corners ``[y1, x1, y2, x2]``.
        scores: ``(num_boxes,)`` scores.
        max_output_size: The most boxes to select.
        iou_threshold: The IoU at which a box is dropped, in ``[0, 1]``.
        score_threshold: Only boxes scoring ``>`` this are considered.
        soft_nms_sigma: The soft-NMS sigma in ``[0, 1]``.

    Returns:
        ``(selected_indices, selected_scores)``.

    Example:

    >>> idx, sc = tw.image.non_max_suppression_with_score_async(
    ...     tw.tensor([[0, 0, 1, 1]]), tw.tensor([0.5]), 1)
    >>> idx.tolist(), sc.tolist()
    ([0], [0.5])
    """
    return non_max_suppression_with_score(
        boxes, scores, max_output_size, iou_threshold, score_threshold, soft_nms_sigma
    )


def non_max_suppression_padded(
    boxes: TensorLike,
    scores: TensorLike,
    max_output_size: int,
    iou_threshold: float = 0.5,
    score_threshold: float = float("-inf"),
    pad_to_max_output_size: bool = False,
) -> tuple[Tensor, Tensor]:
    """Non-maximum suppression with a fixed-size output (TF.js
    ``image.nonMaxSuppressionPadded``).

    As ``non_max_suppression``; with ``pad_to_max_output_size`` the indices are padded with
    0 up to ``min(max_output_size, num_boxes)`` (TF.js clips first, so there is never more
    padding than boxes). Runs on the host; no gradient.

    Args:
        boxes: ``(num_boxes, 4)`` corners ``[y1, x1, y2, x2]``.
        scores: ``(num_boxes,)`` scores.
        max_output_size: The most boxes to select (an int >= 0).
        iou_threshold: The IoU at which a box is dropped, in ``[0, 1]``.
        score_threshold: Only boxes scoring ``>`` this are considered.
        pad_to_max_output_size: Pad the indices with zeros to the (clipped) maximum.

    Returns:
        ``(selected_indices, valid_outputs)`` (TF.js's ``{selectedIndices,
        validOutputs}``): int32 indices, the valid ones first, and an int32 scalar counting
        them.

    Raises:
        ValueError: Bad shapes, or a threshold out of range.
        TypeError: bool boxes or scores, or a threshold that is not a number.

    Example:

    >>> boxes = tw.tensor([[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 10, 1, 11]])
    >>> idx, valid = tw.image.non_max_suppression_padded(
    ...     boxes, tw.tensor([0.9, 0.75, 0.6]), 3, pad_to_max_output_size=True)
    >>> idx.tolist(), valid.item()
    ([0, 2, 0], 2)
    """
    if not isinstance(pad_to_max_output_size, (bool, np.bool_)):
        raise TypeError(
            f"non_max_suppression_padded: pad_to_max_output_size must be a bool, got "
            f"{pad_to_max_output_size!r}"
        )
    bx, sc, n, iou, thr, _ = _checked(
        boxes,
        scores,
        max_output_size,
        iou_threshold,
        score_threshold,
        0.0,
        "non_max_suppression_padded",
    )
    idx = _select(bx, sc, n, iou, thr, 0.0)[0]
    valid = len(idx)
    if pad_to_max_output_size:
        idx = idx + [0] * (n - valid)
    return _indices(idx), tensor(valid, dtype="int32")


def non_max_suppression_padded_async(
    boxes: TensorLike,
    scores: TensorLike,
    max_output_size: int,
    iou_threshold: float = 0.5,
    score_threshold: float = float("-inf"),
    pad_to_max_output_size: bool = False,
) -> tuple[Tensor, Tensor]:
    """TF.js's ``image.nonMaxSuppressionPaddedAsync``, synchronous here:
    ``non_max_suppression_padded``.

    Args:
        boxes: ``(num_boxes, 4)`` corners ``[y1, x1, y2, x2]``.
        scores: ``(num_boxes,)`` scores.
        max_output_size: The most boxes to select.
        iou_threshold: The IoU at which a box is dropped, in ``[0, 1]``.
        score_threshold: Only boxes scoring ``>`` this are considered.
        pad_to_max_output_size: Pad the indices with zeros to the (clipped) maximum.

    Returns:
        ``(selected_indices, valid_outputs)``.

    Example:

    >>> idx, valid = tw.image.non_max_suppression_padded_async(
    ...     tw.tensor([[0, 0, 1, 1]]), tw.tensor([0.5]), 4, 0.5, 0.6, True)
    >>> idx.tolist(), valid.item()
    ([0], 0)
    """
    return non_max_suppression_padded(
        boxes, scores, max_output_size, iou_threshold, score_threshold, pad_to_max_output_size
    )
