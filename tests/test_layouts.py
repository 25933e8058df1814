import numpy as np
import pytest
import torch

from slimkit.layouts import Layout, convert_layout, get_layout, list_layouts, register_layout

ALL = list_layouts()


def test_builtin_layouts_present():
    assert {"ntu25", "kinect20", "coco17", "openpose18", "h36m17", "penn13"} <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_tree_has_one_root_and_reaches_every_joint(name):
    lay = get_layout(name)
    assert lay.parents.count(-1) == 1
    order = lay.topological_order
    assert sorted(order) == list(range(lay.num_joints))
    pos = {j: i for i, j in enumerate(order)}
    for child, parent in lay.bones:
        assert pos[parent] < pos[child]
    assert len(lay.bones) == lay.num_joints - 1


@pytest.mark.parametrize("name", ALL)
def test_pairs_are_symmetric_left_right(name):
    lay = get_layout(name)
    perm = lay.flip_index
    assert np.array_equal(perm[perm], np.arange(lay.num_joints))
    for a, b in lay.flip_pairs:
        assert lay.joints[a].startswith("l_") and lay.joints[b] == "r_" + lay.joints[a][2:]
    # every l_/r_ joint is paired, nothing else is
    sided = {j for j, n in enumerate(lay.joints) if n[:2] in ("l_", "r_")}
    assert sided == {j for pair in lay.flip_pairs for j in pair}
    # mirroring maps each bone onto a bone
    bones = {frozenset(b) for b in lay.bones}
    assert {frozenset((perm[c], perm[p])) for c, p in lay.bones} == bones


@pytest.mark.parametrize("name", ALL)
def test_parts_cover_every_joint_exactly_once(name):
    lay = get_layout(name)
    joints = [j for idx in lay.parts.values() for j in idx]
    assert sorted(joints) == list(range(lay.num_joints))
    assert {"torso", "left_arm", "right_arm", "left_leg", "right_leg"} <= set(lay.parts)
    for part in ("left_arm", "left_leg"):
        assert all(lay.joints[j].startswith("l_") for j in lay.parts[part])


def test_ntu25_hand_convention_is_kinect_sdk():
    lay = get_layout("ntu25")
    assert lay.parents[lay.index("l_hand_tip")] == lay.index("l_hand")
    assert lay.parents[lay.index("l_thumb")] == lay.index("l_hand")
    assert lay.root == lay.index("spine_base")


def test_kinect20_matches_nwucla_readme_bones():
    lay = get_layout("kinect20")
    readme = [(1, 0), (2, 1), (3, 2), (4, 2), (5, 4), (6, 5), (7, 6), (8, 2), (9, 8), (10, 9), (11, 10),
              (12, 0), (13, 12), (14, 13), (15, 14), (16, 0), (17, 16), (18, 17), (19, 18)]
    assert sorted(lay.bones) == sorted(readme)


def test_unknown_layout_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown layout 'ntu26'.*known layouts"):
        get_layout("ntu26")


def test_user_defined_layout_registers_and_validates():
    lay = Layout("stick3", ("hip", "l_foot", "r_foot"), (-1, 0, 0),
                 {"torso": (0,), "left_leg": (1,), "right_leg": (2,), "left_arm": (), "right_arm": ()}, (0,))
    register_layout(lay)
    assert get_layout("stick3") is lay
    assert lay.flip_pairs == ((1, 2),)
    with pytest.raises(ValueError, match="already registered"):
        register_layout(lay)
    with pytest.raises(ValueError, match="exactly one root"):
        Layout("bad", ("a", "b"), (-1, -1), {"torso": (0, 1)}, (0,))
    with pytest.raises(ValueError, match="tree connected"):
        Layout("bad", ("a", "b", "c"), (-1, 2, 1), {"torso": (0, 1, 2)}, (0,))
    with pytest.raises(ValueError, match="exactly once"):
        Layout("bad", ("a", "b"), (-1, 0), {"torso": (0, 1), "arm": (1,)}, (0,))


def test_coco17_to_h36m17_derived_joints(rng):
    x = rng.normal(size=(5, 17, 2)).astype(np.float32)
    y = convert_layout(x, "coco17", "h36m17")
    coco, h36m = get_layout("coco17"), get_layout("h36m17")
    c = {n: x[:, i] for i, n in enumerate(coco.joints)}
    np.testing.assert_allclose(y[:, h36m.index("root")], (c["l_hip"] + c["r_hip"]) / 2, rtol=1e-6)
    np.testing.assert_allclose(y[:, h36m.index("neck")], (c["l_shoulder"] + c["r_shoulder"]) / 2, rtol=1e-6)
    belly = (c["l_hip"] + c["r_hip"] + c["l_shoulder"] + c["r_shoulder"]) / 4
    np.testing.assert_allclose(y[:, h36m.index("belly")], belly, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y[:, h36m.index("r_knee")], c["r_knee"])
    assert np.isfinite(y).all()


def test_coco_openpose_round_trip_and_missing_propagation(rng):
    x = rng.normal(size=(3, 4, 17, 2)).astype(np.float32)
    x[0, 0, 5] = np.nan  # missing left shoulder
    op = convert_layout(x, "coco17", "openpose18")
    neck = get_layout("openpose18").index("neck")
    assert np.isnan(op[0, 0, neck]).all()  # derived from a missing joint -> missing
    assert np.isfinite(op[1, 0, neck]).all()
    back = convert_layout(op, "openpose18", "coco17")
    np.testing.assert_array_equal(np.isnan(back), np.isnan(x))
    np.testing.assert_allclose(back[~np.isnan(back)], x[~np.isnan(x)])


def test_penn13_to_coco17_swaps_sides_by_name_and_marks_face_missing(rng):
    x = rng.uniform(10, 200, size=(6, 13, 2)).astype(np.float32)
    y = convert_layout(x, "penn13", "coco17")
    coco = get_layout("coco17")
    # penn13 joint 1 is documented "left shoulder" (viewer's left) = the person's right shoulder
    np.testing.assert_array_equal(y[:, coco.index("r_shoulder")], x[:, 1])
    np.testing.assert_array_equal(y[:, coco.index("l_shoulder")], x[:, 2])
    np.testing.assert_array_equal(y[:, coco.index("nose")], x[:, 0])
    for n in ("l_eye", "r_eye", "l_ear", "r_ear"):
        assert np.isnan(y[:, coco.index(n)]).all()


def test_ntu25_kinect20_round_trip_torch(rng):
    x = torch.from_numpy(rng.normal(size=(2, 7, 25, 3)).astype(np.float32))
    k = convert_layout(x, "ntu25", "kinect20")
    assert isinstance(k, torch.Tensor) and k.shape == (2, 7, 20, 3)
    assert torch.isfinite(k).all()
    back = convert_layout(k, "kinect20", "ntu25")
    ntu = get_layout("ntu25")
    lost = [ntu.index(n) for n in ("neck", "l_hand_tip", "l_thumb", "r_hand_tip", "r_thumb")]
    kept = [j for j in range(25) if j not in lost]
    assert torch.isnan(back[..., lost, :]).all()
    torch.testing.assert_close(back[..., kept, :], x[..., kept, :])


def test_zero_joint_is_missing_in_conversion():
    x = np.ones((17, 2), np.float32)
    x[11] = 0.0
    y = convert_layout(x, "coco17", "h36m17")
    assert np.isnan(y[get_layout("h36m17").index("root")]).all()


def test_conversion_shape_error_names_layout():
    with pytest.raises(ValueError, match=r"x: expected shape \(\.\.\., 17, C\) for layout 'coco17', got \(4, 18, 2\)"):
        convert_layout(np.zeros((4, 18, 2)), "coco17", "h36m17")
    with pytest.raises(ValueError, match="no conversion"):
        convert_layout(np.zeros((4, 17, 2)), "coco17", "ntu25")
