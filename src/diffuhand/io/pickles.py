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
NUMPY_CLASSES = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # protocol-2 pickles written by Python 3 store bytes through it; it only encodes text
    }
)


class StateOnly:
    """Stands in for a class a pickle names but that must not (or cannot) be imported, e.g. chumpy's ``Ch`` (which
    breaks on Python 3.11) or scipy's sparse matrices: it keeps the pickled state (``self.state``) and runs
    nothing of the original class."""

    def __init__(self, *args):
        self.args, self.state = args, None

    def __setstate__(self, state) -> None:
        self.state = state


def _stand_in(module: str, name: str) -> type:
    return type(name, (StateOnly,), {"__module__": f"stand-in:{module}"})


class RestrictedUnpickler(pickle.Unpickler):
    """Admits ``allowed`` (module, name) pairs; classes of the ``substitute`` modules (prefixes) become
    :class:`StateOnly` stand-ins; anything else is refused."""

    def __init__(self, file, allowed: frozenset[tuple[str, str]], substitute: tuple[str, ...] = (), **kw):
        super().__init__(file, **kw)
        self.allowed, self.substitute = allowed, substitute

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.allowed:
            return super().find_class(module, name)
        if any(module == p or module.startswith(p + ".") for p in self.substitute):
            return _stand_in(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_restricted(
    path: str | Path,
    allowed: frozenset[tuple[str, str]] = NUMPY_CLASSES,
    substitute: tuple[str, ...] = (),
    what: str = "annotation pickle",
) -> Any:
    """Unpickle ``path`` admitting only ``allowed`` (module, name) pairs and state-only stand-ins for the classes
    of the ``substitute`` modules; Python-2 pickles are read as latin-1."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return RestrictedUnpickler(fh, allowed, substitute, encoding="latin1").load()
    except FileNotFoundError:
        raise DiffuhandError(f"{path}: no such file") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise DiffuhandError(f"{path}: not a readable {what} ({str(exc)[:100] or exc.__class__.__name__})") from None
