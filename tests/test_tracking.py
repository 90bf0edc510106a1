"""Tracks of hands in a video: identity by position (MediaPipe's left/right label flips now and then), side by
a score-weighted vote, one result per physical hand."""

from types import SimpleNamespace

import numpy as np

from diffuhand.tracking import MAX_LINK_GAP, distinct_hands, link_tracks, one_result_per_hand, track_sides


def moving_box(i: int, x0: float = 100.0, side: float = 80.0) -> np.ndarray:
    return np.array([x0 + 5.0 * i, 50.0, side])  # 5 px a frame: a slow hand


def test_one_hand_is_one_track_whatever_its_labels():
    boxes = [[moving_box(i)] for i in range(12)]
    boxes[4] = boxes[5] = []  # the detector lost it for two frames
    labels = [["right" if i % 3 else "left" for _ in f] for i, f in enumerate(boxes)]  # flips every third frame
    scores = [[0.8 for _ in f] for f in boxes]
    ids = link_tracks(boxes)
    assert {t for f in ids for t in f} == {0}
    assert track_sides(ids, labels, scores) == {0: "right"}


def test_two_hands_are_two_tracks_with_two_sides():
    boxes = [[moving_box(i), moving_box(i, x0=400.0)] for i in range(6)]
    ids = link_tracks(boxes)
    assert all(f == [0, 1] for f in ids)
    # both mostly labelled right (a common confusion of crossed hands): the less certain track takes the other side
    labels = [["right", "right"] for _ in boxes]
    scores = [[0.95, 0.6] for _ in boxes]
    assert track_sides(ids, labels, scores) == {0: "right", 1: "left"}
    # a hand far from where the other was is not it, even right after the other was last seen
    ids = link_tracks([[moving_box(0)], [moving_box(1, x0=400.0)]])
    assert ids == [[0], [1]]


def test_a_long_gap_starts_a_new_track():
    boxes = [[moving_box(0)]] + [[] for _ in range(MAX_LINK_GAP + 1)] + [[moving_box(0)]]
    ids = link_tracks(boxes)
    assert ids[0] == [0] and ids[-1] == [1]


def test_a_score_weighted_vote():
    # three unsure "left" labels lose to two sure "right" ones: P(right) = 3 * 0.45 + 2 * 0.99 > 1.5 + 0.02
    ids = [[0]] * 5
    labels = [["left"], ["left"], ["left"], ["right"], ["right"]]
    scores = [[0.55], [0.55], [0.55], [0.99], [0.99]]
    assert track_sides(ids, labels, scores) == {0: "right"}


def test_a_second_detection_of_one_hand_is_dropped():
    uv = np.random.default_rng(0).uniform(100, 180, (21, 2))
    box = np.array([90.0, 90.0, 100.0])
    other = uv + [300.0, 0.0]
    assert distinct_hands([uv, uv + 2.0, other], [box, box + [2.0, 2.0, 0.0], box + [300.0, 0, 0]]) == [0, 2]


def test_one_result_per_physical_hand_and_side():
    def hand(side, status, box, score=0.9):
        return SimpleNamespace(handedness=side, status=status, box=np.asarray(box, float), score=score)

    found = hand("right", "tracked", [100, 50, 80, 80])
    phantom = hand("left", "bridged", [np.nan] * 4, 0.0)  # another track's hand, bridged where this one is
    elsewhere = hand("left", "bridged", [np.nan] * 4, 0.0)
    assert one_result_per_hand([found, phantom], [None, (np.array([104.0, 50, 80]), 1)]) == [found]
    assert one_result_per_hand([found, elsewhere], [None, (np.array([400.0, 50, 80]), 1)]) == [found, elsewhere]
    twin = hand("right", "bridged", [np.nan] * 4, 0.0)
    assert one_result_per_hand([twin, found], [(np.array([400.0, 50, 80]), 2), None]) == [found]
