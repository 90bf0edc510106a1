"""Offscreen rendering of posed hands with pyrender on Mesa (EGL, surfaceless; no display, no GPU needed).

Camera frame as everywhere in the project: OpenCV (x right, y down, z forward), millimetres. pyrender's camera
looks down -z with y up, so points enter the scene as (x, -y, -z) in metres.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from diffuhand.errors import DiffuhandError

if TYPE_CHECKING:  # imported when rendering: it needs the GL environment set first
    import pyrender

#: PyOpenGL on Mesa's EGL without a display; a value the user set wins
GL_ENVIRONMENT = {"PYOPENGL_PLATFORM": "egl", "EGL_PLATFORM": "surfaceless"}

_GL = np.diag([1.0, -1.0, -1.0])
#: pyrender shades in linear light and encodes its output with this power (1 / it), not with sRGB's curve
OUTPUT_GAMMA = 2.2


@dataclass
class MeshItem:
    """A triangle mesh in the camera frame: vertices (V, 3) mm, faces (F, 3), colours (V, 3) in [0, 1]; or, with
    ``texture`` (H, W, 3) uint8 sRGB-encoded (as glTF's base colour; :func:`~diffuhand.synth.realism.linear_to_srgb`
    of the colours) and ``uv`` (V, 2) as glTF has them (row 0 of the image at v = 0), coloured by the texture."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    label: int = 0  # > 0: a hand, numbered in the mask; 0: an occluder
    uv: np.ndarray | None = None
    texture: np.ndarray | None = None
    #: glTF's metallic-roughness factors; the defaults are pyrender's for vertex-coloured meshes (a plastic look);
    #: skin and cloth are dielectrics: :data:`DIELECTRIC`
    metallic: float = 0.2
    roughness: float = 0.8


#: (metallic, roughness) of a dielectric such as skin or cloth: glTF's metallic factor is 0 for every non-metal;
#: a broad sheen as on skin (Beckmann slope about 0.35 measured on faces, Weyrich et al. 2006; the renderer's
#: roughness is its square root)
DIELECTRIC = (0.0, 0.6)


@dataclass
class Lighting:
    ambient: float = 0.3
    directional: tuple[float, float, float] = (0.0, 0.0, 1.0)  # direction the light travels, camera frame
    intensity: float = 3.0
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    #: a second, weaker directional light (a room's bounce light), as a fraction of ``intensity``; 0: none
    fill: float = 0.0
    fill_direction: tuple[float, float, float] = (0.0, 0.0, 1.0)


def _light_pose(direction) -> np.ndarray:
    """The 4x4 node pose of a directional light travelling along ``direction`` (camera frame): pyrender's
    directional light shines along its node's -z, so build a frame whose -z is the direction (GL coordinates)."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / max(np.linalg.norm(d), 1e-9)
    z = -(_GL @ d)
    x = np.cross([0.0, 1.0, 0.0], z)
    x = x / np.linalg.norm(x) if np.linalg.norm(x) > 1e-6 else np.array([1.0, 0.0, 0.0])
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    return pose


_OFFSCREEN = None  # one GL context per process: pyrender's EGL contexts do not coexist in one process


def gl_environment() -> None:
    """Set :data:`GL_ENVIRONMENT` where the user has not: when the first renderer is made (PyOpenGL reads it when
    it is first imported, which pyrender does), not when this module is imported."""
    for key, value in GL_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


def _offscreen(width: int, height: int):
    global _OFFSCREEN
    gl_environment()
    try:
        import pyrender

        if _OFFSCREEN is None:
            _OFFSCREEN = pyrender.OffscreenRenderer(width, height)
    except Exception as exc:  # noqa: BLE001 (missing libEGL: an ImportError, a ctypes or a GL error)
        raise DiffuhandError(
            f"the offscreen renderer is unavailable ({exc.__class__.__name__}: {str(exc)[:120]}); "
            "install Mesa's EGL (Debian: libegl1 libegl-mesa0 libgl1-mesa-dri)"
        ) from None
    _OFFSCREEN.viewport_width, _OFFSCREEN.viewport_height = width, height
    return _OFFSCREEN


class Renderer:
    """Renders a list of meshes; returns colour, depth (mm, 0 = nothing) and a label mask (hand numbers).

    Renderers of a process share one GL context, each setting its own viewport size when it renders."""

    def __init__(self, width: int, height: int | None = None):
        self.width, self.height = width, height or width
        _offscreen(self.width, self.height)  # sets the GL environment before pyrender (and OpenGL) is imported
        import pyrender

        self.pyrender = pyrender

    @property
    def renderer(self):
        return _offscreen(self.width, self.height)

    def close(self) -> None:
        """Nothing to free per renderer: the shared context lives as long as the process."""

    def _mesh(self, item: MeshItem) -> pyrender.Mesh:
        """The item as a pyrender mesh: smooth-shaded, with the material pyrender gives vertex-coloured meshes
        (its factors the item's), coloured per vertex (as floats: in trimesh's 8 bits the linear values of dark skin
        would keep only a few levels) or by the texture (its base colour, read as sRGB: hence the encoded texture)."""
        import trimesh

        pr = self.pyrender
        tm = trimesh.Trimesh(item.vertices @ _GL / 1000.0, item.faces, process=False)
        texture = None
        if item.texture is not None:
            from PIL import Image

            # glTF's texture coordinates (row 0 of the image at v = 0) -> OpenGL's (v = 0 at the image's last row)
            uv = np.column_stack([item.uv[:, 0], 1.0 - item.uv[:, 1]])
            tm.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(item.texture))
            texture = pr.Texture(source=item.texture, source_channels="RGB")
        material = pr.MetallicRoughnessMaterial(
            alphaMode="BLEND",
            baseColorFactor=[1.0, 1.0, 1.0, 1.0],
            metallicFactor=item.metallic,
            roughnessFactor=item.roughness,
            baseColorTexture=texture,
        )
        mesh = pr.Mesh.from_trimesh(tm, material=material, smooth=True)
        if texture is None:
            rgba = np.column_stack([np.clip(item.colors, 0, 1), np.ones(len(item.colors))]).astype(np.float32)
            for primitive in mesh.primitives:
                primitive.color_0 = rgba
        return mesh

    def render(self, items: list[MeshItem], K: np.ndarray, light: Lighting):
        pr = self.pyrender
        scene = pr.Scene(bg_color=[0, 0, 0, 0], ambient_light=[light.ambient] * 3)
        nodes = [scene.add(self._mesh(it)) for it in items]
        cam = pr.IntrinsicsCamera(fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2], znear=0.02, zfar=10.0)
        scene.add(cam, pose=np.eye(4))
        scene.add(
            pr.DirectionalLight(color=light.color, intensity=light.intensity), pose=_light_pose(light.directional)
        )
        if light.fill > 0:
            scene.add(
                pr.DirectionalLight(color=light.color, intensity=light.intensity * light.fill),
                pose=_light_pose(light.fill_direction),
            )
        offscreen = self.renderer
        color, depth = offscreen.render(scene, flags=pr.RenderFlags.RGBA)
        # per-item depth for the label mask: which item is nearest at each pixel
        labels = np.zeros(depth.shape, np.uint8)
        if any(it.label for it in items):
            best = np.full(depth.shape, np.inf)
            for node, it in zip(nodes, items):
                for other in nodes:
                    other.mesh.is_visible = other is node
                d_it = offscreen.render(scene, flags=pr.RenderFlags.DEPTH_ONLY)
                hit = (d_it > 0) & (d_it < best - 1e-6)
                best = np.where(hit, d_it, best)
                labels = np.where(hit, it.label, labels).astype(np.uint8)
            for node in nodes:
                node.mesh.is_visible = True
        return color[..., :3], depth * 1000.0, labels, color[..., 3]
