"""Hands in a video: which detections of a video's frames are one physical hand (a track), and which side it is.

MediaPipe's tracker follows a hand from frame to frame but now and then flips its left/right label (the bundled
``demo/motion.mp4`` shows one right hand, labelled left in 8 of its 41 detections). Grouping a video's hands by label
then makes two tracks of one hand, and each bridges the other's frames: a phantom second hand. Here detections
are linked into tracks by where they are (box centres, in units of the box size), and each track's side is the
score-weighted vote of its labels; tracks seen in the same frame get different sides where they can.

Boxes are (x, y, side) or (x, y, w, h) pixels; frames are lists of per-frame items, in order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: two detections of one frame are one hand when their 21 keypoints lie this close on average (fraction of the
#: box side): MediaPipe's two hands of one frame are otherwise at least a hand's width apart
DUPLICATE_DISTANCE = 0.15
#: a detection continues a track when its box centre is within this many box sides of the track's last box per
#: frame between them (from one frame to the next a hand moves a fraction of its size: 0.23 at most in the bundled
#: and sign-language clips) ...
LINK_SHIFT_PER_FRAME = 0.6
#: ... and never more than this (the sign-language clip's hand moves 1.21 box sides across a 3-frame gap) ...
MAX_LINK_SHIFT = 1.5
#: ... and the track was seen at most this many frames before; a longer gap starts a new track
MAX_LINK_GAP = 10
SIDES = ("left", "right")


def box_centre_side(box: np.ndarray) -> tuple[np.ndarray, float]:
    """(centre (2,), side) of a square box (x, y, side) or a box (x, y, w, h) (side: the mean of w and h)."""
    b = np.asarray(box, dtype=np.float64)
    w, h = (b[2], b[2]) if len(b) == 3 else (b[2], b[3])
    return np.array([b[0] + w / 2, b[1] + h / 2]), float(w + h) / 2


def box_shift(a: np.ndarray, b: np.ndarray) -> float:
    """The distance between the centres of boxes ``a`` and ``b`` in units of their mean side (inf if unknown)."""
    (ca, sa), (cb, sb) = box_centre_side(a), box_centre_side(b)
    d = float(np.linalg.norm(ca - cb)) / max((sa + sb) / 2, 1e-9)
    return d if np.isfinite(d) else float("inf")


def same_hand(shift: float, frames_apart: int) -> bool:
    """Whether boxes :func:`box_shift` ``shift`` apart, ``frames_apart`` frames apart, can show one moving hand."""
    return shift <= min(MAX_LINK_SHIFT, LINK_SHIFT_PER_FRAME * max(frames_apart, 1))


def distinct_hands(keypoints: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[int]:
    """Indices of the detections of one frame to keep, in order: a detection whose (21, 2) keypoints nearly
    coincide with an earlier one's (a second detection of the same hand) is left out. Pass them most confident
    first."""
    keep: list[int] = []
    for i, (uv, box) in enumerate(zip(keypoints, boxes)):
        side = box_centre_side(box)[1]
        same = any(np.linalg.norm(uv - keypoints[k], axis=-1).mean() < DUPLICATE_DISTANCE * side for k in keep)
        if not same:
            keep.append(i)
    return keep


def link_tracks(boxes: Sequence[Sequence[np.ndarray]]) -> list[list[int]]:
    """Per frame, the track number of each of its boxes (numbered 0, 1, .. in order of appearance).

    Frame by frame, the pairs (box, track seen in the last :data:`MAX_LINK_GAP` frames) are taken nearest first
    (:func:`box_shift` to the track's last box) where :func:`same_hand`; a track gets at most one box of a frame,
    and a box no track takes starts a new one."""
    last: dict[int, tuple[int, np.ndarray]] = {}  # track -> (frame, box) where it was seen last
    out: list[list[int]] = []
    for i, frame in enumerate(boxes):
        ids = [-1] * len(frame)
        live = [t for t, (seen, _) in last.items() if i - seen <= MAX_LINK_GAP]
        pairs = sorted((box_shift(last[t][1], b), k, t) for k, b in enumerate(frame) for t in live)
        taken: set[int] = set()
        for shift, k, t in pairs:
            if ids[k] < 0 and t not in taken and same_hand(shift, i - last[t][0]):
                ids[k] = t
                taken.add(t)
        for k, b in enumerate(frame):
            if ids[k] < 0:
                ids[k] = len(last)
            last[ids[k]] = (i, np.asarray(b))
        out.append(ids)
    return out


def track_sides(
    ids: Sequence[Sequence[int]], labels: Sequence[Sequence[str]], scores: Sequence[Sequence[float]]
) -> dict[int, str]:
    """Each track's side: the one its detections give the higher summed probability (a label with score s counts
    s for its side and 1 - s for the other: MediaPipe's score is its confidence in the label).

    Tracks seen in the same frame are two hands: the most certain track (largest margin of its vote) chooses first,
    and a track whose side a track it was seen with already has takes the other side."""
    vote: dict[int, np.ndarray] = {}
    together: dict[int, set[int]] = {}
    for frame_ids, frame_labels, frame_scores in zip(ids, labels, scores):
        for t, label, s in zip(frame_ids, frame_labels, frame_scores):
            p = np.array([s, 1.0 - s]) if label == SIDES[0] else np.array([1.0 - s, s])
            vote[t] = vote.get(t, np.zeros(2)) + p
            together.setdefault(t, set()).update(u for u in frame_ids if u != t)
    sides: dict[int, str] = {}
    for t in sorted(vote, key=lambda t: -abs(vote[t][0] - vote[t][1])):
        wanted = SIDES[int(vote[t][1] > vote[t][0])]
        taken = {sides[u] for u in together[t] if u in sides}
        other = SIDES[1 - SIDES.index(wanted)]
        sides[t] = other if wanted in taken and other not in taken else wanted
    return sides


def one_result_per_hand(hands: list, references: Sequence[tuple[np.ndarray, int] | None]) -> list:
    """The hands of one frame without a second result for one physical hand or side.

    ``hands``: results with ``status``, ``handedness``, ``score`` and ``box``; ``references``: per hand, for a
    bridged one, (the box of its track in the nearest frame where it was found, how many frames away), None for a
    found one. A bridged hand is dropped where a found hand of the frame could be it (:func:`same_hand`: the same
    hand, re-found in another track); of two hands of one side the found one, then the more confident one, stays."""
    found = [h for h in hands if h.status != "bridged"]

    def stands(h, ref) -> bool:
        return ref is None or not any(same_hand(box_shift(ref[0], f.box), ref[1]) for f in found)

    kept = [h for h, ref in zip(hands, references) if h.status != "bridged" or stands(h, ref)]
    best: dict[str, object] = {}
    for h in sorted(kept, key=lambda h: (h.status == "bridged", -h.score)):
        best.setdefault(h.handedness, h)
    return [h for h in kept if best.get(h.handedness) is h]
