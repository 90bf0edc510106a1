"""``open_dataset(name, root, split)``: one entry point for every reader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from diffuhand.data.dexycb import open_dexycb
from diffuhand.data.freihand import open_freihand
from diffuhand.data.ge2019 import open_ge2019
from diffuhand.data.interhand import open_interhand
from diffuhand.data.rhd import open_rhd
from diffuhand.data.schema import HandDataset
from diffuhand.data.stb import open_stb
from diffuhand.data.synth import open_synth
from diffuhand.errors import DiffuhandError


def _readers() -> dict[str, tuple[Callable[..., HandDataset], str]]:

    return {
        "rhd": (open_rhd, "evaluation"),
        "stb": (open_stb, "test"),
        "freihand": (open_freihand, "training"),
        "interhand26m": (open_interhand, "test"),
        "ge-realworld": (open_ge2019, "dev"),
        "dexycb": (open_dexycb, "all"),
        "synth": (open_synth, "all"),
    }


DATASETS = ("rhd", "stb", "freihand", "interhand26m", "ge-realworld", "dexycb", "synth")


def open_dataset(name: str, root: str | Path, split: str | None = None, **options) -> HandDataset:
    """Open data set ``name`` (one of :data:`DATASETS`) from its published layout under ``root``.

    ``split`` defaults to the benchmark's test split; ``options`` go to the reader (e.g. ``load_images=False``,
    RHD's ``hands="all"``, STB's ``cameras``).
    """
    readers = _readers()
    if name not in readers:
        raise DiffuhandError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    if not Path(root).exists():
        raise DiffuhandError(f"{root}: no such folder")
    fn, default = readers[name]
    return fn(root, split or default, **options)
