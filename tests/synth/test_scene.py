import itertools
from dataclasses import replace

import numpy as np
import pytest
import torch

from diffuhand.data.schema import project
from diffuhand.kinematics import fit_ik, forward_kinematics
from diffuhand.kinematics.conventions import mirror
from diffuhand.kinematics.skeleton import TIPS
from diffuhand.synth import realism
from diffuhand.synth.scene import SceneConfig, hand_joints, render_sample, right_model_root, side_mirror


def test_joints_land_on_the_rendered_hand(renderer):
    cfg = SceneConfig(size=96, p_occluder=0.0, p_motion_blur=0.0)
    on, total = 0, 0
    for i in range(12):
        image, mask, K, hands = render_sample(np.random.default_rng([3, i]), renderer, cfg)
        assert image.shape == (96, 96, 3) and image.dtype == np.uint8 and mask.shape == (96, 96)
        for h, hand in enumerate(hands):
            np.testing.assert_allclose(project(hand.joints_3d, K), hand.joints_2d, atol=1e-6)
            for (u, v), vis in zip(hand.joints_2d, hand.visible):
                if not vis:
                    continue
                x, y = int(u), int(v)
                total += 1
                on += bool((mask[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] == h + 1).any())
    assert total > 100 and on / total > 0.95


def test_a_fixed_seed_reproduces_the_sample(renderer):
    cfg = SceneConfig(size=96)
    a = render_sample(np.random.default_rng([7, 1]), renderer, cfg)
    b = render_sample(np.random.default_rng([7, 1]), renderer, cfg)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert all(np.array_equal(x.joints_3d, y.joints_3d) for x, y in zip(a[3], b[3]))
    c = render_sample(np.random.default_rng([7, 2]), renderer, cfg)
    assert not np.array_equal(a[0], c[0])


def test_labels_are_the_model_left_hands_mirrored(renderer):
    cfg = SceneConfig(size=96, p_left=1.0, p_two_hands=0.0)
    _, _, _, hands = render_sample(np.random.default_rng([5, 0]), renderer, cfg)
    hand = hands[0]
    assert hand.handedness == "left"
    fk = forward_kinematics(
        torch.as_tensor(hand.angles),
        torch.as_tensor(hand.ratios),
        hand.anchor_mm,
        torch.as_tensor(hand.root_rotation),
        torch.as_tensor(hand.root_position),
    ).numpy()
    np.testing.assert_allclose(mirror(fk), hand.joints_3d, atol=1e-6)
    assert float(fit_ik(mirror(hand.joints_3d)).residual) < 0.1


@pytest.mark.parametrize("side", ["left", "right"])
def test_hand_joints_are_the_labels_render_sample_draws(renderer, side):
    """hand_joints (what benchmarks use to place a pose) against the labels of the image render_sample draws from
    the same pose: the same joints, a left hand the mirror image of the right-hand model at the mirrored root."""
    cfg = SceneConfig(size=96, p_two_hands=0.0, p_occluder=0.0)
    _, _, _, drawn = render_sample(np.random.default_rng([5, 1]), renderer, cfg)
    h = drawn[0]
    rot = h.root_rotation if h.handedness == side else side_mirror("left") @ h.root_rotation @ side_mirror("left")
    pose = (h.angles, h.ratios, h.anchor_mm, rot, np.array([10.0, -20.0, 450.0]), side)
    _, _, _, hands = render_sample(np.random.default_rng(0), renderer, cfg, poses=[pose])
    np.testing.assert_allclose(hand_joints(*pose), hands[0].joints_3d, atol=1e-6)
    # the labels keep the right-hand model's root: the pose's own for a right hand, its mirror image for a left
    rot_r, pos_r = right_model_root(pose[3], pose[4], side)
    np.testing.assert_allclose(hands[0].root_rotation, rot_r, atol=1e-12)
    np.testing.assert_allclose(hands[0].root_position, pos_r, atol=1e-12)
    assert (hands[0].root_position[0] < 0) == (side == "left")


def test_a_side_is_left_or_right():
    with pytest.raises(ValueError, match="side"):
        side_mirror("both")


def test_hand_orientations_mostly_face_the_camera():
    from diffuhand.synth.scene import hand_rotation

    rng = np.random.default_rng(0)
    cfg = SceneConfig()
    rots = np.stack([hand_rotation(rng, cfg) for _ in range(2000)])
    facing = np.abs(rots[:, 2, 2])  # |cos| between the palm normal and the viewing axis
    assert np.allclose(np.linalg.det(rots), 1.0)
    frac = (facing > np.cos(np.radians(60))).mean()
    # expected: 0.7 x P(Rayleigh(30 deg) tilt < 60 deg) + 0.3 x P(uniform |cos| > 0.5) = 0.7 x 0.865 + 0.3 x 0.5
    assert abs(frac - (0.7 * (1 - np.exp(-2.0)) + 0.15)) < 0.03
    assert (rots[:, 2, 2] > 0).mean() > 0.3 and (rots[:, 2, 2] < 0).mean() > 0.3  # palms and backs


def test_photo_variant_renders_forearms_and_keeps_labels_on_the_hand():
    """The photo-like scene (forearm, palm and nails, bounce light, room-like background, camera effects) still
    labels its hands: visible joints land on their hand's mask, and the forearm never counts as a hand."""
    import numpy as np

    from diffuhand.synth.render import Renderer
    from diffuhand.synth.scene import SceneConfig, render_sample, scene_variant

    cfg = scene_variant("photo", SceneConfig(size=96, p_occluder=0.0, p_two_hands=0.0))
    r = Renderer(96)
    on_hand, total = 0, 0
    for i in range(6):
        image, mask, K, hands = render_sample(np.random.default_rng([3, i]), r, cfg)
        assert image.shape == (96, 96, 3) and image.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1}
        for h in hands:
            uvw = h.joints_3d @ K.T
            assert np.allclose(uvw[:, :2] / uvw[:, 2:], h.joints_2d, atol=1e-6)
            for (u, v), vis in zip(h.joints_2d, h.visible):
                if vis and 0 <= u < 96 and 0 <= v < 96:
                    total += 1
                    y, x = int(v), int(u)
                    on_hand += bool((mask[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] == 1).any())
    assert total > 20 and on_hand / total > 0.9


def test_unknown_variant_is_refused():
    import pytest

    from diffuhand.synth.scene import scene_variant

    with pytest.raises(ValueError, match="unknown scene variant"):
        scene_variant("glossy")
    for name in ("photo-without-gloss", "photo-without-", "photo-without-textured", "photo-without-photo"):
        with pytest.raises(ValueError, match="unknown scene variant"):
            scene_variant(name)


def test_every_lever_is_a_variant_of_its_own():
    from diffuhand.synth.scene import _PHOTO, LEVERS, SCENE_VARIANTS

    assert set(LEVERS) <= set(SCENE_VARIANTS)
    # photo is every lever at once
    together = {k: v for lever in LEVERS for k, v in SCENE_VARIANTS[lever].items()}
    assert together == _PHOTO


def test_a_variant_without_one_lever_keeps_the_others():
    from dataclasses import asdict

    from diffuhand.synth.scene import SceneConfig, scene_variant

    photo, base = asdict(scene_variant("photo")), SceneConfig(size=64, fill_light=True, p_forearm=0.5)
    no_light = asdict(scene_variant("photo-without-light"))
    assert photo["fill_light"] and not no_light["fill_light"]
    assert {k: v for k, v in no_light.items() if k != "fill_light"} == {
        k: v for k, v in photo.items() if k != "fill_light"
    }
    # without a lever, the given config's own setting stays (here the bounce light the caller asked for)
    mine = scene_variant("photo-without-light", base)
    assert mine.fill_light and mine.size == 64 and mine.p_forearm == 1.0


def test_creases_darken_the_palm_side_of_the_finger_joints_only():
    """The flexion creases lie across each finger's palmar side at its joints (synth.realism.CREASES): colours
    there darken, colours on the back and away from the joints do not change, and the scene is otherwise the same
    (no random draw more)."""
    from diffuhand.synth.mesh import default_hand_mesh
    from diffuhand.synth.realism import CREASE_DEPTH, CREASES, skin_colors

    mesh = default_hand_mesh()
    dorsal_cos = (mesh.normals * mesh.rest_dorsal).sum(1)
    tips = mesh.rest_joints[[4, 8, 12, 16, 20]]
    tone = np.array([0.8, 0.6, 0.5])

    def colours(joints):
        return skin_colors(np.random.default_rng(3), tone, mesh.vertices, dorsal_cos, tips, mesh.rest_anchor, joints)

    plain, creased = colours(None), colours(mesh.rest_joints)
    ratio = (creased / np.maximum(plain, 1e-9)).mean(1)
    darker = ratio < 0.97
    assert darker.sum() > 20 and ratio.min() >= CREASE_DEPTH - 1e-6
    assert (dorsal_cos[darker] < 0).all()  # only palmar skin
    pip = mesh.rest_joints[[c[0] for c in CREASES]]
    near = np.linalg.norm(mesh.vertices[darker][:, None] - pip[None], axis=-1).min(1)
    assert near.max() < 0.35 * mesh.rest_anchor  # at the joints, not elsewhere
    assert np.allclose(creased[dorsal_cos > 0.2], plain[dorsal_cos > 0.2])  # the back unchanged


def test_the_skin_texture_lies_on_the_mesh_and_the_renderer_reads_it_the_right_way_up(renderer):
    """A texel's surface point sits where the mesh's UV layout puts it; a texture painted red on the palm and blue on
    the back shows red when the palm faces the camera, blue when the back does (the renderer's texture coordinates
    follow glTF's, row 0 of the image at v = 0: flipped, the palm showed the back's colour)."""
    from scipy.spatial.transform import Rotation

    from diffuhand.synth.mesh import default_hand_mesh, pose_mesh
    from diffuhand.synth.render import Lighting, MeshItem
    from diffuhand.synth.scene import _surface

    mesh = default_hand_mesh()
    surf = _surface(mesh)
    assert len(surf.rows) > 0.25 * surf.size**2
    # each texel's point is near a vertex whose UV is near the texel's (triangles are a few texels wide)
    pick = np.random.default_rng(0).choice(len(surf.rows), 500, replace=False)
    nearest = np.linalg.norm(surf.positions[pick, None] - mesh.vertices[None], axis=-1).argmin(1)
    texel_uv = np.column_stack([surf.cols[pick] + 0.5, surf.rows[pick] + 0.5]) / surf.size
    assert np.median(np.linalg.norm(mesh.uv[nearest] - texel_uv, axis=1) * surf.size) < 6.0
    palmar = (surf.normals @ mesh.rest_root)[:, 2] < 0  # hand frame: z dorsal
    tex = np.zeros((surf.size, surf.size, 3), np.uint8)
    tex[surf.rows, surf.cols] = np.where(palmar[:, None], [255, 0, 0], [0, 0, 255])
    tex = tex[surf.fill[0], surf.fill[1]]
    K = np.array([[300.0, 0.0, 48.0], [0.0, 300.0, 48.0], [0.0, 0.0, 1.0]])
    for turn, palm_seen in (((0.0, 0.0, -90.0), True), ((180.0, 0.0, -90.0), False)):
        rot = Rotation.from_euler("xyz", turn, degrees=True).as_matrix()
        v, j = pose_mesh(mesh, mesh.rest_angles, mesh.rest_ratios, 80.0, rot, np.zeros(3))
        v = v - j.mean(0) + [0.0, 0.0, 450.0]
        image, *_ = renderer.render([MeshItem(v, mesh.faces, np.zeros_like(v), 1, mesh.uv, tex)], K, Lighting())
        hand = image[..., :3].reshape(-1, 3).astype(int)
        hand = hand[hand.sum(1) > 30]
        red, blue = (hand[:, 0] > hand[:, 2]).mean(), (hand[:, 2] > hand[:, 0]).mean()
        assert (red > 0.8) if palm_seen else (blue > 0.8), (turn, red, blue)


def test_textured_skin_renders_the_vertex_colours(renderer):
    """The texture paints skin_colors per texel: the same draws from the generator (the scene after it is the same),
    and rendered the same colours as per vertex (the renderer reads a texture as sRGB: unencoded, it came out
    darker and more saturated)."""
    from scipy.spatial.transform import Rotation

    from diffuhand.synth.mesh import default_hand_mesh, pose_mesh
    from diffuhand.synth.render import Lighting, MeshItem
    from diffuhand.synth.scene import _skin_colors

    mesh = default_hand_mesh()
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    _skin_colors(a, mesh, detail=True)
    _, _, tex = _skin_colors(b, mesh, detail=True, texture=True)
    assert tex.shape == (512, 512, 3) and tex.dtype == np.uint8
    assert a.random() == b.random()
    # a flat colour, per vertex and as a texture: the same pixels
    colour = np.array([0.8, 0.6, 0.5])
    flat = np.tile(np.round(realism.linear_to_srgb(colour) * 255).astype(np.uint8), (64, 64, 1))
    rot = Rotation.from_euler("z", -90.0, degrees=True).as_matrix()
    v, j = pose_mesh(mesh, mesh.rest_angles, mesh.rest_ratios, 80.0, rot, np.zeros(3))
    v = v - j.mean(0) + [0.0, 0.0, 450.0]
    K = np.array([[300.0, 0.0, 48.0], [0.0, 300.0, 48.0], [0.0, 0.0, 1.0]])
    shots = []
    for item in (
        MeshItem(v, mesh.faces, np.tile(colour, (len(v), 1)), 1),
        MeshItem(v, mesh.faces, np.zeros_like(v), 1, mesh.uv, flat),
    ):
        image, *_ = renderer.render([item], K, Lighting())
        shots.append(image[..., :3].astype(float))
    hand = shots[0].sum(-1) > 30
    assert hand.sum() > 300
    # within 8 of 255 (the renderer tints its specular highlight by a texture's colour, not by a vertex's);
    # read as linear, the texture came out 19-45 darker
    assert np.abs(shots[0][hand].mean(0) - shots[1][hand].mean(0)).max() < 8.0


def test_a_scene_paints_its_skin_from_a_layout_worked_out_once():
    """The skin's layout (palm, nails, creases, palm lines) is worked out once per mesh and kept; each hand painted
    from it gets the colours the whole computation gives (skin_colors per vertex; per texel, the painter before
    the layout: every texel worked out, lined and encoded, then spread), from the same draws."""
    from diffuhand.synth.mesh import default_hand_mesh
    from diffuhand.synth.realism import linear_to_srgb, palm_lines, skin_colors
    from diffuhand.synth.scene import SKIN_TONES, _layout, _skin_colors, _surface

    def after_tone_draws(seed: int) -> np.random.Generator:  # _skin_colors draws a tone before it paints
        rng = np.random.default_rng(seed)
        rng.integers(len(SKIN_TONES)), rng.uniform(size=3)
        return rng

    mesh = default_hand_mesh()
    tone = np.array([0.7, 0.5, 0.4])
    tips = list(TIPS)
    cached, _, _ = _skin_colors(np.random.default_rng(4), mesh, detail=True, creases=True, tone=tone)
    assert _layout(mesh, False, True, False) is _layout(mesh, False, True, False)  # kept on the mesh
    assert _layout(mesh, False, False, False).crease is None  # one layout per choice of features
    assert _layout(mesh, True, False, True).lines is not None and _layout(mesh, True, False, False).lines is None
    dorsal_cos = (mesh.normals * mesh.rest_dorsal).sum(1)
    fresh = skin_colors(
        after_tone_draws(4), tone, mesh.vertices, dorsal_cos, mesh.rest_joints[tips], mesh.rest_anchor, mesh.rig_joints
    )
    assert np.array_equal(cached, fresh)
    # per texel, with the palm's lines
    _, _, tex = _skin_colors(np.random.default_rng(6), mesh, detail=True, texture=True, lines=True, tone=tone)
    surf = _surface(mesh)
    texel_cos = (surf.normals * surf.dorsal).sum(1)
    col = skin_colors(after_tone_draws(6), tone, surf.positions, texel_cos, mesh.rig_joints[tips], mesh.rest_anchor)
    hand = (mesh.rig_joints - mesh.rig_joints[0]) @ mesh.rest_root
    on = palm_lines((surf.positions - mesh.rig_joints[0]) @ mesh.rest_root, hand, mesh.rest_anchor)
    col = col * (1 - (1 - realism.PALM_LINE_DEPTH) * on * np.clip(-texel_cos, 0, 1) ** 1.5)[:, None]
    img = np.zeros((surf.size, surf.size, 3))
    img[surf.rows, surf.cols] = col
    img = img[surf.fill[0], surf.fill[1]]
    assert np.array_equal(tex, np.round(linear_to_srgb(np.clip(img, 0, 1)) * 255).astype(np.uint8))


def test_a_texture_takes_the_albedo_of_each_texel():
    """linear_albedo looks a texture's 8-bit values up in a table: the values the conversion gives texel by
    texel (decoded, raised to the renderer's output gamma, encoded)."""
    from diffuhand.synth.realism import linear_albedo, linear_to_srgb, srgb_to_linear
    from diffuhand.synth.render import OUTPUT_GAMMA, MeshItem

    tex = np.random.default_rng(0).integers(0, 256, (64, 64, 3)).astype(np.uint8)
    tex[0, :3] = [[0, 0, 0], [255, 255, 255], [10, 11, 12]]  # both ends and the linear part of the curve
    item = MeshItem(np.zeros((3, 3)), np.array([[0, 1, 2]]), np.full((3, 3), 0.5), 1, np.zeros((3, 2)), tex)
    expected = np.round(linear_to_srgb(srgb_to_linear(tex / 255.0) ** OUTPUT_GAMMA) * 255).astype(np.uint8)
    out = linear_albedo(item)
    assert out.texture.dtype == np.uint8 and np.array_equal(out.texture, expected)
    assert np.allclose(out.colors, 0.5**OUTPUT_GAMMA)


def test_palm_lines_cross_the_palm_only():
    """The palm's creases darken palmar texels between the wrist and the knuckles, nowhere else; palm lines need
    the texture."""
    import pytest

    from diffuhand.synth.mesh import default_hand_mesh
    from diffuhand.synth.realism import PALM_LINE_DEPTH, skin_texture, texture_layout
    from diffuhand.synth.scene import _surface

    mesh = default_hand_mesh()
    surf = _surface(mesh)
    tone = np.array([0.8, 0.6, 0.5])
    args = (surf, mesh.rest_root, mesh.rig_joints, mesh.rest_anchor)
    plain = skin_texture(np.random.default_rng(1), tone, surf, texture_layout(*args)).astype(float)
    lined = skin_texture(np.random.default_rng(1), tone, surf, texture_layout(*args, lines=True)).astype(float)
    ratio = (realism_linear(lined[surf.rows, surf.cols]) + 1e-3) / (realism_linear(plain[surf.rows, surf.cols]) + 1e-3)
    darker = ratio.mean(1) < 0.95
    assert darker.sum() > 200 and ratio.min() > PALM_LINE_DEPTH - 0.05
    # in the hand frame (x distal, z dorsal): on the palm's side, from the wrist to short of the knuckles
    rig = (mesh.rig_joints - mesh.rig_joints[0]) @ mesh.rest_root
    pos = (surf.positions[darker] - mesh.rig_joints[0]) @ mesh.rest_root
    knuckles = rig[[5, 9, 13, 17], 0].max()
    assert (pos[:, 0] > 0.0).all() and (pos[:, 0] < knuckles).all()
    assert np.median(pos[:, 2]) < np.median(((surf.positions - mesh.rig_joints[0]) @ mesh.rest_root)[:, 2])
    with pytest.raises(ValueError, match="palm_lines"):
        SceneConfig(skin_detail=True, palm_lines=True)


def realism_linear(c: np.ndarray) -> np.ndarray:
    """sRGB-encoded 0..255 -> linear 0..1 (the inverse of realism.linear_to_srgb)."""
    c = np.asarray(c, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _sphere(colour, z_mm: float = 300.0, **kw):
    import trimesh

    from diffuhand.synth.render import MeshItem

    s = trimesh.creation.icosphere(subdivisions=3, radius=40.0)
    return MeshItem(s.vertices + [0.0, 0.0, z_mm], np.asarray(s.faces), np.tile(colour, (len(s.vertices), 1)), 1, **kw)


def test_a_swatch_renders_as_itself_under_unit_light(renderer):
    """The renderer shades in linear light and encodes its output (a 2.2 power): colours read as display values
    (linear_albedo) come out as given under a unit ambient light, dark ones too, by vertex and by texture; taken as
    linear (the renders of issue 4) they came out paler (0.5 as 186 of 255, not 128)."""
    from diffuhand.synth.render import Lighting

    K = np.array([[200.0, 0.0, 48.0], [0.0, 200.0, 48.0], [0.0, 0.0, 1.0]])
    unit = Lighting(ambient=1.0, intensity=0.0)
    centre = (slice(40, 56), slice(40, 56))
    for swatch in (np.array([0.80, 0.50, 0.35]), np.array([0.26, 0.17, 0.12])):  # the darkest skin tone's too
        as_linear, *_ = renderer.render([_sphere(swatch)], K, unit)
        as_display, *_ = renderer.render([realism.linear_albedo(_sphere(swatch))], K, unit)
        # a texture of the swatch on a UV-mapped sphere (a texture holds the item's colours sRGB-encoded, as
        # skin_texture paints them: the renderer decodes it)
        item = _sphere(swatch)
        item.uv = np.full((len(item.vertices), 2), 0.5)
        item.texture = np.tile(np.round(realism.linear_to_srgb(swatch) * 255).astype(np.uint8), (8, 8, 1))
        textured, *_ = renderer.render([realism.linear_albedo(item)], K, unit)
        np.testing.assert_allclose(as_display[centre].reshape(-1, 3).mean(0), swatch * 255, atol=1.0)
        np.testing.assert_allclose(textured[centre].reshape(-1, 3).mean(0), swatch * 255, atol=2.0)
        assert (as_linear[centre].reshape(-1, 3).mean(0) > swatch * 255 + 25).all()
    np.testing.assert_allclose(
        realism.srgb_to_linear(realism.linear_to_srgb(np.linspace(0, 1, 11))), np.linspace(0, 1, 11)
    )


def test_scene_flags_reach_the_renderer(renderer, monkeypatch):
    """display_colors and dielectric change what the renderer is given, for every item (hands, arms, occluders)."""
    from diffuhand.synth.render import DIELECTRIC

    seen = []
    original = renderer.render

    def spy(items, K, light):
        seen.append(items)
        return original(items, K, light)

    monkeypatch.setattr(renderer, "render", spy)
    base = SceneConfig(size=96, p_forearm=1.0, p_occluder=1.0)
    render_sample(np.random.default_rng([2, 0]), renderer, base)
    render_sample(np.random.default_rng([2, 0]), renderer, replace(base, display_colors=True))
    render_sample(np.random.default_rng([2, 0]), renderer, replace(base, dielectric=True))
    plain, display, dielectric = seen
    assert len(plain) == len(display) >= 3  # a hand, its forearm, an occluder
    for a, b, c in zip(plain, display, dielectric):
        np.testing.assert_allclose(b.colors, np.clip(a.colors, 0, 1) ** 2.2)
        assert (a.metallic, a.roughness) == (0.2, 0.8) and (c.metallic, c.roughness) == DIELECTRIC


def test_dielectric_items_reach_the_renderers_material(renderer):
    """pyrender's material for vertex colours is a plastic (metallic 0.2); skin and cloth are dielectrics: the item's
    factors are what the renderer shades with, and the default stays pyrender's (the legacy renders unchanged)."""
    from diffuhand.synth.render import DIELECTRIC, Lighting

    plastic = renderer._mesh(_sphere([0.7, 0.5, 0.4])).primitives[0].material
    assert (plastic.metallicFactor, plastic.roughnessFactor) == (0.2, 0.8)
    skin = renderer._mesh(_sphere([0.7, 0.5, 0.4], metallic=DIELECTRIC[0], roughness=DIELECTRIC[1]))
    assert (skin.primitives[0].material.metallicFactor, skin.primitives[0].material.roughnessFactor) == DIELECTRIC
    # a metal's diffuse share is (1 - metallic): the dielectric sphere is brighter away from its highlight
    K = np.array([[200.0, 0.0, 48.0], [0.0, 200.0, 48.0], [0.0, 0.0, 1.0]])
    side = Lighting(ambient=0.0, directional=(1.0, 0.0, 0.3), intensity=3.0)
    a, *_ = renderer.render([_sphere([0.7, 0.5, 0.4])], K, side)
    b, *_ = renderer.render([_sphere([0.7, 0.5, 0.4], metallic=0.0, roughness=0.8)], K, side)
    ring = (slice(44, 52), slice(26, 32))  # the left side faces the light (which travels along +x)
    assert b[ring].mean() > a[ring].mean() + 5


def test_sampled_hands_never_pass_through_each_other(renderer):
    """move_apart: the smallest image-plane shift that keeps two hands a gap apart (none if they already are); in
    two-hand scenes with hand_gap_mm the hands and their arms keep it, and the labels and the arm move with the
    hand."""
    from scipy.spatial import cKDTree

    from diffuhand.synth.mesh import default_hand_mesh, pose_mesh
    from diffuhand.synth.render import Renderer

    mesh = default_hand_mesh()
    v, _ = pose_mesh(mesh, mesh.rest_angles, mesh.rest_ratios, 80.0, np.eye(3), np.array([0.0, 0.0, 400.0]))
    t = realism.move_apart(v + [10.0, 5.0, 0.0], v, gap_mm=5.0)
    assert t[2] == 0.0 and t[0] > 0 and abs(np.linalg.norm(t) / 5.0 - round(np.linalg.norm(t) / 5.0)) < 1e-9
    assert cKDTree(v).query(v + [10.0, 5.0, 0.0] + t)[0].min() >= 5.0
    assert cKDTree(v).query(v + [10.0, 5.0, 0.0] + t - t / np.linalg.norm(t) * 5.0)[0].min() < 5.0  # the smallest
    far = v + [500.0, 0.0, 0.0]
    assert np.all(realism.move_apart(far, v, gap_mm=5.0) == 0.0)
    # long thin point sets along the diagonal: the search must reach past their extents along the direction
    line = np.linspace(0, 300, 301)[:, None] * np.array([1.0, 1.0, 0.0]) / np.sqrt(2)
    t = realism.move_apart(line + [0.5, 0.0, 0.0], line, gap_mm=5.0)
    assert cKDTree(line).query(line + [0.5, 0.0, 0.0] + t)[0].min() >= 5.0

    seen = []
    original = Renderer.render

    def spy(self, items, K, light):
        seen.append(items)
        return original(self, items, K, light)

    cfg = SceneConfig(size=96, p_two_hands=1.0, p_occluder=0.0, p_forearm=1.0, hand_gap_mm=5.0)
    moved = 0
    for i in range(18):  # 4 of the first 30 sampled pairs overlap without their arms
        seen.clear()
        Renderer.render = spy
        try:
            hands = render_sample(np.random.default_rng([11, i]), renderer, cfg)[3]
            same = render_sample(np.random.default_rng([11, i]), renderer, replace(cfg, hand_gap_mm=0))[3]
        finally:
            Renderer.render = original
        groups, labels = [], []  # per hand: its own mesh's and its arm's vertices
        for it in seen[0]:
            (groups.append([it.vertices]), labels.append(it.label)) if it.label else groups[-1].append(it.vertices)
        assert labels == [1, 2] and all(len(g) >= 2 for g in groups)  # each hand has its arm
        a, b = (np.concatenate(g) for g in groups)
        assert cKDTree(a).query(b)[0].min() >= 5.0 - 1e-6
        for h, g in zip(hands, groups):
            m = np.diag([-1.0, 1.0, 1.0]) if h.handedness == "left" else np.eye(3)
            vh, jh = pose_mesh(mesh, h.angles, h.ratios, h.anchor_mm, h.root_rotation, h.root_position)
            np.testing.assert_allclose(jh @ m, h.joints_3d, atol=1e-6)  # the labels are where the mesh went
            np.testing.assert_allclose(vh @ m, g[0], atol=1e-6)
            # the arm starts at the moved wrist (its first ring inside the hand, around the wrist joint)
            assert np.linalg.norm(g[1][:24].mean(0) - h.joints_3d[0]) < 0.3 * h.anchor_mm
        moved += not np.allclose(same[1].joints_3d, hands[1].joints_3d)
    assert moved >= 1  # some sampled pairs did overlap


def _hue_deg(rgb: np.ndarray) -> np.ndarray:
    """HSV hue (degrees, -180..180: red 0, yellow 60, magenta -60) of colours (..., 3) in [0, 1]."""
    import colorsys

    flat = np.clip(np.asarray(rgb, dtype=np.float64), 0, 1).reshape(-1, 3)
    hue = np.array([colorsys.rgb_to_hsv(*c)[0] * 360.0 for c in flat])
    return np.where(hue > 180.0, hue - 360.0, hue).reshape(np.shape(rgb)[:-1])


def test_planckian_locus_matches_the_cie_illuminants():
    """Kang et al.'s approximation against published chromaticities: CIE illuminant A (a black body at 2856 K,
    x 0.44757 y 0.40745) and the Planckian radiator at 6500 K (0.3135, 0.3236); lights warm to cool."""
    np.testing.assert_allclose(realism.planckian_xy(2856.0), [0.44757, 0.40745], atol=1e-3)
    np.testing.assert_allclose(realism.planckian_xy(6500.0), [0.3135, 0.3236], atol=1e-3)
    warm, cool = realism.planckian_rgb(2700.0), realism.planckian_rgb(6500.0)
    assert warm.max() == cool.max() == 1.0 and warm[0] == 1.0 and warm[2] < 0.2 and cool[2] > 0.9
    with pytest.raises(ValueError, match="outside"):
        realism.planckian_xy(1000.0)
    # the XYZ -> sRGB matrix: D65's chromaticity is sRGB's white
    np.testing.assert_allclose(realism.xy_to_linear_srgb(np.array([0.3127, 0.3290])), [1.0, 1.0, 1.0], atol=1e-3)


def test_a_light_cast_lies_along_warm_and_cool():
    """A white balance that hits the light's temperature leaves it neutral; one that assumed a warmer light
    (positive mired error) leaves it cool (blue strongest), a cooler one warm; green stays between the two."""
    np.testing.assert_allclose(realism.light_cast(4000.0, 0.0), [1.0, 1.0, 1.0], atol=1e-12)
    cool, warm = realism.light_cast(4000.0, 20.0), realism.light_cast(4000.0, -20.0)
    assert cool[0] < cool[1] < cool[2] == 1.0 and warm[2] < warm[1] < warm[0] == 1.0


def test_natural_skin_tones_keep_the_hue_of_skin():
    """Over the draws a scene makes, natural tones stay within 10 degrees of the swatches' hue range (21-24; the
    hue draw moves them by a few); the per-channel jitter (without natural_tints) leaves it, turning some hands
    magenta, green or yellow. The scale is continuous and spans the swatches evenly: its ends are the lightest and darkest swatches,
    the draws fall between swatches (none on the darkest: no share of them piles up there), and the scale's middle
    lies between the two middle swatches."""
    from diffuhand.synth.realism import TONE_JITTER
    from diffuhand.synth.scene import SKIN_TONES

    rng = np.random.default_rng(0)
    n = len(SKIN_TONES)
    index, draws = rng.integers(n, size=2000), rng.uniform(1 - TONE_JITTER, 1 + TONE_JITTER, (2000, 3))
    natural = np.stack([realism.natural_skin_tone(int(i), d, SKIN_TONES) for i, d in zip(index, draws)])
    jittered = SKIN_TONES[index] * draws
    lo, hi = _hue_deg(SKIN_TONES).min(), _hue_deg(SKIN_TONES).max()
    assert np.all((_hue_deg(natural) > lo - 10.0) & (_hue_deg(natural) < hi + 10.0))
    assert np.mean((_hue_deg(jittered) < lo - 10.0) | (_hue_deg(jittered) > hi + 10.0)) > 0.1
    plain = np.array([1.0, 1.0, 1.0])  # brightness and hue as they are
    np.testing.assert_allclose(realism.natural_skin_tone(0, plain - [0, TONE_JITTER, 0], SKIN_TONES), SKIN_TONES[0])
    np.testing.assert_allclose(
        realism.natural_skin_tone(n - 1, plain + [0, TONE_JITTER, 0], SKIN_TONES), SKIN_TONES[-1]
    )
    on_scale = np.stack(
        [realism.natural_skin_tone(int(i), [1.0, d, 1.0], SKIN_TONES) for i, d in zip(index, draws[:, 1])]
    )
    assert np.mean(np.all(np.isclose(on_scale, SKIN_TONES[-1]), axis=1)) < 0.01
    # swatch n/2 at its lightest draw sits at (n/2) (n - 1) / n = (n - 1) / 2 on the scale: between the two middle
    # swatches (n = 8)
    assert n == 8
    middle = realism.natural_skin_tone(n // 2, plain - [0, TONE_JITTER, 0], SKIN_TONES)
    np.testing.assert_allclose(middle, (SKIN_TONES[3] + SKIN_TONES[4]) / 2)


def test_natural_tints_change_colours_only(renderer, monkeypatch):
    """natural_tints draws what the per-channel tints drew: the same poses, cameras, lights' directions and
    backgrounds; the skin tone and the light's colour change, the camera's white balance keeps red and blue equal."""
    seen = []
    original = renderer.render

    def spy(items, K, light):
        seen.append((items, light))
        return original(items, K, light)

    monkeypatch.setattr(renderer, "render", spy)
    casts = []
    for fill, camera, seed in itertools.product((True, False), (True, False), range(2)):
        seen.clear()
        base = SceneConfig(size=96, p_forearm=1.0, fill_light=fill, camera=camera)
        rng_a, rng_b = np.random.default_rng([5, seed]), np.random.default_rng([5, seed])
        a = render_sample(rng_a, renderer, base)
        b = render_sample(rng_b, renderer, replace(base, natural_tints=True))
        assert rng_a.random() == rng_b.random()  # every draw made as without the lever, in the same order
        np.testing.assert_array_equal(a[2], b[2])
        for ha, hb in zip(a[3], b[3]):
            np.testing.assert_array_equal(ha.joints_3d, hb.joints_3d)
        (items_a, light_a), (items_b, light_b) = seen
        assert light_a.directional == light_b.directional and light_a.intensity == light_b.intensity
        assert not np.allclose(items_a[0].colors, items_b[0].colors)
        # the light's colour is a black body's cast: its channels ordered warm or cool, never green-most
        r, g, b = light_b.color
        assert min(r, b) <= g <= max(r, b)
        casts.append(max(light_b.color) - min(light_b.color))
    assert max(casts) > 0.02  # the white balance's residual leaves a cast
    grey = np.full((64, 64, 3), 120.0)
    for seed in range(5):
        rng_a, rng_b = np.random.default_rng(seed), np.random.default_rng(seed)
        out = realism.camera_effects(rng_a, grey, natural=True).reshape(-1, 3).mean(0)
        realism.camera_effects(rng_b, grey)
        assert rng_a.random() == rng_b.random()
        assert abs(out[0] - out[2]) <= 1.5  # JPEG rounds its chroma
    per_channel = [realism.camera_effects(np.random.default_rng(s), grey).reshape(-1, 3).mean(0) for s in range(5)]
    assert max(abs(o[0] - o[2]) for o in per_channel) > 3.0


def test_two_hands_of_one_image_are_one_persons(renderer, monkeypatch):
    """one_person: the second hand takes the first one's size, bone ratios and skin tone, and its arm the first
    arm's sleeve (or none); without it they are drawn apart (often different). Every draw is made as without it,
    in the same order (the sleeve's and tone's draws too): the rest of the scene stays."""
    from diffuhand.kinematics.skeleton import bone_lengths
    from diffuhand.synth import scene

    tones, outfits = [], []
    skin, arm = scene._skin_colors, scene.forearm_items

    def skin_spy(*args, **kwargs):
        out = skin(*args, **kwargs)
        tones.append(out[1])
        return out

    def arm_spy(*args, **kwargs):
        out = arm(*args, **kwargs)
        outfits.append(out[1])
        return out

    monkeypatch.setattr(scene, "_skin_colors", skin_spy)
    monkeypatch.setattr(scene, "forearm_items", arm_spy)
    base = SceneConfig(size=96, p_two_hands=1.0, p_forearm=1.0, p_sleeve=0.5, natural_tints=True)
    differ = {"tone": 0, "sleeve": 0, "size": 0}
    for i in range(8):
        tones.clear(), outfits.clear()
        rng_apart, rng_one = np.random.default_rng([6, i]), np.random.default_rng([6, i])
        apart = render_sample(rng_apart, renderer, base)
        a_tones, a_outfits = list(tones), list(outfits)
        tones.clear(), outfits.clear()
        one = render_sample(rng_one, renderer, replace(base, one_person=True))
        assert rng_apart.random() == rng_one.random()  # every draw made as without the lever, in the same order
        assert len(tones) == len(outfits) == 2
        np.testing.assert_array_equal(tones[0], tones[1])
        np.testing.assert_array_equal(tones[0], a_tones[0])
        assert outfits[0] == a_outfits[0]
        assert [o.sleeve is None for o in outfits] == [outfits[0].sleeve is None] * 2
        assert outfits[0].sleeve is None or outfits[0].sleeve.color == outfits[1].sleeve.color
        differ["tone"] += not np.allclose(a_tones[0], a_tones[1])
        differ["sleeve"] += (a_outfits[0].sleeve is None) != (a_outfits[1].sleeve is None)
        np.testing.assert_allclose(bone_lengths(one[3][1].joints_3d), bone_lengths(one[3][0].joints_3d), atol=1e-6)
        differ["size"] += not np.allclose(bone_lengths(apart[3][1].joints_3d), bone_lengths(apart[3][0].joints_3d))
    assert differ["tone"] == differ["size"] == 8 and differ["sleeve"] >= 2


def test_ambient_occlusion_shades_hollows_and_turned_surfaces_not_facing_ones():
    """On depth buffers of known shape: a wall facing the camera is open (0); turned away, it is shaded, no less
    the steeper (the unoriented form); the floor of a groove is covered by its walls (more, the deeper the groove),
    the flat beyond them is not; nothing is shaded where nothing was rendered; empty background never shades a
    surface, even one nearer the camera than the disc's diameter; and a sample outside the image is open (not the
    edge pixel's depth). The shading falls on the renderer's linear light, not its encoded values, and leaves
    unshaded pixels exactly as they were."""
    from diffuhand.synth.realism import AO_RADIUS_MM, AO_STRENGTH, ambient_occlusion, occlude
    from diffuhand.synth.render import OUTPUT_GAMMA

    size, f, z0 = 128, 200.0, 400.0
    K = np.array([[f, 0.0, size / 2], [0.0, f, size / 2], [0.0, 0.0, 1.0]])
    mid = size // 2
    u, v = np.meshgrid(np.arange(size, dtype=float), np.arange(size, dtype=float))
    rays = np.stack([(u - size / 2) / f, (v - size / 2) / f, np.ones_like(u)], -1)
    shade = []
    for tilt in (0.0, 20.0, 45.0, 70.0):  # a plane through (0, 0, z0) turned about y: depth along each ray
        normal = np.array([np.sin(np.radians(tilt)), 0.0, np.cos(np.radians(tilt))])
        shade.append(ambient_occlusion(z0 * normal[2] / (rays @ normal), K)[mid, mid])
    assert shade[0] == 0.0 and 0.3 < shade[1] <= shade[2] <= shade[3] <= 1.0, shade
    x_mm = (np.arange(size) - size / 2) * z0 / f  # about 2 mm a pixel

    def groove(depth_mm: float) -> np.ndarray:  # a V groove along y, its floor at x = 0 farthest from the camera
        return np.tile(z0 + depth_mm * np.clip(1 - np.abs(x_mm) / 20.0, 0, 1), (size, 1))

    shallow, deep = ambient_occlusion(groove(6.0), K), ambient_occlusion(groove(20.0), K)
    assert 0.1 < shallow[mid, mid] < deep[mid, mid] <= 1.0
    assert deep[mid, mid + 30] == 0.0  # the flat beyond the walls (60 mm away)
    # a surface beside empty background, nearer the camera than the disc's diameter: nothing shades it
    near = np.full((size, size), 1.5 * AO_RADIUS_MM)
    near[:, mid:] = 0.0
    assert ambient_occlusion(near, K).max() == 0.0
    # a wall facing the camera with a ridge 10 mm nearer along the image's first column: a point 4 px from the edge,
    # whose disc (12 px) reaches past it, is covered by the samples that land on that column only
    ridge = np.full((size, size), z0)
    ridge[:, 0] = z0 - 10.0
    assert ambient_occlusion(ridge, K)[mid, 4] < 0.15
    colour = np.full((size, size, 3), 200, np.uint8)
    out = occlude(colour, deep)
    expected = 255 * ((200 / 255) ** OUTPUT_GAMMA * (1 - AO_STRENGTH * deep[mid, mid])) ** (1 / OUTPUT_GAMMA)
    np.testing.assert_allclose(out[mid, mid], expected)
    np.testing.assert_array_equal(out[deep == 0], 200.0)


def test_ambient_occlusion_shades_a_curled_palm_more_than_a_flat_back(renderer):
    """On the mesh: a fist seen from its palm's side (fingers curled over the palm) is more covered than the open
    hand's back."""
    from scipy.spatial.transform import Rotation

    from diffuhand.kinematics.poses import named_pose
    from diffuhand.synth.mesh import default_hand_mesh, pose_mesh
    from diffuhand.synth.realism import ambient_occlusion
    from diffuhand.synth.render import Lighting, MeshItem

    mesh = default_hand_mesh()
    K = np.array([[300.0, 0.0, 48.0], [0.0, 300.0, 48.0], [0.0, 0.0, 1.0]])
    fist = [t.numpy() for t in named_pose("fist")]
    shades = {}
    for name, (angles, ratios), turn in (
        ("fist palm", fist, (0.0, 0.0, -90.0)),
        ("open back", (mesh.rest_angles, mesh.rest_ratios), (180.0, 0.0, -90.0)),
    ):
        rot = Rotation.from_euler("xyz", turn, degrees=True).as_matrix()
        v, j = pose_mesh(mesh, angles, ratios, 80.0, rot, np.zeros(3))
        v = v - j.mean(0) + [0.0, 0.0, 450.0]
        _, depth, _, _ = renderer.render([MeshItem(v, mesh.faces, np.full_like(v, 0.7), 1)], K, Lighting())
        shades[name] = float(ambient_occlusion(depth, K)[depth > 0].mean())
    assert shades["fist palm"] > shades["open back"] + 0.05, shades


def test_ambient_occlusion_only_darkens_the_rendered_surfaces(renderer, monkeypatch):
    """ambient_occlusion makes no random draw (the scene's next draw is the same); it darkens rendered pixels (never
    brightens them) and leaves the labels, the camera and the background as they were."""
    from diffuhand.synth import scene

    seen = []
    original = scene.ambient_occlusion

    def spy(depth, K):
        occ = original(depth, K)
        seen.append((depth, occ))
        return occ

    monkeypatch.setattr(scene, "ambient_occlusion", spy)
    base = SceneConfig(size=96, p_occluder=0.0, p_motion_blur=0.0, p_noise=0.0)
    darker = 0
    for seed in range(4):
        rng_a, rng_b = np.random.default_rng([8, seed]), np.random.default_rng([8, seed])
        a = render_sample(rng_a, renderer, base)
        b = render_sample(rng_b, renderer, replace(base, ambient_occlusion=True))
        assert rng_a.random() == rng_b.random()  # no draw of its own
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[2], b[2])
        depth, occ = seen[-1]
        background = depth == 0
        np.testing.assert_array_equal(a[0][background], b[0][background])
        assert (b[0].astype(int) <= a[0].astype(int) + 1).all()
        assert occ[background].max() == 0.0 and occ.max() > 0.0
        darker += int((b[0].astype(int) < a[0].astype(int) - 2).any())
    assert darker >= 3


def test_a_wrist_section_reads_a_known_cross_section():
    """wrist_section on a tube of known outline (an ellipse 50 x 36 mm about (3, -2) mm, with skin beyond the
    slab that must not count): its centre and its reach in each direction, as shares of the anchor bone."""
    a = np.linspace(0, 2 * np.pi, 240, endpoint=False)

    def ring(x: float, w: float, t: float) -> np.ndarray:
        return np.column_stack([np.full(len(a), x), w * np.cos(a) + 3.0, t * np.sin(a) - 2.0])

    skin = np.concatenate([ring(0.0, 25.0, 18.0), ring(1.0, 25.0, 18.0), ring(40.0, 45.0, 30.0)])
    section = realism.wrist_section(skin, anchor_mm=100.0)
    np.testing.assert_allclose(section.centre, (0.03, -0.02), atol=1e-9)
    # per direction, the ellipse's farthest reach within half a step of it (its polar radius, densely sampled)
    step = 2 * np.pi / realism._RING
    theta = np.arange(realism._RING)[:, None] * step + np.linspace(-step / 2, step / 2, 201)[None]
    expected = (1.0 / np.sqrt((np.cos(theta) / 25.0) ** 2 + (np.sin(theta) / 18.0) ** 2)).max(1) / 100.0
    np.testing.assert_allclose(section.radii, expected, rtol=0.01)
    with pytest.raises(ValueError, match="no skin crosses"):
        realism.wrist_section(ring(40.0, 45.0, 30.0), anchor_mm=100.0)
    # a coarse mesh: 8 points for 24 directions; an empty direction takes the point nearest it by angle
    a = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    coarse = realism.wrist_section(ring(0.0, 25.0, 18.0), anchor_mm=100.0)
    polar = np.arctan2(18.0 * np.sin(a), 25.0 * np.cos(a))  # the points' angles about the centre
    step = 2 * np.pi / realism._RING
    for k in range(realism._RING):
        off = np.abs((polar - k * step + np.pi) % (2 * np.pi) - np.pi)
        assert coarse.vertices[k] == np.argmin(off), k


def test_a_fitted_forearm_leaves_the_hand_where_its_skin_does_and_bends_above_it():
    """With the hand's WristSection, the forearm's ring at the wrist joint follows the hand's own outline (a little
    wider), unbent however far the wrist bends, and bends fully further up the arm; without it, the rigid tube of
    before (wider than this hand's wrist, swung about the joint). Either way the same draws from the generator."""
    from diffuhand.synth.mesh import default_hand_mesh
    from diffuhand.synth.scene import _wrist

    mesh = default_hand_mesh()
    section, kept = _wrist(mesh)
    assert len(kept) < len(mesh.faces)  # the hand's skin proximal of the wrist joint is left out
    anchor, tone = 80.0, np.array([0.7, 0.5, 0.4])
    for seed in range(6):
        fitted, _ = realism.forearm_items(
            np.random.default_rng(seed), anchor, np.eye(3), np.zeros(3), tone, False, 0.0, wrist=section
        )
        rigid, _ = realism.forearm_items(np.random.default_rng(seed), anchor, np.eye(3), np.zeros(3), tone, False, 0.0)
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        realism.forearm_items(a, anchor, np.eye(3), np.zeros(3), tone, False, 0.6, wrist=section)
        realism.forearm_items(b, anchor, np.eye(3), np.zeros(3), tone, False, 0.6)
        assert a.random() == b.random()  # the same draws
        v = fitted[0].vertices.reshape(-1, realism._RING, 3)
        at_joint = v[np.argmin(np.abs(v[:, 0, 0]))]  # the ring nearest the wrist joint's plane
        assert abs(at_joint[0, 0]) < 0.06 * anchor
        reach = np.linalg.norm(at_joint[:, 1:] - np.array(section.centre) * anchor, axis=1) / anchor
        np.testing.assert_allclose(reach, section.radii * realism.FITTED_AT_WRIST, rtol=0.01)
        # the hand's colours at the wrist, fading to the tone up the arm (times the same shading draws)
        wrist_colors = np.linspace([0.9, 0.7, 0.6], [0.6, 0.4, 0.3], realism._RING)
        coloured, _ = realism.forearm_items(
            np.random.default_rng(seed), anchor, np.eye(3), np.zeros(3), tone, False, 0.0, None, section, wrist_colors
        )
        c = coloured[0].colors.reshape(-1, realism._RING, 3)
        plain = fitted[0].colors.reshape(-1, realism._RING, 3)  # the tone times the shading
        shading = plain / tone
        np.testing.assert_allclose(c[0] / shading[0], wrist_colors, atol=0.02)  # the ring inside the hand
        np.testing.assert_allclose(c[-1], plain[-1], atol=1e-9)  # up the arm: the tone
        # further up, the arm has turned by the whole bend: its axis leaves the hand's x axis
        far = v[-1].mean(0)
        old = rigid[0].vertices.reshape(-1, realism._RING, 3)[-1].mean(0)
        np.testing.assert_allclose(far / np.linalg.norm(far), old / np.linalg.norm(old), atol=0.02)
    # the rigid tube is wider than the hand's wrist: it stood out of the hand like a cuff
    assert realism.WRIST_HALF_WIDTH > 1.2 * section.radii[0]


def test_which_joints_are_visible_does_not_depend_on_the_resolution():
    """The same scenes at 256 and 512 px: a joint's visibility looks at the same share of the image around it, so the
    visible share agrees (a 3x3 pixel patch at both sizes made 512 px renders count 4 points fewer visible joints, and
    so fewer hands in the benchmarks)."""
    from diffuhand.synth.mesh import default_hand_mesh
    from diffuhand.synth.render import Renderer
    from diffuhand.synth.scene import scene_variant

    mesh, visible = default_hand_mesh(), {}
    for size in (256, 512):
        cfg, r = scene_variant("photo", SceneConfig(size=size)), Renderer(size)
        visible[size] = np.concatenate(
            [h.visible for i in range(30) for h in render_sample(np.random.default_rng([7, i]), r, cfg, mesh=mesh)[3]]
        )
    assert visible[256].size == visible[512].size > 600
    assert abs(visible[256].mean() - visible[512].mean()) < 0.015
    assert (visible[256] == visible[512]).mean() > 0.975


def test_the_visibility_patch_grows_with_the_image():
    """A joint whose own skin shows only two pixels from its pixel, behind a nearer surface all around: hidden in a
    256 px image (3x3 patch), visible at 512 px (5x5); the radius is 1 up to 383 px, then the side / 256 rounded
    half up."""
    from diffuhand.synth.scene import _visible, visibility_radius

    assert [visibility_radius(s) for s in (128, 256, 320, 383, 384, 512, 640, 768, 896)] == [1, 1, 1, 1, 2, 2, 3, 3, 4]
    for size, seen in ((256, False), (512, True)):
        depth = np.full((size, size), 400.0)  # an occluder 100 mm in front of the joint
        depth[100, 102] = 500.0  # the joint's own skin, two pixels to the right
        joints = np.zeros((21, 3)) + [0.0, 0.0, 500.0]
        uv = np.zeros((21, 2)) + [100.5, 100.5]
        assert _visible(joints, uv, depth, tol_mm=5.0).all() == seen
