"""What makes a render look like a photo to a network trained on photos (issue 13: MediaPipe finds few hands in
the plain renders): a forearm (often in a sleeve) instead of a hand cut off at the wrist, a palm lighter than the
back and nails, a room's soft bounce light, backgrounds of muted colours and clutter seen out of focus, and a
camera's white balance, defocus and JPEG compression; colours read as display values and shaded in linear light
(:func:`linear_albedo`), skin shaded as a non-metal, two hands and arms never passing through each other
(:func:`move_apart`), skin tones and lights tinted as real ones are (:func:`natural_skin_tone`, :func:`light_cast`),
and both hands of an image one person's (:class:`Outfit`); and, as variants, the skin painted in a texture rather
than per vertex (:func:`skin_texture`), with the palm's major creases (:data:`PALM_LINES`).

Each lever is switched by :class:`~diffuhand.synth.scene.SceneConfig` and measured by
``benchmarks/bench_render_realism.py`` (what MediaPipe finds, its 2D error and its 3D error on the renders).
All functions draw from the generator they are given, so a render stays a function of its seed.
"""

from __future__ import annotations

import colorsys
import functools
import io
import itertools
from dataclasses import dataclass, replace

import numpy as np

from diffuhand.kinematics.skeleton import TIPS
from diffuhand.synth.render import OUTPUT_GAMMA, MeshItem, disc_samples, linear_to_output, output_to_linear

#: forearm cross-section at the wrist, as fractions of the anchor bone (wrist -> index MCP): half its width
#: (radial-ulnar) and half its thickness (dorsal-palmar); an adult wrist is about 60 x 40 mm
WRIST_HALF_WIDTH, WRIST_HALF_THICKNESS = 0.34, 0.22
#: the forearm starts this far distal of the wrist joint (inside the hand mesh, so that no seam shows)
FOREARM_OVERLAP = 0.12
_RING = 24  # vertices around the forearm
_RINGS = 8  # rings along each part of it (skin, sleeve)
#: the directions of a ring's vertices about the forearm's axis (angle a: (y, z) along (cos a, sin a))
_RING_ANGLES = np.linspace(0, 2 * np.pi, _RING, endpoint=False)
#: a forearm fitted to the hand's wrist (:class:`WristSection`): its tube begins this far distal of the wrist joint,
#: inside the hand, a little narrower than the hand there (share of the anchor bone; of the section) ...
FITTED_OVERLAP, FITTED_INSIDE = 0.05, 0.97
#: ... meets the hand's cut skin at the wrist a little wider than it, so that the cut's edge stays under the arm ...
FITTED_AT_WRIST = 1.02
#: ... widens to the forearm's own section (``WRIST_HALF_WIDTH``, ``WRIST_HALF_THICKNESS``) over this share of the
#: anchor bone, and bends at the wrist over this share, the bend growing from nothing at the joint (skin bends there;
#: a rigid tube swung about the joint stood out of the hand on one side and let the hand's cut skin through on the
#: other)
FITTED_TAPER, FITTED_BEND = 0.5, 0.3
#: rings of a fitted forearm within ``FITTED_TAPER`` of the wrist, where it bends and widens
_FITTED_RINGS = 10


def _tube(xs: np.ndarray, half_width: np.ndarray, half_thickness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An elliptical tube along x through rings at ``xs`` (hand frame: y radial, z dorsal): vertices, faces."""
    a = _RING_ANGLES
    v = np.stack(
        [
            np.repeat(xs, _RING),
            (half_width[:, None] * np.cos(a)).ravel(),
            (half_thickness[:, None] * np.sin(a)).ravel(),
        ],
        -1,
    )
    return v, _tube_faces(len(xs))


def _tube_faces(rings: int) -> np.ndarray:
    """(F, 3) the triangles joining ``rings`` rings of :data:`_RING` vertices each, ring after ring."""
    faces = []
    for r in range(rings - 1):
        for k in range(_RING):
            i, j = r * _RING + k, r * _RING + (k + 1) % _RING
            faces += [[i, j + _RING, j], [i, i + _RING, j + _RING]]
    return np.asarray(faces, dtype=np.int64)


def _arm_growth(xs: np.ndarray, length: float, widen: float) -> np.ndarray:
    """(len(xs),) how much wider than at the wrist a forearm (a sleeve: ``widen`` times) is at ``xs`` (mm along the
    hand's x, <= 0 up the arm): a forearm widens towards the elbow, ``length`` mm up."""
    return widen * (1.0 + 0.25 * np.clip(-xs / length, 0, 1))


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _taper(xs: np.ndarray, anchor_mm: float) -> np.ndarray:
    """(len(xs),) 0..1: how far a fitted forearm's rings at ``xs`` (mm) have gone from the hand's wrist section to
    the forearm's own, over :data:`FITTED_TAPER` anchor bones up the arm."""
    return _smoothstep(-xs / (FITTED_TAPER * anchor_mm))


@dataclass(frozen=True)
class Sleeve:
    """A sleeve over a forearm from ``share`` of its length from the wrist to the elbow; ``color``: RGB in [0, 1],
    display values."""

    share: float
    color: tuple[float, float, float]


@dataclass(frozen=True)
class Outfit:
    """What a person wears on the forearms: a :class:`Sleeve`, or None (bare arms)."""

    sleeve: Sleeve | None


@dataclass(frozen=True)
class WristSection:
    """Where a hand mesh's skin crosses its wrist joint, in the hand frame (x distal, y radial, z dorsal), as
    shares of the anchor bone: the centre (y, z) of its cross-section; how far its skin reaches from that centre in
    each of the forearm's ``_RING`` directions (angle a: (y, z) along (cos a, sin a)), radii (_RING,); and the
    vertex that reaches that far in each direction, vertices (_RING,) (its colour is the arm's there)."""

    centre: tuple[float, float]
    radii: np.ndarray
    vertices: np.ndarray


def wrist_section(positions_hand: np.ndarray, anchor_mm: float, slab: float = 0.03) -> WristSection:
    """The :class:`WristSection` of a hand mesh from its rest vertices in the hand frame, positions_hand (V, 3) mm
    with the wrist joint at the origin: those within ``slab`` anchor bones of the joint's plane, the centre of their
    extent, and per direction the farthest of them within half a step of it (a direction with none, on a coarse mesh,
    takes the vertex nearest it by angle)."""
    near = np.flatnonzero(np.abs(positions_hand[:, 0]) < slab * anchor_mm)
    if len(near) < 3:
        raise ValueError("no skin crosses the wrist joint's plane: not a hand mesh with a wrist")
    points = positions_hand[near, 1:]
    centre = (points.min(0) + points.max(0)) / 2
    d = points - centre
    angle, radius = np.arctan2(d[:, 1], d[:, 0]), np.linalg.norm(d, axis=1)
    off = np.abs((angle[None] - _RING_ANGLES[:, None] + np.pi) % (2 * np.pi) - np.pi)  # (_RING, N)
    reach = np.where(off < np.pi / _RING, radius[None], -1.0)  # within half a step of the direction
    best = reach.argmax(1)
    empty = reach.max(1) < 0
    # a direction no vertex lies in (a coarse mesh) takes the nearest vertex by angle
    best[empty] = off[empty].argmin(1)
    c = centre / anchor_mm
    return WristSection((float(c[0]), float(c[1])), radius[best] / anchor_mm, near[best])


def _fitted_tube(
    xs: np.ndarray, wrist: WristSection, anchor_mm: float, length: float, widen: float, bend: np.ndarray
) -> np.ndarray:
    """Vertices (len(xs) * _RING, 3) of a forearm tube through rings at ``xs`` (mm along the hand's x; <= 0 the
    arm) that leaves the hand at its wrist section and becomes the forearm's own (widened ``widen`` times), bent by
    ``bend`` (3, 3) from nothing at the wrist joint to all of it ``FITTED_BEND`` anchor bones up the arm."""
    from scipy.spatial.transform import Rotation

    grow = _arm_growth(xs, length, widen)[:, None]
    a = _RING_ANGLES
    at_wrist = np.where(xs > 0, FITTED_INSIDE, FITTED_AT_WRIST)[:, None]  # inside the hand distal of the joint
    s = _taper(xs, anchor_mm)[:, None]
    hand_y = wrist.centre[0] + at_wrist * wrist.radii * np.cos(a)  # (rings, _RING): the hand's own outline
    hand_z = wrist.centre[1] + at_wrist * wrist.radii * np.sin(a)
    y = (1 - s) * hand_y + s * WRIST_HALF_WIDTH * grow * np.cos(a)
    z = (1 - s) * hand_z + s * WRIST_HALF_THICKNESS * grow * np.sin(a)
    v = np.stack([np.repeat(xs, _RING), (y * anchor_mm).ravel(), (z * anchor_mm).ravel()], -1)
    # each ring turned by its share of the bend about the wrist joint (the rotation's log scaled: a slerp from none)
    share = _smoothstep(-xs / (FITTED_BEND * anchor_mm))
    turns = Rotation.from_rotvec(share[:, None] * Rotation.from_matrix(bend).as_rotvec()[None]).as_matrix()
    return np.einsum("rab,rkb->rka", turns, v.reshape(len(xs), _RING, 3)).reshape(-1, 3)


def forearm_items(
    rng: np.random.Generator,
    anchor_mm: float,
    rotation: np.ndarray,
    position: np.ndarray,
    tone: np.ndarray,
    mirror: bool,
    p_sleeve: float,
    outfit: Outfit | None = None,
    wrist: WristSection | None = None,
    wrist_colors: np.ndarray | None = None,
) -> tuple[list[MeshItem], Outfit]:
    """The forearm of a right-hand model posed by (``rotation``, ``position``) (camera frame, mm), bent at the
    wrist by a random flexion and deviation; with probability ``p_sleeve`` its proximal part in a sleeve; and what
    it wears. ``mirror``: the hand is drawn as a left hand (x mirrored). ``outfit``: what this person wears (the
    other arm's), whatever this arm draws; its draws are made all the same, so that a scene's later draws stay
    where they were.

    ``wrist``: the hand mesh's :class:`WristSection`, for a hand drawn without its skin proximal of the wrist joint:
    the arm then leaves the hand where its skin does and bends gradually (:func:`_fitted_tube`), its bare skin
    taking the hand's colours there (``wrist_colors`` (_RING, 3), the hand's at ``wrist.vertices``: the palm's
    lighter side goes on into the inner wrist) and fading to ``tone`` as it widens. Without it, a rigid elliptical
    tube from inside the hand (``FOREARM_OVERLAP``), swung about the wrist joint."""
    from scipy.spatial.transform import Rotation

    length = anchor_mm * rng.uniform(2.5, 4.0)
    bend = Rotation.from_euler("yz", [rng.uniform(-35, 35), rng.uniform(-15, 15)], degrees=True).as_matrix()
    sleeve = None
    drawn = 1  # parts drawn (skin, and a sleeve): each draws its shading below
    if rng.random() < p_sleeve:
        drawn = 2
        share = rng.uniform(0.15, 0.8)
        h, s, v = rng.random(), rng.beta(1.2, 3.0), rng.uniform(0.15, 0.9)
        sleeve = Sleeve(share, colorsys.hsv_to_rgb(h, s, v))
    if outfit is not None:  # the person's sleeve, pushed up as far as this arm's drew (or as the other arm's)
        worn = outfit.sleeve
        sleeve = None if worn is None else Sleeve(worn.share if sleeve is None else sleeve.share, worn.color)
    sleeve_at = length * sleeve.share if sleeve is not None else length
    start = (FOREARM_OVERLAP if wrist is None else FITTED_OVERLAP) * anchor_mm
    parts = [(start, -sleeve_at, 1.0, tone)]
    if sleeve is not None:
        parts.append((-sleeve_at + 2.0, -length, 1.2, np.array(sleeve.color)))
    m = np.diag([-1.0, 1.0, 1.0]) if mirror else np.eye(3)
    # per-vertex shading of the parts drawn (a worn sleeve not drawn reuses the skin's)
    shades = [1.0 + 0.04 * rng.normal(size=(_RINGS * _RING, 1)) for _ in range(drawn)]
    items = []
    for k, (x0, x1, widen, color) in enumerate(parts):
        shade = shades[min(k, drawn - 1)]
        if wrist is None:
            xs = np.linspace(x0, x1, _RINGS)
            grow = _arm_growth(xs, length, widen)
            v, f = _tube(xs, WRIST_HALF_WIDTH * anchor_mm * grow, WRIST_HALF_THICKNESS * anchor_mm * grow)
            v = v @ bend.T
        else:
            # rings close together where the arm leaves the hand, bends and widens; then as before
            near = max(min(x0, 0.0) - FITTED_TAPER * anchor_mm, x1)
            xs = np.unique(np.r_[np.linspace(x0, near, _FITTED_RINGS), np.linspace(near, x1, _RINGS)])[::-1]
            v, f = _fitted_tube(xs, wrist, anchor_mm, length, widen, bend), _tube_faces(len(xs))
            # the same draws: each ring takes the shading of a drawn ring, spread by ring index over the part
            rows = np.rint(np.linspace(0, _RINGS - 1, len(xs))).astype(int)
            shade = shade.reshape(_RINGS, _RING, 1)[rows].reshape(-1, 1)
            if k == 0 and wrist_colors is not None:  # the bare skin: the hand's colours at the wrist, fading
                s = _taper(xs, anchor_mm)[:, None, None]
                color = ((1 - s) * np.asarray(wrist_colors)[None] + s * np.asarray(tone)).reshape(-1, 3)
        v = v @ rotation.T + position
        items.append(MeshItem(v @ m, f[:, ::-1] if mirror else f, np.clip(color * shade, 0, 1), 0))
    return items, Outfit(sleeve)


#: flexion creases (joint index in the 21-joint order, the bone it lies across as (from, to), the crease's place
#: along that bone as a fraction from ``from``): the thumb's MCP and IP; each finger's base (the palmar digital
#: crease, about a third along the proximal phalanx), PIP and DIP
CREASES = (
    (2, (2, 3), 0.0),
    (3, (3, 4), 0.0),
    *((m, (m, m + 1), 0.35) for m in (5, 9, 13, 17)),
    *((m + 1, (m + 1, m + 2), 0.0) for m in (5, 9, 13, 17)),
    *((m + 2, (m + 2, m + 3), 0.0) for m in (5, 9, 13, 17)),
)


@dataclass(frozen=True)
class SkinLayout:
    """Where the skin's features lie on N surface points (a mesh's vertices, or its texels), fixed for a mesh:
    worked out once (:func:`skin_layout`) and painted with each hand's draws (:func:`paint_skin`).

    Attributes:
        palmar: (N, 1) 0..1, how much each point faces the palm's way (the lighter palm's share);
        nail: (N,) bool, the nails (the dorsal side of the fingertips);
        crease: (N,) 0..1, how much each point lies on a finger's flexion crease (:data:`CREASES`), or None;
        lines: (N,) 0..1, how much it lies on one of the palm's creases (:data:`PALM_LINES`), or None.
    """

    palmar: np.ndarray
    nail: np.ndarray
    crease: np.ndarray | None = None
    lines: np.ndarray | None = None


def skin_layout(
    positions: np.ndarray,
    dorsal_cos: np.ndarray,
    tips: np.ndarray,
    anchor_mm: float,
    joints: np.ndarray | None = None,
) -> SkinLayout:
    """Where the palm, the nails and (with ``joints``) the fingers' flexion creases lie on the rest surface.

    positions (N, 3) mm, rest mesh frame; dorsal_cos (N,) how far each point's normal faces the dorsal side of the
    part it lies on (the cosine with :attr:`~diffuhand.synth.mesh.HandMesh.rest_dorsal`: a digit's own, so that the
    thumb, turned from the fingers, has its nail where its skin does); tips (5, 3) rest fingertip positions; joints
    (21, 3) rest joints, where the creases are (:data:`CREASES`)."""
    palmar = np.clip(-dorsal_cos, 0, 1)[:, None] ** 1.5
    near_tip = np.linalg.norm(positions[:, None] - tips[None], axis=-1).min(1) < 0.16 * anchor_mm
    nail = near_tip & (dorsal_cos > 0.55)
    crease = None
    if joints is not None:
        half_width = CREASE_HALF_WIDTH * anchor_mm
        crease = np.zeros(len(positions))  # how much each point lies on a crease, 0..1 (the nearest one counts)
        for _, (a, b), along in CREASES:
            axis = joints[b] - joints[a]
            length = np.linalg.norm(axis)
            axis = axis / length
            rel = positions - (joints[a] + along * length * axis)
            t = rel @ axis  # along the bone: 0 on the crease
            radial = np.linalg.norm(rel - t[:, None] * axis, axis=-1)
            on = (np.abs(t) < half_width) & (radial < FINGER_RADIUS * anchor_mm)
            crease = np.maximum(crease, np.where(on, 1 - np.abs(t) / half_width, 0.0))
    return SkinLayout(palmar, nail, crease)


def paint_skin(rng: np.random.Generator, tone: np.ndarray, positions: np.ndarray, layout: SkinLayout) -> np.ndarray:
    """(N, 3) colours (display values) of the surface points laid out by ``layout``: ``tone`` (3,) with a blotchy
    texture a few cm across (drawn from ``rng``), a lighter and pinker palm (palmar skin has little melanin, most
    visible on dark skin), nails, and the layout's creases darker (what tells a palm from the back of the other
    hand, whose outline is the same). positions (N, 3) mm, rest mesh frame (the blotches move with the skin)."""
    waves = rng.normal(size=(6, 3)) / 25.0  # per-mm frequencies: blotches a few cm wide
    phase = rng.uniform(0, 2 * np.pi, 6)
    tex = np.sin(positions @ waves.T + phase).mean(1)
    base = tone * (1.0 + 0.12 * tex[:, None])
    palm_tone = tone + (np.array([0.98, 0.80, 0.74]) - tone) * rng.uniform(0.25, 0.55)
    palmar = layout.palmar
    col = base * (1 - palmar) + palm_tone * (1 + 0.06 * tex[:, None]) * palmar
    nail = layout.nail
    col[nail] = col[nail] * 0.55 + np.array([0.95, 0.82, 0.80]) * 0.45
    if layout.crease is not None:
        # fixed depth, not drawn: the same scenes as without creases, for a paired comparison
        col = col * (1 - (1 - CREASE_DEPTH) * layout.crease * palmar[:, 0])[:, None]
    col = np.clip(col, 0, 1)
    if layout.lines is not None:
        col = col * (1 - (1 - PALM_LINE_DEPTH) * layout.lines * palmar[:, 0])[:, None]
    return col


def skin_colors(
    rng: np.random.Generator,
    tone: np.ndarray,
    vertices: np.ndarray,
    dorsal_cos: np.ndarray,
    tips: np.ndarray,
    anchor_mm: float,
    joints: np.ndarray | None = None,
) -> np.ndarray:
    """(V, 3) colours of the rest mesh (:func:`paint_skin` on :func:`skin_layout`): ``tone`` with a blotchy
    texture, a lighter palm, nails, and with ``joints`` (21, 3) rest joints the fingers' flexion creases.

    ``dorsal_cos`` (V,) how far each rest normal faces its part's dorsal side (:func:`skin_layout`); ``tips`` (5, 3)
    rest fingertip positions. A scene lays its mesh out once and paints each hand (the same colours)."""
    return paint_skin(rng, tone, vertices, skin_layout(vertices, dorsal_cos, tips, anchor_mm, joints))


#: a crease's darkest colour as a share of the skin's around it
CREASE_DEPTH = 0.7
#: a finger's radius as a share of the anchor bone (about 10 mm on an adult hand): a crease stays on its finger
FINGER_RADIUS = 0.11
#: half the width of a flexion crease's darkening, as a share of the anchor bone (about 4 mm on an adult hand:
#: the mesh's vertices are about 4 mm apart, so narrower would fall between them)
CREASE_HALF_WIDTH = 0.045


#: the scenes' random colour draws, each a spread that the natural tints read back as a quantile or a deviation
#: (so that both make the same draws): a skin tone's per-channel factor, uniform in 1 +- TONE_JITTER
TONE_JITTER = 0.1
#: a room light's per-channel tint, normal with this standard deviation (with fill light), or uniform in
#: [0, LIGHT_TINT_MAX] below white (without)
LIGHT_TINT_SD, LIGHT_TINT_MAX = 0.05, 0.15
#: the camera's per-channel white-balance gain, normal about 1 with this standard deviation
WB_GAIN_SD = 0.06
#: a natural skin tone's shift of its green channel (towards yellow, or red), as a share of its draw's deviation:
#: +-3% for the +-10% draw, about +-3 degrees of hue
TONE_HUE_SHARE = 0.3


def muted_color(rng: np.random.Generator) -> np.ndarray:
    """An RGB colour in [0, 1] as rooms have them: mostly low saturation, any brightness."""
    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.beta(1.2, 3.5), rng.uniform(0.15, 0.95)))


def clutter_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) uint8: a room-like scene of muted surfaces and objects (walls, shelves, boxes, cans),
    lit unevenly, out of focus to a random degree."""
    from PIL import Image, ImageDraw, ImageFilter

    base = muted_color(rng)
    yy, xx = np.mgrid[0:size, 0:size] / size
    a = rng.uniform(0, 2 * np.pi)
    light = 0.75 + 0.5 * (np.cos(a) * xx + np.sin(a) * yy - 0.5)
    img = Image.fromarray((np.clip(base * light[..., None], 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    # vertical and horizontal structure (shelves, door frames, furniture edges)
    for _ in range(rng.integers(2, 8)):
        c = tuple(int(v) for v in muted_color(rng) * 255)
        if rng.random() < 0.5:
            x = rng.uniform(0, size)
            draw.rectangle([x, 0, x + rng.uniform(2, size / 6), size], fill=c)
        else:
            y = rng.uniform(0, size)
            draw.rectangle([0, y, size, y + rng.uniform(2, size / 10)], fill=c)
    # objects: boxes, cans, bottles, some bright
    for _ in range(rng.integers(5, 40)):
        c = muted_color(rng) if rng.random() < 0.7 else np.array(colorsys.hsv_to_rgb(rng.random(), 0.8, 0.9))
        w, h = rng.uniform(0.02, 0.25, 2) * size
        x, y = rng.uniform(-0.1, 1.0, 2) * size
        box = [x, y, x + w, y + h]
        if rng.random() < 0.4:
            draw.ellipse(box, fill=tuple(int(v) for v in c * 255))
        else:
            draw.rectangle(box, fill=tuple(int(v) for v in c * 255))
    arr = np.asarray(img, dtype=np.float64) * (1.0 + 0.04 * rng.normal(size=(size, size, 1)))  # surface grain
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return np.asarray(img.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 3.0) * size / 256)))


def defocus(rng: np.random.Generator, image: np.ndarray, max_sigma: float) -> np.ndarray:
    """A background out of focus: Gaussian blur with sigma in [0, ``max_sigma``] pixels."""
    from PIL import Image, ImageFilter

    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(rng.uniform(0, max_sigma))))


#: ambient occlusion (:func:`ambient_occlusion`): the radius (mm) around a point within which nearer surfaces
#: shade it (about a finger's length: the gaps between fingers, the palm's hollow, a curled finger over the palm;
#: measured against 15 and 35 mm, docs/results.md), the number of surface samples in that disc, and how much of
#: the light a fully enclosed point loses
AO_RADIUS_MM, AO_SAMPLES, AO_STRENGTH = 25.0, 24, 0.5
#: depth differences (mm) below this are the surface's own curvature (or the depth buffer's steps), not a cover
AO_BIAS_MM = 2.0


def ambient_occlusion(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1]: how much of each rendered point's surroundings lies nearer the camera than the point, from
    the depth buffer alone: screen-space ambient occlusion in its first, unoriented form (Mittring 2007, "Finding
    next gen: CryEngine 2"), which samples around the point without its normal. A point is shaded by the share of
    :data:`AO_SAMPLES` surface points in a disc of :data:`AO_RADIUS_MM` around it (at its depth, through ``K``) that
    lie nearer the camera than the point itself by more than :data:`AO_BIAS_MM` and by less than the disc's diameter
    (farther in front, an object covers it from no nearer than the light does).

    What it shades: hollows and the gaps between fingers (a curled finger over the palm), and, being unoriented,
    also surfaces that turn away from the camera, the more the steeper (a finger's flanks, a tilted palm); a
    surface facing the camera and the rim of a shape seen against the background stay open. The renderer has no
    global illumination: without this, the gaps between fingers are lit as brightly as the back of the hand. The
    tangent-plane form, which shades hollows only, measured less photo-like to MediaPipe (docs/results.md).

    depth (H, W): mm, 0 where nothing was rendered (never shaded, nor shading); K (3, 3) intrinsics (px). The
    samples lie on a fixed golden-angle spiral (:func:`~diffuhand.synth.render.disc_samples`). Samples outside the
    image count as open."""
    h, w = depth.shape
    surface = depth > 0
    if not surface.any():
        return np.zeros((h, w))
    angle, reach = disc_samples(AO_SAMPLES)
    ys, xs = np.nonzero(surface)
    z = depth[ys, xs]
    radius_px = AO_RADIUS_MM * K[0, 0] / z  # the disc's radius at each point's depth
    covered = np.zeros(len(z))
    for a, r in zip(angle, reach):
        sx = np.rint(xs + r * radius_px * np.cos(a)).astype(int)
        sy = np.rint(ys + r * radius_px * np.sin(a)).astype(int)
        inside = (sx >= 0) & (sx < w) & (sy >= 0) & (sy < h)
        sx, sy = np.clip(sx, 0, w - 1), np.clip(sy, 0, h - 1)
        nearer = z - depth[sy, sx]
        covered += inside & surface[sy, sx] & (nearer > AO_BIAS_MM) & (nearer < 2.0 * AO_RADIUS_MM)
    occlusion = np.zeros((h, w))
    occlusion[ys, xs] = covered / AO_SAMPLES
    return occlusion


def occlude(color: np.ndarray, occlusion: np.ndarray, strength: float | None = None) -> np.ndarray:
    """(H, W, 3) float [0, 255]: the rendered ``color`` (H, W, 3) uint8 (encoded by the renderer's output gamma)
    with its light reduced by ``strength`` (default :data:`AO_STRENGTH`) x ``occlusion`` (H, W)
    (:func:`ambient_occlusion`), in linear light."""
    strength = AO_STRENGTH if strength is None else strength
    out = color.astype(np.float64)
    shaded = occlusion > 0  # elsewhere exactly as rendered (a round trip through the gamma would not be)
    linear = output_to_linear(out[shaded]) * (1.0 - strength * occlusion[shaded])[:, None]
    out[shaded] = linear_to_output(linear)
    return out


def camera_effects(rng: np.random.Generator, image: np.ndarray, natural: bool = False) -> np.ndarray:
    """(H, W, 3) float [0, 255] -> uint8 through a camera: white balance, a little lens blur, sensor noise, JPEG.

    The white balance scales each channel by its own random gain; ``natural``: by one gain (exposure) with a
    residual green-magenta tint (:data:`GREEN_TINT_SD`), the light's warm-cool residual being in its colour
    (:func:`light_cast`). The same draws either way."""
    from PIL import Image, ImageFilter

    gains = rng.normal(1.0, WB_GAIN_SD, 3)  # white balance
    if natural:  # the first draw as exposure, the second as the green tint (its standard deviation rescaled)
        gains = gains[0] * np.array([1.0, 1.0 + (gains[1] - 1.0) * GREEN_TINT_SD / WB_GAIN_SD, 1.0])
    img = image * gains
    img = img + rng.normal(size=img.shape) * rng.uniform(0.5, 4.0)
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 0.8) * image.shape[0] / 256))
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=int(rng.integers(40, 96)))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


#: the skin texture's side in texels (the shipped mesh's palm spans about 230 of them: about 0.4 mm each)
TEXTURE_SIZE = 512
#: the palm's three major flexion creases (distal transverse, proximal transverse, thenar), each a polyline of
#: points p = wrist + t * (joint a + s * (joint b - joint a) - wrist) + r * radial, given as (a, b, s, t, r):
#: t along the ray from the wrist, r across the palm towards the thumb (share of the anchor bone). From the
#: anatomy of the palmar creases: the distal one from the ulnar border below the little finger arching to between
#: the index and middle fingers; the proximal one from the radial border above the thumb obliquely to the ulnar
#: mid-palm; the thenar one from the same radial point around the thenar eminence to the wrist's middle.
PALM_LINES = (
    ((17, 17, 0.0, 0.78, -0.10), (13, 13, 0.0, 0.80, 0.0), (9, 5, 0.5, 0.86, 0.0)),
    ((5, 5, 0.0, 0.62, 0.10), (9, 9, 0.0, 0.62, 0.0), (13, 17, 0.5, 0.58, 0.0)),
    ((5, 5, 0.0, 0.62, 0.10), (5, 2, 0.5, 0.45, 0.0), (9, 9, 0.0, 0.12, 0.05)),
)
#: a palm line's half width and its darkest colour as a share of the skin around it (a crease is a fold about a
#: millimetre wide with a softer shadow beside it)
PALM_LINE_HALF_WIDTH, PALM_LINE_DEPTH = 0.018, 0.72


@dataclass
class SkinSurface:
    """The rest mesh's surface behind each texel its UV layout covers.

    Attributes:
        rows, cols: (T,) the covered texels; positions (T, 3) mm, normals (T, 3) unit and dorsal (T, 3) unit (the
        dorsal direction of the part each lies on, :attr:`~diffuhand.synth.mesh.HandMesh.rest_dorsal`), rest mesh
        frame; size: the texture's side; fill: (2, size, size) for every texel the covered texel nearest to it (so that
        the colour bleeds past the UV islands' edges and no seam shows where the renderer filters).
    """

    rows: np.ndarray
    cols: np.ndarray
    positions: np.ndarray
    normals: np.ndarray
    dorsal: np.ndarray
    size: int
    fill: np.ndarray


def bake_surface(
    vertices: np.ndarray,
    normals: np.ndarray,
    dorsal: np.ndarray,
    faces: np.ndarray,
    uv: np.ndarray,
    size: int = TEXTURE_SIZE,
) -> SkinSurface:
    """Rasterise the mesh in its UV layout (texel (row, col) covers v, u in [row, row + 1) / size, [col, col + 1)
    / size): the surface point, normal and dorsal direction behind each texel centre, by barycentric interpolation.

    vertices, normals, dorsal: (V, 3); faces: (F, 3); uv: (V, 2) in [0, 1]."""
    from scipy.ndimage import distance_transform_edt

    pos = np.zeros((size, size, 3))
    nrm = np.zeros((size, size, 3))
    dor = np.zeros((size, size, 3))
    covered = np.zeros((size, size), bool)
    px = np.asarray(uv, dtype=np.float64) * size
    for f in np.asarray(faces):
        a, b, c = px[f]
        lo = np.floor(np.minimum(np.minimum(a, b), c)).astype(int).clip(0, size - 1)
        hi = np.ceil(np.maximum(np.maximum(a, b), c)).astype(int).clip(0, size - 1)
        cols, rows = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1))
        p = np.stack([cols.ravel() + 0.5, rows.ravel() + 0.5], -1)
        m = np.array([b - a, c - a]).T
        if abs(np.linalg.det(m)) < 1e-12:
            continue
        l12 = np.linalg.solve(m, (p - a).T).T
        bary = np.column_stack([1 - l12.sum(1), l12])
        inside = (bary >= -1e-9).all(1)
        r, k, w = rows.ravel()[inside], cols.ravel()[inside], bary[inside]
        pos[r, k] = w @ vertices[f]
        nrm[r, k] = w @ normals[f]
        dor[r, k] = w @ dorsal[f]
        covered[r, k] = True
    rows, cols = np.nonzero(covered)
    n, d = nrm[rows, cols], dor[rows, cols]
    fill = distance_transform_edt(~covered, return_distances=False, return_indices=True)

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    return SkinSurface(rows, cols, pos[rows, cols], unit(n), unit(d), size, fill)


def palm_lines(positions_hand: np.ndarray, joints_hand: np.ndarray, anchor_mm: float) -> np.ndarray:
    """(T,) how much each point lies on one of :data:`PALM_LINES`, 0..1 (1 on the line), from its place in the
    palm's plane. positions_hand (T, 3), joints_hand (21, 3): mm, hand frame (x distal, y radial, z dorsal)."""
    w = joints_hand[0]
    radial = joints_hand[5] - joints_hand[17]
    radial = np.array([radial[0], radial[1], 0.0]) / np.linalg.norm(radial[:2])
    on = np.zeros(len(positions_hand))
    p = positions_hand[:, :2]
    for line in PALM_LINES:
        pts = np.array(
            [
                w + t * (joints_hand[a] + s * (joints_hand[b] - joints_hand[a]) - w) + r * anchor_mm * radial
                for a, b, s, t, r in line
            ]
        )[:, :2]
        for q0, q1 in itertools.pairwise(pts):
            d = q1 - q0
            t = np.clip((p - q0) @ d / (d @ d), 0.0, 1.0)
            dist = np.linalg.norm(p - (q0 + t[:, None] * d), axis=1)
            on = np.maximum(on, np.clip(1.0 - dist / (PALM_LINE_HALF_WIDTH * anchor_mm), 0.0, 1.0))
    return on


def texture_layout(
    surface: SkinSurface,
    rest_root: np.ndarray,
    joints: np.ndarray,
    anchor_mm: float,
    creases: bool = False,
    lines: bool = False,
) -> SkinLayout:
    """Where the skin's features lie on the texels of ``surface`` (:func:`skin_layout`), with ``lines`` the palm's
    flexion creases (:data:`PALM_LINES`) too, sharp at the texture's resolution where the mesh's 4 mm vertex spacing
    blurred them.

    rest_root (3, 3): hand frame -> mesh frame; joints (21, 3): the rig's joints (mm, mesh frame), where anatomy
    puts the creases, tips and nails; anchor_mm: the size the features' widths are shares of (the vertex path's)."""
    anchor = float(anchor_mm)
    dorsal_cos = (surface.normals * surface.dorsal).sum(1)
    layout = skin_layout(surface.positions, dorsal_cos, joints[list(TIPS)], anchor, joints if creases else None)
    if lines:
        on = palm_lines((surface.positions - joints[0]) @ rest_root, (joints - joints[0]) @ rest_root, anchor)
        layout = replace(layout, lines=on)
    return layout


def skin_texture(rng: np.random.Generator, tone: np.ndarray, surface: SkinSurface, layout: SkinLayout) -> np.ndarray:
    """(size, size, 3) uint8, sRGB-encoded: the skin painted per texel (:func:`paint_skin` on ``layout``, from
    :func:`texture_layout`) instead of per vertex: the same draws from ``rng`` and, rendered, the same colours."""
    col = np.round(linear_to_srgb(np.clip(paint_skin(rng, tone, surface.positions, layout), 0, 1)) * 255)
    # the renderer reads a base-colour texture as sRGB and takes vertex colours as they are: encoded, the texel
    # gives the colour the vertex would; encoded per covered texel, then spread to the others (the same values)
    img = np.zeros((surface.size, surface.size, 3), np.uint8)
    img[surface.rows, surface.cols] = col.astype(np.uint8)
    return img[surface.fill[0], surface.fill[1]]


def move_apart(vertices: np.ndarray, others: np.ndarray, gap_mm: float, step_mm: float = 5.0) -> np.ndarray:
    """The smallest translation (3,) mm, in whole ``step_mm`` along the image plane away from ``others``, that
    leaves every vertex of a hand (with its forearm) at least ``gap_mm`` from every vertex of the hands and arms
    already placed: hands sampled independently would otherwise sometimes pass through each other, which no photo
    shows.

    vertices (V, 3), others (W, 3): camera frame, mm. The direction is from the others' centroid to this hand's,
    in x-y (the image plane, so that the camera's distance and the hand's size in the image stay)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(others)
    d = vertices.mean(0) - others.mean(0)
    d[2] = 0.0
    d = d / np.linalg.norm(d) if np.linalg.norm(d) > 1e-6 else np.array([1.0, 0.0, 0.0])
    # moved this far along d, every vertex lies beyond every other one along d by the gap (the centroids are
    # ordered along d): the search ends there at the latest
    reach = float(np.ptp(vertices @ d) + np.ptp(others @ d) + gap_mm)
    for k in range(int(np.ceil(reach / step_mm)) + 1):
        t = d * k * step_mm
        if tree.query(vertices + t, distance_upper_bound=gap_mm)[0].min() >= gap_mm:
            return t
    raise AssertionError("unreachable: moved by the reach, the hands are the gap apart along d")


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """The inverse of :func:`linear_to_srgb`: an sRGB-encoded colour (what a swatch or a photo's pixel holds) as
    linear light (what the renderer multiplies its lighting by, and then encodes). c: values in [0, 1], any shape."""
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, np.power((c + 0.055) / 1.055, 2.4))


def linear_albedo(item: MeshItem) -> MeshItem:
    """``item`` with its colours (vertex colours, or texture) read as display values (a swatch's, a photo's) and
    handed to the renderer as the linear light its output encoding (:data:`~diffuhand.synth.render.OUTPUT_GAMMA`)
    turns back into them: a swatch then renders as itself under unit light, dark ones too."""
    albedo = np.clip(item.colors, 0, 1) ** OUTPUT_GAMMA
    texture = item.texture
    if texture is not None:
        # a texture holds the item's colours sRGB-encoded (skin_texture), which the renderer decodes: encode the
        # albedo instead (a function of each 8-bit value: looked up, not worked out per texel)
        texture = _albedo_table()[texture]
    return replace(item, colors=albedo, texture=texture)


@functools.cache
def _albedo_table() -> np.ndarray:
    """(256,) uint8: an sRGB-encoded display value -> the sRGB encoding of its albedo (:func:`linear_albedo`)."""
    colours = srgb_to_linear(np.arange(256) / 255.0) ** OUTPUT_GAMMA
    return np.round(linear_to_srgb(colours) * 255).astype(np.uint8)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """The sRGB transfer curve (IEC 61966-2-1), the inverse of what the renderer applies to a colour texture.
    c: values in [0, 1], any shape."""
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


#: the range of colour temperatures of the lights in rooms (K): warm incandescent and LED to daylight
LIGHT_KELVIN = (2700.0, 6500.0)
#: a camera's auto white balance leaves the light's colour off neutral by a residual of this standard deviation,
#: in mired (1e6 / K: equal steps look equally large): about 250 K at 4000 K
AWB_ERROR_MIRED = 15.0
#: a camera's residual green-magenta tint, as a standard deviation of the green gain (off the Planckian locus)
GREEN_TINT_SD = 0.015
#: CIE XYZ -> linear sRGB (IEC 61966-2-1, D65)
_XYZ_TO_SRGB = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])


def planckian_xy(kelvin: float) -> np.ndarray:
    """(2,) CIE 1931 xy chromaticity of a black body at ``kelvin`` (1667-25000 K), by the cubic approximation of
    the Planckian locus of Kang et al. (2002), "Design of advanced color temperature control system for HDTV
    applications", J. Korean Phys. Soc. 41(6)."""
    if not 1667.0 <= kelvin <= 25000.0:
        raise ValueError(f"colour temperature {kelvin} K outside 1667-25000 K")
    t = float(kelvin)
    if t <= 4000.0:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222.0:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000.0:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    return np.array([x, y])


def xy_to_linear_srgb(xy: np.ndarray) -> np.ndarray:
    """(3,) linear sRGB of the CIE 1931 chromaticity ``xy`` (2,), its largest channel 1 (D65's is white)."""
    x, y = xy
    rgb = _XYZ_TO_SRGB @ np.array([x / y, 1.0, (1.0 - x - y) / y])
    return rgb / rgb.max()


def planckian_rgb(kelvin: float) -> np.ndarray:
    """(3,) linear sRGB colour of a black body at ``kelvin``, its largest channel 1 (a light's colour)."""
    return xy_to_linear_srgb(planckian_xy(kelvin))


def light_cast(kelvin: float, awb_error_mired: float) -> np.ndarray:
    """(3,) linear RGB, largest channel 1: the colour a light of ``kelvin`` keeps in a photo whose camera balanced
    white for a black body ``awb_error_mired`` away from it (its auto white balance's residual). Lights vary
    along the Planckian locus, not per channel at random: a per-channel tint turns skin green or magenta, which
    no room light does."""
    estimate = 1e6 / (1e6 / kelvin + awb_error_mired)
    cast = planckian_rgb(kelvin) / planckian_rgb(estimate)
    return cast / cast.max()


def natural_skin_tone(index: int, draws: np.ndarray, tones: np.ndarray) -> np.ndarray:
    """(3,) a skin tone (display values) from ``tones`` (T, 3), light to dark, a swatch ``index`` and three uniform
    draws in 1 +- :data:`TONE_JITTER` (the per-channel jitter's, read back): the first scales its brightness, the
    second places it on the continuous scale through the swatches (swatch ``index``'s share of it, uniform over the
    whole scale across the draws: skin's melanin varies continuously), the third moves its green channel by
    :data:`TONE_HUE_SHARE` of its deviation (towards yellow or red, as carotene and haemoglobin do). Varied this
    way the tone stays a skin colour; each channel jittered at random (the default) makes some hands green or grey.
    """
    brightness, between, hue = draws
    share = (between - (1.0 - TONE_JITTER)) / (2.0 * TONE_JITTER)  # in [0, 1]
    pos = (index + share) * (len(tones) - 1) / len(tones)  # uniform over [0, T - 1] for a uniform index and share
    lo = int(np.floor(pos))
    hi = min(lo + 1, len(tones) - 1)
    tone = tones[lo] + (pos - lo) * (tones[hi] - tones[lo])
    green = 1.0 + TONE_HUE_SHARE * (hue - 1.0)
    return np.clip(tone * brightness * np.array([1.0, green, 1.0]), 0.0, 1.0)
