"""The key light's cast shadows (synth.render): checked against rays traced to the light by hand."""

from dataclasses import replace

import numpy as np
import pytest

from diffuhand.synth.render import (
    Lighting,
    MeshItem,
    depth_normals,
    light_frame,
    shadow_visibility,
    surface_points,
)

K = np.array([[150.0, 0.0, 48.0], [0.0, 150.0, 48.0], [0.0, 0.0, 1.0]])


def _square(centre, half: float, z_tilt: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A square (4 vertices, 2 faces) about ``centre`` (mm), tilted about y: z grows by ``z_tilt`` per mm of x."""
    cx, cy, cz = centre
    xy = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    v = np.column_stack([cx + xy[:, 0], cy + xy[:, 1], cz + z_tilt * xy[:, 0]])
    return v, np.array([[0, 2, 1], [0, 3, 2]])


#: the occluder's centre: off the axis in both directions, so that a shadow map flipped in either is caught
OCCLUDER = (-10.0, 15.0, 450.0)


def _items(occluder: bool = True, tilt: float = 0.0) -> list[MeshItem]:
    wall = _square((0.0, 0.0, 500.0), 200.0, tilt)
    items = [MeshItem(*wall, np.full((4, 3), 0.8), 1)]
    if occluder:
        items.append(MeshItem(*_square(OCCLUDER, 20.0), np.full((4, 3), 0.5), 0))
    return items


def test_light_frame_is_right_handed_across_the_light():
    for d in ([0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.2, -0.9, 0.3], [0.0, 1.0, 0.0]):
        f = light_frame(d)
        np.testing.assert_allclose(f @ f.T, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(f[2], np.asarray(d) / np.linalg.norm(d))
        np.testing.assert_allclose(np.cross(f[0], f[1]), -f[2], atol=1e-12)


def test_shadow_map_holds_the_depth_along_the_light(renderer):
    """The orthographic depth render, undone from pyrender's perspective conversion, gives each texel's distance
    along the light: on a wall facing the camera, lit at 45 degrees, w = p . d of the wall's points."""
    import pyrender

    d = np.array([1.0, 0.0, 1.0]) / np.sqrt(2.0)
    items = _items(occluder=False)
    scene = pyrender.Scene()
    for it in items:
        scene.add(renderer._mesh(it))
    scene.add(pyrender.IntrinsicsCamera(150.0, 150.0, 48.0, 48.0, znear=0.02, zfar=10.0), pose=np.eye(4))
    receivers = np.array([[x, y, 500.0] for x in (-60.0, 60.0) for y in (-60.0, 60.0)])
    shadow = renderer.shadow_map(scene, items, receivers, d, margin_mm=5.0)
    rows, cols = np.nonzero(np.isfinite(shadow.depth))
    u = shadow.origin[0] + cols * shadow.texel_mm
    v = shadow.origin[1] - rows * shadow.texel_mm
    # the wall z = 500 in light coordinates: p = u f0 + v f1 + w f2 with p . e_z = 500
    f = shadow.frame
    w_true = (500.0 - u * f[0, 2] - v * f[1, 2]) / f[2, 2]
    assert len(rows) > 0.9 * shadow.depth.size
    np.testing.assert_allclose(shadow.depth[rows, cols], w_true, atol=0.2)


def test_shadow_falls_where_the_ray_to_the_light_meets_the_occluder(renderer):
    """A square 50 mm in front of a wall, off the axis, the light travelling aslant in x and y: the wall's pixels
    darkened are those whose ray back to the light crosses the square (traced by hand), but for the soft edge;
    without softness, or with the occluder taken away, nothing is darkened."""
    d = np.array([0.8, -0.5, 1.0])
    light = Lighting(ambient=0.2, directional=tuple(d), intensity=3.0)
    plain, depth, _, _ = renderer.render(_items(), K, light)
    soft, _, _, _ = renderer.render(_items(), K, replace(light, shadow_softness_mm=2.0))
    points = surface_points(depth, K)
    wall = np.abs(depth - 500.0) < 1.0
    t = (points[..., 2] - OCCLUDER[2]) / d[2]
    crossing = points - t[..., None] * d - np.array(OCCLUDER)
    traced = wall & (np.abs(crossing[..., 0]) < 20.0) & (np.abs(crossing[..., 1]) < 20.0)
    darkened = wall & (soft[..., 0].astype(int) < plain[..., 0].astype(int) - 5)
    assert traced.sum() > 100
    # the soft edge: within the penumbra's reach (2 mm, plus a pixel at 500 mm: 3.3 mm) of the traced outline
    edge = wall & (np.abs(np.maximum(np.abs(crossing[..., 0]), np.abs(crossing[..., 1])) - 20.0) < 6.0)
    np.testing.assert_array_equal(darkened[wall & ~edge], traced[wall & ~edge])
    # in the middle of the shadow only the key light's part goes: what is left is the ambient light's
    unlit, *_ = renderer.render(_items(), K, Lighting(ambient=0.2, directional=tuple(d), intensity=0.0))
    core = traced & ~edge
    assert np.abs(soft[core].astype(int) - unlit[core].astype(int)).max() <= 2
    bare, *_ = renderer.render(_items(occluder=False), K, replace(light, shadow_softness_mm=2.0))
    bare_plain, *_ = renderer.render(_items(occluder=False), K, light)
    np.testing.assert_array_equal(bare, bare_plain)


@pytest.mark.parametrize("tilt", [0.0, 1.0, -1.5])
def test_a_lit_surface_does_not_shadow_itself(renderer, tilt):
    """No shadow acne: a wall tilted 0, 45 and -56 degrees, alone under a slanting light, renders as without
    shadows (the bias follows the surface's slant to the light)."""
    light = Lighting(ambient=0.2, directional=(0.5, 0.3, 1.0), intensity=3.0)
    plain, *_ = renderer.render(_items(occluder=False, tilt=tilt), K, light)
    shadowed, *_ = renderer.render(_items(occluder=False, tilt=tilt), K, replace(light, shadow_softness_mm=3.0))
    np.testing.assert_array_equal(shadowed, plain)


def test_visibility_is_the_share_of_the_disc_in_the_clear():
    """shadow_visibility on a hand-made map: a caster covering the half u < 0 in front of a point at u = 0 leaves
    it half lit (the disc's samples split by the edge, within the spiral's sampling); far from the edge, all or
    nothing."""
    from diffuhand.synth.render import ShadowMap

    frame = light_frame([0.0, 0.0, 1.0])
    n, texel = 201, 0.1
    origin = np.array([-10.0, 10.0])
    u = origin[0] + np.arange(n) * texel
    depth = np.where(u[None, :] < 0.0, 100.0, np.inf).repeat(n, axis=0)
    shadow = ShadowMap(depth, frame, origin, texel)
    normals = np.tile(-frame[2], (3, 1))  # facing the light
    pts_uvw = np.array([[0.0, 0.0, 200.0], [-5.0, 0.0, 200.0], [5.0, 0.0, 200.0]])
    points = pts_uvw @ frame
    vis = shadow_visibility(points, normals, shadow, softness_mm=2.0)
    assert abs(vis[0] - 0.5) <= 0.15 and vis[1] == 0.0 and vis[2] == 1.0


def test_depth_normals_face_the_camera():
    depth = np.full((20, 20), 400.0)
    n = depth_normals(surface_points(depth, K))
    np.testing.assert_allclose(n[5:15, 5:15], np.tile([0.0, 0.0, -1.0], (10, 10, 1)), atol=1e-9)


def test_scenes_with_cast_shadows_only_take_light_away(renderer):
    """SceneConfig.cast_shadows: the same scenes (no draw is added), darker where the key light is blocked and
    nowhere brighter; some of them visibly shadowed (a finger over the palm, an occluder over the hand)."""
    from diffuhand.synth.scene import SceneConfig, render_sample

    base = SceneConfig(size=96, p_noise=0.0, p_motion_blur=0.0, p_occluder=0.5, p_forearm=1.0)
    shaded = 0
    for i in range(8):
        plain, mask, _, hands = render_sample(np.random.default_rng([5, i]), renderer, base)
        dark, mask2, _, hands2 = render_sample(
            np.random.default_rng([5, i]), renderer, replace(base, cast_shadows=True)
        )
        np.testing.assert_array_equal(mask, mask2)
        np.testing.assert_array_equal(hands[0].joints_3d, hands2[0].joints_3d)
        assert (dark.astype(int) <= plain.astype(int) + 1).all()
        shaded += int(((plain.astype(int) - dark.astype(int)).max(-1) > 10).sum() > 20)
    assert shaded >= 2


def test_surface_points_lie_on_the_rendered_surface(renderer):
    """Pixel j spans K's coordinates j to j + 1: the points back-projected at the pixels' centres lie on a wall
    tilted 45 degrees to the camera across x (z = 500 + x) within 0.8 mm (the depth buffer is one of pyrender's
    multisamples, measured on Mesa an eighth of a pixel from the centre across x); taken at K's integer coordinates
    they would lie 1.3 mm off it, and this test fails."""
    _, depth, _, _ = renderer.render(_items(occluder=False, tilt=1.0), K, Lighting())
    points = surface_points(depth, K)[depth > 0]
    off = points[:, 2] - points[:, 0] - 500.0
    assert len(points) > 1000 and np.abs(off).max() < 0.8
