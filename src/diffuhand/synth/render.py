"""Offscreen rendering of posed hands with pyrender on Mesa (EGL, surfaceless; no display, no GPU needed).

Camera frame as everywhere in the project: OpenCV (x right, y down, z forward), millimetres. pyrender's camera
looks down -z with y up, so points enter the scene as (x, -y, -z) in metres.
"""

from __future__ import annotations

import contextlib
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


def output_to_linear(color: np.ndarray) -> np.ndarray:
    """The linear light (float, 0..1) of the renderer's output values ``color`` (0..255, encoded by
    :data:`OUTPUT_GAMMA`): where light is added or taken away after rendering."""
    return (np.asarray(color) / 255.0) ** OUTPUT_GAMMA


def linear_to_output(linear: np.ndarray) -> np.ndarray:
    """:func:`output_to_linear` undone: float output values, 0..255 for light in 0..1 (not rounded)."""
    return 255.0 * np.asarray(linear) ** (1.0 / OUTPUT_GAMMA)


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
    #: > 0: the key light casts soft shadows (:func:`shadow_visibility`), its penumbra's half-width (mm: the radius
    #: of the disc sampled around each point; an area light such as a window or a lampshade rather than a point);
    #: 0: no cast shadows (every surface facing the key light is lit by it, as if nothing stood in between)
    shadow_softness_mm: float = 0.0


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


#: the key light's shadow map (:meth:`Renderer.render`): texels on a side, covering what the camera sees
SHADOW_MAP_SIZE = 1024
#: a point lies in shadow only where the shadow map's surface is this much nearer the light (mm) plus the slope
#: term of :func:`shadow_visibility`: less is the surface's own depth seen at a slant (shadow acne)
SHADOW_BIAS_MM = 1.0
#: the shadow's soft edge: samples in the penumbra's disc (:func:`disc_samples`, as the ambient occlusion's)
SHADOW_SAMPLES = 16


@dataclass
class ShadowMap:
    """Depth along the key light of the surface nearest it: ``depth`` (N, N) mm along ``frame[2]`` (the direction
    the light travels), inf where nothing lies; ``frame`` (3, 3) rows u, v, w (camera frame, orthonormal, u x v = -w),
    ``origin`` (2,) mm the (u, v) of texel (0, 0)'s centre, ``texel_mm`` its spacing; row i at v = origin[1] -
    i * texel_mm, column j at u = origin[0] + j * texel_mm."""

    depth: np.ndarray
    frame: np.ndarray
    origin: np.ndarray
    texel_mm: float


def light_frame(direction) -> np.ndarray:
    """(3, 3) rows u, v, w: w the unit ``direction`` the light travels (camera frame), u and v across it, with
    u x v = -w (so that the GL camera along it, looking down its -z = w, is right-handed)."""
    w = np.asarray(direction, dtype=np.float64)
    w = w / max(np.linalg.norm(w), 1e-9)
    helper = np.array([0.0, 1.0, 0.0]) if abs(w[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(helper, w)
    u /= np.linalg.norm(u)
    v = np.cross(w, u)  # u x v = u x (w x u) = w (u.u) - u (u.w) = w; flip v for -w
    return np.stack([u, -v, w])


def disc_samples(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n,) angles (rad) and (n,) radii in [0, 1] of ``n`` points spread evenly over the unit disc, on a golden-angle
    spiral (Vogel 1979): a fixed pattern, no random draw (a scene's other draws stay where they were)."""
    k = np.arange(n) + 0.5
    return k * np.pi * (3.0 - np.sqrt(5.0)), np.sqrt(k / n)


def surface_points(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(H, W, 3) mm camera frame: the rendered points of a depth buffer (H, W) mm (0: none), taken at the pixels'
    centres, (j + 0.5, i + 0.5) for row i, column j in the image coordinates of ``K`` (pixel j spans j to j + 1):
    at K's integer coordinates a slanted surface's points would lie half a pixel's slope in front of it or behind.
    pyrender's depth is one of its four multisamples, not their mean: on Mesa at (j + 0.375, i + 0.875), up to 3/8
    of a pixel from the centre, which the shadows' bias (:func:`shadow_visibility`) absorbs."""
    h, w = depth.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    x = (xs - K[0, 2]) / K[0, 0]
    y = (ys - K[1, 2]) / K[1, 1]
    return np.stack([x * depth, y * depth, depth], axis=-1)


def shadow_visibility(points: np.ndarray, normals: np.ndarray, shadow: ShadowMap, softness_mm: float) -> np.ndarray:
    """(P,) in [0, 1]: how much of the key light reaches each of ``points`` (P, 3) mm camera frame, with surface
    ``normals`` (P, 3) unit: percentage-closer filtering (Reeves et al. 1987) of the :class:`ShadowMap` over a disc
    of radius ``softness_mm`` across the light, the share of samples where nothing lies nearer the light. The bias
    grows with the surface's slant to the light (the disc's samples reach over a tilted surface's own depth)."""
    uvw = points @ shadow.frame.T
    cos = np.clip(-(normals @ shadow.frame[2]), 0.05, 1.0)  # the surface's turn towards the light
    slope = np.minimum(np.sqrt(1.0 - cos**2) / cos, 4.0)
    # a sample r across the light lands r x slope deeper on the point's own (flat) surface, the nearest texel up to
    # half a diagonal further; a quarter more for the normals' finite differences
    bias = SHADOW_BIAS_MM + 1.25 * (softness_mm + shadow.texel_mm) * slope
    n = shadow.depth.shape[0]
    angle, reach = disc_samples(SHADOW_SAMPLES)
    reach = reach * softness_mm
    lit = np.zeros(len(points))
    for a, r in zip(angle, reach):
        col = np.rint((uvw[:, 0] + r * np.cos(a) - shadow.origin[0]) / shadow.texel_mm).astype(int)
        row = np.rint((shadow.origin[1] - uvw[:, 1] - r * np.sin(a)) / shadow.texel_mm).astype(int)
        inside = (col >= 0) & (col < n) & (row >= 0) & (row < n)
        nearest = shadow.depth[np.clip(row, 0, n - 1), np.clip(col, 0, n - 1)]
        lit += ~inside | (nearest >= uvw[:, 2] - bias)
    return lit / SHADOW_SAMPLES


def depth_normals(points: np.ndarray) -> np.ndarray:
    """(H, W, 3) unit normals facing the camera, from the rendered points (H, W, 3) (:func:`surface_points`; NaN
    where nothing was rendered): per axis the one-sided difference to the neighbour nearer in depth, so that a point
    at a silhouette or beside a nearer surface takes its own surface's slope; NaN where it has no neighbour."""

    def along(axis: int) -> np.ndarray:
        pad = [(0, 0)] * 3
        pad[axis] = (1, 1)
        p = np.pad(points, pad, constant_values=np.nan)
        n = points.shape[axis]
        ahead = np.take(p, np.arange(2, n + 2), axis=axis) - points
        behind = points - np.take(p, np.arange(0, n), axis=axis)
        jump_ahead = np.where(np.isnan(ahead[..., 2]), np.inf, np.abs(ahead[..., 2]))
        jump_behind = np.where(np.isnan(behind[..., 2]), np.inf, np.abs(behind[..., 2]))
        return np.where((jump_ahead <= jump_behind)[..., None], ahead, behind)

    n = np.cross(along(1), along(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return np.where(n[..., 2:] > 0, -n, n)  # towards the camera (-z)


_OFFSCREEN = None  # one GL context per process: pyrender's EGL contexts do not coexist in one process


def gl_environment() -> None:
    """Set :data:`GL_ENVIRONMENT` where the user has not: when the first renderer is made (PyOpenGL reads it when
    it is first imported, which pyrender does), not when this module is imported."""
    for key, value in GL_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


def _load_triton_first() -> None:
    """Load triton, if installed, before Mesa makes its GL context.

    Mesa's software rasteriser (llvmpipe) loads the system's LLVM; triton (installed with the CUDA builds of torch,
    imported by ``torch._dynamo``, which diffusers imports) carries its own. Loaded after the GL context exists,
    triton's native library crashes the process with a segmentation fault as it initialises; loaded first, both
    work. So a script that renders and then builds an estimator would die without this. About 0.1 s, once."""
    import importlib

    # absent with CPU-only torch; a broken install must not block rendering either (torch reports it where used)
    with contextlib.suppress(Exception):
        importlib.import_module("triton")


def _offscreen(width: int, height: int):
    global _OFFSCREEN
    gl_environment()
    try:
        import pyrender

        if _OFFSCREEN is None:
            _load_triton_first()
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
        key = scene.add(
            pr.DirectionalLight(color=light.color, intensity=light.intensity), pose=_light_pose(light.directional)
        )
        if light.fill > 0:
            scene.add(
                pr.DirectionalLight(color=light.color, intensity=light.intensity * light.fill),
                pose=_light_pose(light.fill_direction),
            )
        offscreen = self.renderer
        color, depth = offscreen.render(scene, flags=pr.RenderFlags.RGBA)
        if light.shadow_softness_mm > 0 and (depth > 0).any():
            color = self._shadowed(scene, items, K, light, key, color, depth * 1000.0)
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

    def shadow_map(self, scene, items: list[MeshItem], receivers: np.ndarray, direction, margin_mm: float) -> ShadowMap:
        """The :class:`ShadowMap` of ``scene`` (its meshes ``items``) along the light ``direction`` (camera frame),
        covering ``receivers`` (P, 3) mm (the points the camera sees) and ``margin_mm`` around them: an orthographic
        depth render from just before the surface nearest the light, :data:`SHADOW_MAP_SIZE` texels on a side."""
        pr = self.pyrender
        frame = light_frame(direction)
        uvw = receivers @ frame.T
        nearest = min(float((np.concatenate([it.vertices for it in items]) @ frame[2]).min()), float(uvw[:, 2].min()))
        lo, hi = uvw[:, :2].min(0) - margin_mm, uvw[:, :2].max(0) + margin_mm
        centre, half = (lo + hi) / 2.0, float((hi - lo).max()) / 2.0
        start = nearest - 10.0  # the camera's plane, before every caster
        far = float(uvw[:, 2].max()) - start + 10.0
        pose = np.eye(4)
        pose[:3, :3] = np.stack([_GL @ frame[0], _GL @ frame[1], -(_GL @ frame[2])], axis=1)
        pose[:3, 3] = _GL @ (centre[0] * frame[0] + centre[1] * frame[1] + start * frame[2]) / 1000.0
        near_m, far_m = 1e-3, far / 1000.0
        node = scene.add(pr.OrthographicCamera(half / 1000.0, half / 1000.0, znear=near_m, zfar=far_m), pose=pose)
        main, scene.main_camera_node = scene.main_camera_node, node
        try:
            offscreen = _offscreen(SHADOW_MAP_SIZE, SHADOW_MAP_SIZE)
            d = offscreen.render(scene, flags=pr.RenderFlags.DEPTH_ONLY).astype(np.float64)
        finally:
            scene.main_camera_node = main
            scene.remove_node(node)
            _offscreen(self.width, self.height)
        # pyrender undoes a perspective projection's depth on every camera's: redo it as the orthographic one's
        # (linear in depth), back to distance along the light
        hit = d > 0
        ndc = (far_m + near_m - 2.0 * near_m * far_m / np.where(hit, d, 1.0)) / (far_m - near_m)
        along = (ndc * (far_m - near_m) + far_m + near_m) / 2.0 * 1000.0
        texel = 2.0 * half / SHADOW_MAP_SIZE
        origin = np.array([centre[0] - half + texel / 2.0, centre[1] + half - texel / 2.0])
        return ShadowMap(np.where(hit, start + along, np.inf), frame, origin, texel)

    def _shadowed(self, scene, items, K, light: Lighting, key, color, depth_mm):
        """``color`` (H, W, 4) with the key light's cast shadows: the image rendered without the key light plus the
        key light's part (the difference) times :func:`shadow_visibility`, in linear light."""
        points = surface_points(depth_mm, K)
        seen = depth_mm > 0
        normals = depth_normals(np.where(seen[..., None], points, np.nan))
        normals = np.where(np.isfinite(normals), normals, [0.0, 0.0, -1.0])[seen]
        shadow = self.shadow_map(scene, items, points[seen], light.directional, light.shadow_softness_mm + 5.0)
        visibility = shadow_visibility(points[seen], normals, shadow, light.shadow_softness_mm)
        dark = visibility < 1.0  # elsewhere exactly as rendered (a round trip through the gamma would not be)
        if not dark.any():
            return color
        scene.remove_node(key)
        unlit, _ = self.renderer.render(scene, flags=self.pyrender.RenderFlags.RGBA)
        out = color.copy()
        ys, xs = np.nonzero(seen)
        ys, xs, v = ys[dark], xs[dark], visibility[dark][:, None]
        lit, base = output_to_linear(color[ys, xs, :3]), output_to_linear(unlit[ys, xs, :3])
        mixed = base + v * np.clip(lit - base, 0.0, None)
        out[ys, xs, :3] = np.clip(np.rint(linear_to_output(mixed)), 0, 255).astype(color.dtype)
        return out
