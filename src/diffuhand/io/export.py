"""Writing posed hand meshes: OBJ (text, any tool) or glTF binary (.glb), by the file's suffix, atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffuhand.errors import DiffuhandError
from diffuhand.io.files import atomic_path

MESH_FORMATS = ("obj", "glb")


def write_mesh(path: str | Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Vertices (V, 3) mm and triangles (F, 3) -> ``path`` (.obj or .glb; glTF's unit is the metre, so .glb is
    written in metres as the format asks)."""
    import trimesh

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in MESH_FORMATS:
        raise DiffuhandError(f"{path}: mesh format must be one of {', '.join(MESH_FORMATS)}")
    v = np.asarray(vertices, dtype=np.float64) / (1000.0 if fmt == "glb" else 1.0)
    mesh = trimesh.Trimesh(vertices=v, faces=np.asarray(faces), process=False)
    data = mesh.export(file_type=fmt)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data if isinstance(data, bytes) else data.encode())
    return path
