"""One random synthetic image: what a real photo varies, sampled from a seeded generator.

Pose (the prior, inside the limits), hand size and bone ratios, skin tone and texture, lighting, background
(procedural textures or the user's images), intrinsics, distance and in-plane position, left and right hands,
sometimes two hands, partial occlusion, motion blur and noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from diffuhand.kinematics.fk_numpy import forward_kinematics
from diffuhand.kinematics.limits import Limits, load_limits
from diffuhand.kinematics.prior import PosePrior, default_prior
from diffuhand.kinematics.skeleton import TIPS
from diffuhand.synth.mesh import HandMesh, default_hand_mesh, pose_mesh
from diffuhand.synth.realism import (
    AWB_ERROR_MIRED,
    LIGHT_KELVIN,
    LIGHT_TINT_MAX,
    LIGHT_TINT_SD,
    TEXTURE_SIZE,
    TONE_JITTER,
    SkinLayout,
    WristSection,
    ambient_occlusion,
    bake_surface,
    camera_effects,
    clutter_background,
    defocus,
    forearm_items,
    light_cast,
    linear_albedo,
    move_apart,
    natural_skin_tone,
    occlude,
    paint_skin,
    skin_layout,
    skin_texture,
    texture_layout,
    wrist_section,
)
from diffuhand.synth.render import DIELECTRIC, Lighting, MeshItem, Renderer

# skin tones from light to dark, as swatches (display values); the renderer takes colours as linear light, so with
# SceneConfig.display_colors they are converted first (without: paler and greyer skin, as the renders of issue 4)
SKIN_TONES = np.array(
    [
        [0.96, 0.80, 0.69],
        [0.92, 0.72, 0.60],
        [0.85, 0.64, 0.50],
        [0.76, 0.55, 0.41],
        [0.62, 0.43, 0.31],
        [0.48, 0.32, 0.22],
        [0.36, 0.24, 0.16],
        [0.26, 0.17, 0.12],
    ]
)


@dataclass
class SceneConfig:
    """Ranges of everything a sample varies."""

    size: int = 128
    p_two_hands: float = 0.2
    p_uniform_rotation: float = 0.3  # the rest face the camera (palm or back, tilted), as hands in photos mostly do
    tilt_deg: float = 30.0
    p_left: float = 0.5
    p_occluder: float = 0.25
    p_motion_blur: float = 0.2
    p_noise: float = 0.5
    distance_mm: tuple[float, float] = (300.0, 800.0)
    fill: tuple[float, float] = (0.45, 0.9)  # hand extent / image size
    offset: float = 0.12  # in-plane position of the hand's centre, fraction of the image
    anchor_mm: tuple[float, float] = (70.0, 95.0)
    ratio_jitter: float = 0.03
    prior_spread: float = 1.0
    backgrounds: Path | None = None  # a folder of the user's images; procedural textures otherwise
    # photo-likeness (synth.realism; measured by benchmarks/bench_render_realism.py): off in the "legacy" variant
    p_forearm: float = 0.0  # a forearm behind the wrist (photo: always, as every hand in a photo has its arm)
    p_sleeve: float = 0.6  # of forearms, the share in a sleeve
    # a forearm leaves the hand where the hand's skin crosses the wrist and bends gradually, the hand drawn without
    # its skin proximal of the wrist joint (synth.realism.WristSection); off: a wider rigid tube from inside the
    # hand, swung about the joint, which stood out of the hand like a cuff and let the hand's cut skin show through
    forearm_fit: bool = False
    skin_detail: bool = False  # a lighter palm and nails
    skin_creases: bool = False  # with skin_detail: darker flexion creases across the palmar side of the fingers
    skin_texture: bool = False  # with skin_detail: the skin painted in a texture, not per vertex (finer detail)
    palm_lines: bool = False  # with skin_texture: the palm's three major flexion creases
    fill_light: bool = False  # a room's bounce light beside the key light, softer shading
    background_style: str = "procedural"  # "procedural" (textures), "clutter" (room-like, muted), or "mixed"
    background_blur: float = 0.0  # backgrounds out of focus by up to this Gaussian sigma (pixels at 256 px)
    camera: bool = False  # white balance, lens blur, sensor noise and JPEG instead of plain noise
    # the colours given to the renderer (skin tones, palm, nails, sleeves, occluders) are display values, converted
    # to the linear light it shades in (synth.realism.linear_albedo); off: taken as linear, a paler, greyer skin
    display_colors: bool = False
    # skin, cloth and the occluders shaded as non-metals (render.DIELECTRIC), not with pyrender's plastic
    dielectric: bool = False
    # sampled hands (with their arms) of one image kept at least this far apart (mm), moved in the image plane:
    # independently sampled hands otherwise sometimes pass through each other; 0: as sampled
    hand_gap_mm: float = 0.0
    # colours vary as real ones do (synth.realism.natural_skin_tone, light_cast): skin tones along the skin-tone
    # scale, lights along the colour temperatures of black bodies with a camera's white-balance residual; off: each
    # channel jittered at random, which makes some hands green, grey or yellow
    natural_tints: bool = False
    # the hands of one image are one person's: the same size and bone ratios, the same skin tone, and the same
    # sleeves (or none) on both arms; off: each hand drawn on its own, as if two people's
    one_person: bool = False
    # surfaces darkened where nearer ones cover them (synth.realism.ambient_occlusion): the gaps between fingers, a
    # curled finger over the palm; off: every surface lit as if open to the whole room
    ambient_occlusion: bool = False
    # the key light casts soft shadows (render.shadow_visibility): a thumb across the palm, a finger over another;
    # off: every surface facing the key light is lit by it, as if nothing stood in between
    cast_shadows: bool = False
    # sequences: replay recorded motion ("READER:ROOT:SPLIT", e.g. dexycb:path:train) instead of prior keyframes
    motion_source: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if (self.skin_creases or self.skin_texture) and not self.skin_detail:
            raise ValueError("skin_creases and skin_texture draw on skin_detail's palm: set skin_detail too")
        if self.palm_lines and not self.skin_texture:
            raise ValueError("palm_lines are drawn in the skin's texture: set skin_texture too")
        if self.background_style not in BACKGROUND_STYLES:
            raise ValueError(f"background_style must be one of {BACKGROUND_STYLES}, got {self.background_style!r}")


BACKGROUND_STYLES = ("procedural", "clutter", "mixed")
#: SceneConfig.hand_gap_mm where the hands are kept apart: a few mm, never touching (nor passing through)
HAND_GAP_MM = 5.0
#: the key light's penumbra where it casts shadows (render.Lighting.shadow_softness_mm): a lamp or window a few
#: degrees across, seen from a hand whose parts lie a few centimetres apart
SHADOW_SOFTNESS_MM = 3.0
#: every photo-likeness lever on: the "photo" variant, and the base of those that add one more
_PHOTO = {
    "p_forearm": 1.0,
    "forearm_fit": True,
    "skin_detail": True,
    "fill_light": True,
    "background_style": "mixed",
    "background_blur": 3.0,
    "camera": True,
    "display_colors": True,
    "dielectric": True,
    "hand_gap_mm": HAND_GAP_MM,
    "natural_tints": True,
    "one_person": True,
    "ambient_occlusion": True,
}
#: named scene variants: "legacy" the renders of issue 4, "photo" with every photo-likeness lever on, one lever
#: alone, or "photo" and one lever more
SCENE_VARIANTS = {
    "legacy": {},
    "photo": _PHOTO,
    "forearm": {"p_forearm": 1.0, "forearm_fit": True},
    "skin": {"skin_detail": True},
    "light": {"fill_light": True},
    "background": {"background_style": "mixed", "background_blur": 3.0},
    "camera": {"camera": True},
    "colour": {"display_colors": True},
    "material": {"dielectric": True},
    "apart": {"hand_gap_mm": HAND_GAP_MM},
    "tints": {"natural_tints": True},
    "person": {"one_person": True},
    "occlusion": {"ambient_occlusion": True},
    "textured": {**_PHOTO, "skin_texture": True},
    "palm-lines": {**_PHOTO, "skin_texture": True, "palm_lines": True},
    "creases": {**_PHOTO, "skin_creases": True},
    "shadows": {**_PHOTO, "cast_shadows": True},
}


#: the single-lever variants (each adds one thing to the first release's scenes)
LEVERS = (
    "forearm",
    "skin",
    "light",
    "background",
    "camera",
    "colour",
    "material",
    "apart",
    "tints",
    "person",
    "occlusion",
)
#: "VARIANT-without-LEVER": a variant without the settings of one single-lever variant (what that lever adds among
#: all the others, where the single-lever variants measure it alone)
WITHOUT = "-without-"


def scene_variant(name: str, cfg: SceneConfig | None = None) -> SceneConfig:
    """``cfg`` (default: the default config) with the levers of the named variant (:data:`SCENE_VARIANTS`), or of
    ``"VARIANT-without-LEVER"`` (:data:`WITHOUT`), e.g. ``"photo-without-light"``."""
    base, without, lever = name.partition(WITHOUT)
    known = f"known: {', '.join(SCENE_VARIANTS)}, or VARIANT{WITHOUT}LEVER with LEVER one of {', '.join(LEVERS)}"
    if base not in SCENE_VARIANTS or (without and lever not in LEVERS):
        raise ValueError(f"unknown scene variant {name!r}; {known}")
    levers = {k: v for k, v in SCENE_VARIANTS[base].items() if not lever or k not in SCENE_VARIANTS[lever]}
    return replace(cfg or SceneConfig(), **levers)


@dataclass
class HandLabel:
    joints_3d: np.ndarray  # (21, 3) mm camera frame (as the hand is: left hands left)
    joints_2d: np.ndarray  # (21, 2) px
    visible: np.ndarray  # (21,) bool from the depth buffer
    handedness: str
    angles: np.ndarray  # (41,) of the right-hand model (a left hand is its mirror)
    ratios: np.ndarray  # (20,)
    anchor_mm: float
    root_rotation: np.ndarray  # (3, 3) right-hand model; mirror x for the left hand
    root_position: np.ndarray  # (3,)


def _smooth_noise(rng: np.random.Generator, size: int, octaves: int = 4) -> np.ndarray:
    """Fractal value noise in [0, 1], (size, size)."""
    from PIL import Image

    out = np.zeros((size, size))
    amp = 1.0
    for o in range(octaves):
        cells = 2 ** (o + 1)
        grid = (rng.random((cells, cells)) * 255).astype(np.uint8)
        out += amp * np.asarray(Image.fromarray(grid).resize((size, size), Image.BICUBIC), dtype=np.float64) / 255.0
        amp *= 0.5
    out -= out.min()
    return out / max(out.max(), 1e-9)


def background(rng: np.random.Generator, size: int, folder: Path | None = None) -> np.ndarray:
    """(size, size, 3) uint8: a random crop of one of the user's images, or a procedural texture."""
    if folder is not None:
        from PIL import Image

        files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if files:
            with Image.open(files[rng.integers(len(files))]) as im:
                im = im.convert("RGB")
                s = int(min(im.size) * rng.uniform(0.3, 1.0))
                x, y = rng.integers(0, im.size[0] - s + 1), rng.integers(0, im.size[1] - s + 1)
                return np.asarray(im.crop((x, y, x + s, y + s)).resize((size, size)))
    c1, c2 = rng.random(3), rng.random(3)
    kind = rng.integers(4)
    yy, xx = np.mgrid[0:size, 0:size] / size
    if kind == 0:  # gradient
        a = rng.uniform(0, 2 * np.pi)
        t = np.cos(a) * xx + np.sin(a) * yy
        t = (t - t.min()) / max(np.ptp(t), 1e-9)
    elif kind == 1:  # clouds
        t = _smooth_noise(rng, size)
    elif kind == 2:  # stripes
        a, f = rng.uniform(0, np.pi), rng.uniform(3, 20)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * f * (np.cos(a) * xx + np.sin(a) * yy))
    else:  # checker
        f = rng.integers(2, 12)
        t = ((np.floor(xx * f) + np.floor(yy * f)) % 2).astype(np.float64)
    img = c1 * (1 - t[..., None]) + c2 * t[..., None]
    img = img * (0.75 + 0.5 * _smooth_noise(rng, size)[..., None])  # shading variation
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def scene_background(rng: np.random.Generator, cfg: SceneConfig) -> np.ndarray:
    """(size, size, 3) uint8: the background of a scene, in the config's style (procedural textures, room-like
    clutter, or the user's images), out of focus as the config says."""
    if cfg.background_style == "clutter" or (cfg.background_style == "mixed" and rng.random() < 0.8):
        bg = (
            clutter_background(rng, cfg.size) if cfg.backgrounds is None else background(rng, cfg.size, cfg.backgrounds)
        )
    else:
        bg = background(rng, cfg.size, cfg.backgrounds)
    if cfg.background_blur:
        bg = defocus(rng, bg, cfg.background_blur * cfg.size / 256)
    return bg


def _surface(mesh: HandMesh):
    """The mesh's :class:`~diffuhand.synth.realism.SkinSurface`, baked once per mesh (kept on the mesh)."""
    if TEXTURE_SIZE not in mesh.surfaces:
        mesh.surfaces[TEXTURE_SIZE] = bake_surface(
            mesh.vertices, mesh.normals, mesh.rest_dorsal, mesh.faces, mesh.uv, TEXTURE_SIZE
        )
    return mesh.surfaces[TEXTURE_SIZE]


def _layout(mesh: HandMesh, texture: bool, creases: bool, lines: bool) -> SkinLayout:
    """Where the skin's features lie on the mesh's vertices, or on its texels (``texture``), worked out once per
    mesh (kept on the mesh): a hand's painting then costs its draws alone."""
    key = ("layout", TEXTURE_SIZE if texture else "vertices", creases, lines)
    if key not in mesh.surfaces:
        if texture:
            layout = texture_layout(_surface(mesh), mesh.rest_root, mesh.rig_joints, mesh.rest_anchor, creases, lines)
        else:
            dorsal_cos = (mesh.normals * mesh.rest_dorsal).sum(1)  # each part's own dorsal side: the thumb's too
            tips = mesh.rest_joints[list(TIPS)]  # the rig's too: no placement moves the tips
            # feature sizes are shares of the model's anchor (100 mm on the shipped mesh with the convention
            # placement, 92 mm before it: nails of 16 mm rather than 15; the shipped lift was calibrated on these
            # renders)
            joints = mesh.rig_joints if creases else None  # where anatomy has the folds, not the labels' convention
            layout = skin_layout(mesh.vertices, dorsal_cos, tips, mesh.rest_anchor, joints)
        for part in (layout.palmar, layout.nail, layout.crease, layout.lines):
            if part is not None:  # shared by every scene drawn with this mesh: read-only
                part.flags.writeable = False
        mesh.surfaces[key] = layout
    return mesh.surfaces[key]


def _wrist(mesh: HandMesh) -> tuple[WristSection, np.ndarray]:
    """The mesh's :class:`~diffuhand.synth.realism.WristSection` and its faces without the skin proximal of the
    wrist joint (every vertex of the face there, at rest), worked out once per mesh (kept on the mesh)."""
    if "wrist" not in mesh.surfaces:
        hand = (mesh.vertices - mesh.rest_joints[0]) @ mesh.rest_root  # rest_root: hand frame -> mesh frame
        kept = mesh.faces[~(hand[mesh.faces, 0] < 0.0).all(1)]
        kept.flags.writeable = False
        mesh.surfaces["wrist"] = (wrist_section(hand, mesh.rest_anchor), kept)
    return mesh.surfaces["wrist"]


def _skin_colors(
    rng: np.random.Generator,
    mesh: HandMesh,
    detail: bool = False,
    creases: bool = False,
    texture: bool = False,
    lines: bool = False,
    natural: bool = False,
    tone: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(V, 3) skin tone with a blotchy texture laid on the REST mesh, so that it moves with the skin, the tone
    (3,), and None; ``detail``: a lighter palm and nails too (:func:`~diffuhand.synth.realism.paint_skin`);
    ``texture``: the same painted in the mesh's UV texture, returned third ((S, S, 3) uint8; the colours are then
    the tone alone), ``lines`` with the palm's creases (:func:`~diffuhand.synth.realism.texture_layout`);
    ``natural``: the tone varied along the skin-tone scale (:func:`~diffuhand.synth.realism.natural_skin_tone`),
    not per channel (the same draws: the rest of the scene is unchanged); ``tone``: this tone (the person's), the
    draws for one made all the same."""
    index, draws = rng.integers(len(SKIN_TONES)), rng.uniform(1.0 - TONE_JITTER, 1.0 + TONE_JITTER, 3)
    if tone is None and natural:
        tone = natural_skin_tone(int(index), draws, SKIN_TONES)
    elif tone is None:
        tone = SKIN_TONES[index] * draws
    if detail and texture:
        tex = skin_texture(rng, tone, _surface(mesh), _layout(mesh, True, creases, lines))
        return np.tile(tone, (len(mesh.vertices), 1)), tone, tex
    if detail:
        return paint_skin(rng, tone, mesh.vertices, _layout(mesh, False, creases, False)), tone, None
    waves = rng.normal(size=(6, 3)) / 25.0  # per-mm frequencies: blotches a few cm wide
    phase = rng.uniform(0, 2 * np.pi, 6)
    tex = np.sin(mesh.vertices @ waves.T + phase).mean(1)
    return np.clip(tone * (1.0 + 0.12 * tex[:, None]), 0, 1), tone, None


def _light_cast(quantile: float, residual: float) -> np.ndarray:
    """(3,) a light's colour in a photo (:func:`~diffuhand.synth.realism.light_cast`): its colour temperature at
    ``quantile`` of :data:`~diffuhand.synth.realism.LIGHT_KELVIN`, the camera's white balance ``residual`` standard
    deviations of :data:`~diffuhand.synth.realism.AWB_ERROR_MIRED` off."""
    kelvin = LIGHT_KELVIN[0] + quantile * (LIGHT_KELVIN[1] - LIGHT_KELVIN[0])
    return light_cast(kelvin, residual * AWB_ERROR_MIRED)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    return Rotation.random(random_state=rng.integers(2**31)).as_matrix()


def hand_rotation(rng: np.random.Generator, cfg: SceneConfig) -> np.ndarray:
    """A hand orientation (hand frame -> camera): uniform over all rotations with ``p_uniform_rotation``, else the
    palm or the back towards the camera, turned anywhere in the image plane and tilted by ~``tilt_deg``."""
    if rng.random() < cfg.p_uniform_rotation:
        return _random_rotation(rng)
    # hand z (dorsal) along the camera's -z (back of the hand seen) or +z (palm seen)
    face = np.diag([1.0, -1.0, -1.0]) if rng.random() < 0.5 else np.eye(3)
    spin = Rotation.from_euler("z", rng.uniform(0, 2 * np.pi)).as_matrix()
    tilt = Rotation.from_rotvec(np.r_[rng.normal(size=2), 0.0] * np.radians(cfg.tilt_deg)).as_matrix()
    return tilt @ spin @ face


#: the reflection that makes a left hand of the right-hand model: the camera frame's x flipped
MIRROR_X = np.diag([-1.0, 1.0, 1.0])
MIRROR_X.setflags(write=False)  # shared by every caller of side_mirror


def side_mirror(side: str) -> np.ndarray:
    """(3, 3) the reflection a hand of ``side`` ("left" or "right") is drawn with: :data:`MIRROR_X` or the identity."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    return MIRROR_X if side == "left" else np.eye(3)


def right_model_root(rotation: np.ndarray, position: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """The right-hand model's root, rotation (3, 3) and position (3,) mm, whose mirror image (for a left hand) is a
    hand of ``side`` at ``rotation`` and ``position`` in the camera frame; a right hand's root as it is.

    A left hand is drawn as the mirror image of the right-hand model posed at ``M R M``, ``M p`` (``M`` =
    :data:`MIRROR_X`): its vertices and joints are then mirrored back, ``x @ M``."""
    m = side_mirror(side)
    return m @ np.asarray(rotation) @ m, m @ np.asarray(position)


def hand_joints(
    angles: np.ndarray, ratios: np.ndarray, anchor_mm: float, rotation: np.ndarray, position: np.ndarray, side: str
) -> np.ndarray:
    """(21, 3) mm, camera frame: the joints of a hand as :func:`render_sample` draws it from a pose of its
    ``poses`` (angles (41,) rad, ratios (20,), anchor mm, root rotation (3, 3) and position (3,) mm, side)."""
    m = side_mirror(side)
    rot_r, pos_r = right_model_root(rotation, position, side)
    return forward_kinematics(angles, ratios, anchor_mm, rot_r, pos_r) @ m


def _occluder(rng: np.random.Generator, centre: np.ndarray, radius: float) -> MeshItem:
    import trimesh

    kind = rng.integers(3)
    size = radius * rng.uniform(0.2, 0.45)
    if kind == 0:
        m = trimesh.creation.box(extents=rng.uniform(0.3, 1.0, 3) * 2 * size)
    elif kind == 1:
        m = trimesh.creation.icosphere(subdivisions=2, radius=size)
    else:
        m = trimesh.creation.cylinder(radius=size * 0.3, height=size * 3)
    rot = _random_rotation(rng)
    # between the camera and the hand, off its centre so that it covers a part of it
    pos = centre * rng.uniform(0.8, 0.92) + np.r_[rng.normal(size=2) * radius * 0.5, 0.0]
    v = m.vertices @ rot.T + pos
    return MeshItem(v, np.asarray(m.faces), np.tile(rng.random(3), (len(v), 1)), 0)


#: a joint's visibility looks at the pixels within one pixel of it in an image of this side or smaller, and within
#: a radius that grows with the side above it (a 3x3 patch at 256 px, 5x5 at 512: about the same share of the image),
#: so that which joints count as visible, and so which hands a benchmark counts, barely changes with the resolution
VISIBILITY_PATCH_IMAGE_PX = 256


def visibility_radius(side_px: int) -> int:
    """The half side (px) of the patch :func:`_visible` looks at around a joint in an image of ``side_px``: 1 up to
    :data:`VISIBILITY_PATCH_IMAGE_PX` (and 383 px), then ``side_px / VISIBILITY_PATCH_IMAGE_PX`` rounded half up."""
    return max(1, int(side_px / VISIBILITY_PATCH_IMAGE_PX + 0.5))


def _visible(joints: np.ndarray, uv: np.ndarray, depth: np.ndarray, tol_mm: float) -> np.ndarray:
    """A joint is visible when it projects into the image and some rendered surface around its pixel (the
    farthest there) is no more than ``tol_mm`` in front of it (its own skin, not another finger, hand or object).
    joints (21, 3) mm camera frame, uv (21, 2) px, depth (H, W) mm (0: nothing) -> (21,) bool."""
    h, w = depth.shape
    r = visibility_radius(max(h, w))
    vis = np.zeros(len(joints), dtype=bool)
    for k, ((u, v), z) in enumerate(zip(uv, joints[:, 2])):
        x, y = int(np.floor(u)), int(np.floor(v))
        if not (0 <= x < w and 0 <= y < h):
            continue
        patch = depth[max(y - r, 0) : y + r + 1, max(x - r, 0) : x + r + 1]
        hits = patch[patch > 0]
        vis[k] = hits.size > 0 and float(hits.max()) >= z - tol_mm
    return vis


def _motion_blur(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    from scipy.ndimage import convolve

    n = int(rng.integers(3, 8))
    a = rng.uniform(0, np.pi)
    k = np.zeros((n, n))
    c = (n - 1) / 2
    for t in np.linspace(-c, c, 4 * n):
        k[round(c + t * np.sin(a)), round(c + t * np.cos(a))] = 1.0
    k /= k.sum()
    return np.stack([convolve(img[..., i].astype(np.float64), k, mode="nearest") for i in range(3)], -1)


def camera_for(rng: np.random.Generator, centre: np.ndarray, extent: float, cfg: SceneConfig) -> np.ndarray:
    """Intrinsics that put ``centre`` (mm) near the image centre with ``extent`` (mm) filling part of it."""
    f = cfg.size * rng.uniform(*cfg.fill) * centre[2] / extent
    c = cfg.size / 2 + rng.uniform(-cfg.offset, cfg.offset, 2) * cfg.size - f * centre[:2] / centre[2]
    return np.array([[f, 0.0, c[0]], [0.0, f, c[1]], [0.0, 0.0, 1.0]])


def sample_hand_pose(rng: np.random.Generator, limits: Limits, prior: PosePrior, cfg: SceneConfig):
    """Angles (41,), ratios (20,), anchor (mm): a right-hand pose from the prior, inside the limits."""
    angles = prior.sample(1, rng, limits, spread=cfg.prior_spread)[0]
    ratios = np.clip(
        limits.ratio_neutral * (1 + rng.normal(size=20) * cfg.ratio_jitter), limits.ratio_min, limits.ratio_max
    )
    return angles, ratios, float(rng.uniform(*cfg.anchor_mm))


def render_sample(
    rng: np.random.Generator,
    renderer: Renderer,
    cfg: SceneConfig,
    mesh: HandMesh | None = None,
    limits: Limits | None = None,
    prior: PosePrior | None = None,
    poses=None,
    K: np.ndarray | None = None,
    background_image: np.ndarray | None = None,
    style_seed: int | None = None,
):
    """One image (size, size, 3) uint8, its hand mask (labels 1, 2), K, and a :class:`HandLabel` per hand.

    ``poses``: optional list of per-hand (angles, ratios, anchor, root_rotation, root_position, side) to render
    instead of sampling, ``K`` a fixed camera and ``background_image`` a fixed background (the motion sequences
    use them, with ``style_seed`` fixing skin and light across the frames, and no occluders).
    """
    style = rng if style_seed is None else np.random.default_rng(style_seed)
    mesh = mesh or default_hand_mesh()
    limits = limits or load_limits()
    prior = prior or default_prior()
    sampled = poses is None  # recorded poses (sequences) are rendered where they are
    if poses is None:
        n_hands = 2 if rng.random() < cfg.p_two_hands else 1
        z = rng.uniform(*cfg.distance_mm)
        centre = np.array([0.0, 0.0, z])
        poses = []
        for h in range(n_hands):
            angles, ratios, anchor = sample_hand_pose(rng, limits, prior, cfg)
            if cfg.one_person and poses:  # one person's hands are of one size and build (the draws made all the same)
                ratios, anchor = poses[0][1], poses[0][2]
            side = "left" if rng.random() < cfg.p_left else "right"
            if n_hands == 2:
                side = ("right", "left")[h]
            rot = hand_rotation(rng, cfg)
            pos = centre + (
                np.r_[rng.normal(size=2) * 0.4 * anchor, rng.normal() * 20]
                if n_hands == 1
                else np.r_[(h - 0.5) * 1.6 * anchor, rng.normal(size=2) * 25]
            )
            poses.append((angles, ratios, anchor, rot, pos, side))
    items, labels_geo = [], []
    person_tone, outfit = None, None  # with one_person: the first hand's, worn by the others
    for h, (angles, ratios, anchor, rot, pos, side) in enumerate(poses):
        # a left hand is the mirror image of a right hand: pose the right model where the mirror would be
        m = side_mirror(side)
        rot_r, pos_r = right_model_root(rot, pos, side)
        verts, joints = pose_mesh(mesh, angles, ratios, anchor, rot_r, pos_r)
        verts, joints = verts @ m, joints @ m
        colors, tone, texture = _skin_colors(
            style,
            mesh,
            cfg.skin_detail,
            cfg.skin_creases,
            cfg.skin_texture,
            cfg.palm_lines,
            cfg.natural_tints,
            person_tone,
        )
        if cfg.one_person:
            person_tone = tone
        arm, faces = [], mesh.faces
        if cfg.p_forearm and style.random() < cfg.p_forearm:
            wrist, wrist_colors = None, None
            if cfg.forearm_fit:  # the arm continues the hand's skin from the wrist, which ends there
                wrist, faces = _wrist(mesh)
                wrist_colors = colors[wrist.vertices]
            arm, worn = forearm_items(
                style, anchor, rot_r, pos_r, tone, side == "left", cfg.p_sleeve, outfit, wrist, wrist_colors
            )
            if cfg.one_person:
                outfit = worn
        faces = faces[:, ::-1] if side == "left" else faces
        if sampled and cfg.hand_gap_mm > 0 and items:
            # the hand with its arm, clear of the hands and arms placed before (all of ``items`` so far)
            t = move_apart(
                np.concatenate([verts, *(it.vertices for it in arm)]),
                np.concatenate([it.vertices for it in items]),
                cfg.hand_gap_mm,
            )
            verts, joints, pos_r = verts + t, joints + t, pos_r + m @ t
            arm = [replace(it, vertices=it.vertices + t) for it in arm]
        items.append(MeshItem(verts, faces, colors, h + 1, mesh.uv if texture is not None else None, texture))
        items += arm
        labels_geo.append((joints, angles, ratios, anchor, rot_r, pos_r, side))
    # camera: the hands' centre lands near the image centre, their extent fills part of the image
    allj = np.concatenate([g[0] for g in labels_geo])
    mid = (allj.max(0) + allj.min(0)) / 2
    extent = float(np.ptp(allj[:, :2], axis=0).max()) + 40.0
    if K is None:
        K = camera_for(rng, mid, extent, cfg)
    if style_seed is None and rng.random() < cfg.p_occluder:
        items.append(_occluder(rng, mid, extent / 2))
    d = style.normal(size=3) * 0.6 + [0, 0, 1.0]
    if cfg.fill_light:  # softer, as indoors: more ambient and a bounce light from elsewhere, warm or cool
        tint = style.normal(0, LIGHT_TINT_SD, 3)
        if cfg.natural_tints:  # the same draws as quantiles: a colour temperature and a white-balance residual
            from scipy.special import ndtr

            color = _light_cast(float(ndtr(tint[0] / LIGHT_TINT_SD)), float(tint[1] / LIGHT_TINT_SD))
        else:
            color = np.clip((1.0 + tint) / (1.0 + tint).max(), 0.5, 1.0)
        light = Lighting(
            ambient=float(style.uniform(0.3, 0.7)),
            directional=tuple(d),
            intensity=float(style.uniform(1.5, 4.0)),
            color=tuple(color),
            fill=float(style.uniform(0.2, 0.6)),
            fill_direction=tuple(-d + style.normal(size=3) * 0.5),
        )
    else:
        ambient = float(style.uniform(0.15, 0.5))
        intensity = float(style.uniform(1.0, 4.0))
        tint = style.uniform(0, LIGHT_TINT_MAX, 3)
        if cfg.natural_tints:  # uniform draws: a quantile, and one of unit variance (a uniform's sd is 1 / sqrt(12))
            quantiles = tint / LIGHT_TINT_MAX
            color = _light_cast(float(quantiles[0]), float(np.sqrt(12.0) * (quantiles[1] - 0.5)))
        else:
            color = 1.0 - tint
        light = Lighting(ambient=ambient, directional=tuple(d), intensity=intensity, color=tuple(color))
    if cfg.display_colors:
        items = [linear_albedo(it) for it in items]
    if cfg.dielectric:
        items = [replace(it, metallic=DIELECTRIC[0], roughness=DIELECTRIC[1]) for it in items]
    if cfg.cast_shadows:
        light = replace(light, shadow_softness_mm=SHADOW_SOFTNESS_MM)
    color, depth, mask, alpha = renderer.render(items, K, light)
    if cfg.ambient_occlusion:
        color = occlude(color, ambient_occlusion(depth, K))
    bg = (scene_background(rng, cfg) if background_image is None else background_image).astype(np.float64)
    a = (alpha.astype(np.float64) / 255.0)[..., None]
    img = color.astype(np.float64) * a + bg * (1 - a)
    if rng.random() < cfg.p_motion_blur:
        img = _motion_blur(rng, img)
    if cfg.camera:
        image = camera_effects(rng, img, cfg.natural_tints)
    else:
        if rng.random() < cfg.p_noise:
            img = img + rng.normal(size=img.shape) * rng.uniform(1.0, 8.0)
        image = np.clip(img, 0, 255).astype(np.uint8)
    hands = []
    for joints, angles, ratios, anchor, rot, pos, side in labels_geo:  # rot, pos: of the right-hand model
        uvw = joints @ K.T
        uv = uvw[:, :2] / uvw[:, 2:]
        vis = _visible(joints, uv, depth, tol_mm=0.2 * anchor)
        hands.append(HandLabel(joints, uv, vis, side, angles, ratios, anchor, rot, pos))
    return image, mask, K, hands
