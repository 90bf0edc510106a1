"""Training batches: the augmentation of an item changes from epoch to epoch, and a step's batch depends on the
step alone (so a resumed run sees what an uninterrupted one saw)."""

import numpy as np
import torch
from torch.utils.data import DataLoader

from diffuhand.data.schema import HandSample
from diffuhand.train.data import CropSet
from diffuhand.train.loop import StepSampler


class Hands:
    """Four hands in 96 px photos (random pixels), 2D joints on a circle, as a data set of images."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> HandSample:
        rng = np.random.default_rng(i)
        K = np.array([[100.0, 0, 48], [0, 100.0, 48], [0, 0, 1]])
        a = np.linspace(0, 2 * np.pi, 21)
        joints = np.stack([20 * np.cos(a), 20 * np.sin(a), np.full(21, 300.0)], 1)
        joints[5] += [5.0, 0.0, 0.0]  # an anchor bone of non-zero length
        return HandSample(
            joints,
            np.ones(21, bool),
            "right",
            "test",
            i,
            rng.integers(0, 255, (96, 96, 3), dtype=np.uint8),
            K,
            joints[:, :2] / joints[:, 2:] * 100.0 + 48.0,
        )


def batches(start: int, steps: int, data: CropSet) -> list[dict]:
    loader = DataLoader(data, batch_size=2, sampler=StepSampler(len(data), 2, seed=3, start_step=start))
    it = iter(loader)
    return [next(it) for _ in range(steps)]


def test_an_item_is_augmented_differently_in_every_epoch():
    from itertools import islice

    data = CropSet([Hands()], size=32, augment=True, seed=3)
    got = batches(0, 6, data)  # 2 steps an epoch: epochs 0, 1, 2
    drawn = list(islice(iter(StepSampler(len(data), 2, seed=3, start_step=0)), 12))
    items = [int(d[0] if isinstance(d, tuple) else d) for d in drawn]  # the data-set item of each batch row
    rows = [tuple(b[k][j] for k in ("image", "uv")) for b in got for j in range(2)]
    views: dict[int, list] = {}
    for item, row in zip(items, rows):
        views.setdefault(item, []).append(tuple(row))
    assert sorted(views) == [0, 1, 2, 3] and all(len(v) == 3 for v in views.values())  # once an epoch
    for v in views.values():  # never the same crop or pixels twice
        for a in range(3):
            for b in range(a + 1, 3):
                assert not torch.equal(v[a][0], v[b][0]) and not torch.equal(v[a][1], v[b][1])


def test_a_steps_batch_depends_on_the_step_alone():
    data = CropSet([Hands()], size=32, augment=True, seed=3)
    whole = batches(0, 6, data)
    resumed = batches(3, 3, CropSet([Hands()], size=32, augment=True, seed=3))
    for a, b in zip(whole[3:], resumed):
        assert all(torch.equal(a[k], b[k]) for k in a)
