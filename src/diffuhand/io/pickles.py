"""A restricted unpickler for the published formats that are pickles (RHD annotations, MANO models).

Only the classes a format needs are admitted; anything else (os.system, builtins.eval, ...) is refused, so a
hostile file cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from diffuhand.errors import DiffuhandError

#: numpy's array and scalar reconstruction, under its 1.x and 2.x module names
NUMPY_CLASSES = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # protocol-2 pickles written by Python 3 store bytes through it; it only encodes text
})  # fmt: skip


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, allowed: frozenset[tuple[str, str]], **kw):
        super().__init__(file, **kw)
        self.allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_restricted(path: str | Path, allowed: frozenset[tuple[str, str]] = NUMPY_CLASSES) -> Any:
    """Unpickle ``path`` admitting only ``allowed`` (module, name) pairs; Python-2 pickles are read as latin-1."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return RestrictedUnpickler(fh, allowed, encoding="latin1").load()
    except FileNotFoundError:
        raise DiffuhandError(f"{path}: no such file") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise DiffuhandError(f"{path}: not a readable annotation pickle ({str(exc)[:100] or exc.__class__.__name__})") from None
