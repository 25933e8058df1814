"""Masks and augmentations: each one tested on the invariant it promises."""

import numpy as np
import pytest
import torch
from conftest import random_walk

from slimkit import SLiMConfig, SLiMEncoder
from slimkit.layouts import get_layout
from slimkit.transforms import (
    Compose,
    Mirror,
    MotionAwareMask,
    PerSampleGenerator,
    RandomAxisScale,
    RandomBoneLength,
    RandomJitter,
    RandomLimbPerturbation,
    RandomMirror,
    RandomRotation,
    RandomScale,
    RandomShear,
    RandomTokenMask,
    SemanticTubeMask,
    TemporalCrop,
    bone_lengths,
    build_mask,
    default_augmentation,
    token_motion,
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------------- masks
@pytest.mark.parametrize("groups", [5, 25])
@pytest.mark.parametrize("ratio", [0.1, 0.37, 0.6, 0.9])
def test_semantic_tube_mask_exact_ratio(groups, ratio):
    masker = SemanticTubeMask(ratio, tube_len=3, layout="ntu25")
    mask = masker(16, 10, groups, generator=_gen())
    length = 10 * groups
    assert mask.shape == (16, length) and mask.dtype == torch.bool
    expected = min(max(round(ratio * length), 1), length - 1)
    assert (mask.sum(1) == expected).all()
    assert masker.num_masked(length) == expected


def _tube_structure_ok(mask_pt: np.ndarray, tube_len: int) -> bool:
    """``mask_pt (P,)`` of one part over time: constant on the blocks of some phase, except one block."""
    p = len(mask_pt)
    for phase in range(tube_len):
        edges = sorted(
            {0, p, *[s - phase for s in range(tube_len, p + tube_len, tube_len) if 0 < s - phase < p]}
        )
        mixed = sum(len(set(mask_pt[a:b])) > 1 for a, b in zip(edges, edges[1:], strict=False))
        if mixed <= 1:
            return True
    return False


@pytest.mark.parametrize("token_groups", ["part", "joint"])
def test_semantic_tube_mask_masks_parts_whole_in_contiguous_tubes(token_groups):
    enc = SLiMEncoder(SLiMConfig.tiny(token_groups=token_groups, num_frames=64))
    p, g = enc.token_grid()
    parts = enc.group_part
    tube = 4
    mask = SemanticTubeMask(0.5, tube_len=tube)(32, p, parts, generator=_gen(1)).view(32, p, g)
    sizes = torch.bincount(parts)
    for n in range(32):
        partial_patches = 0
        for k in range(len(sizes)):
            cols = mask[n][:, parts == k]  # (P, part size)
            per_patch = cols.sum(1)
            # all groups of a part in a patch are masked together, except in the one trimmed patch
            partial_patches += int(((per_patch > 0) & (per_patch < sizes[k])).sum())
            assert _tube_structure_ok((per_patch > 0).numpy(), tube), (n, k, per_patch)
        assert partial_patches <= 1
    # tubes make runs: a masked token's time neighbour in the same group is masked far more often than chance
    same_next = (mask[:, 1:] & mask[:, :-1]).sum() / mask[:, :-1].sum()
    assert same_next > 0.7


def test_semantic_tube_mask_rejects_bad_arguments():
    with pytest.raises(ValueError, match="ratio"):
        SemanticTubeMask(1.0, 4)
    with pytest.raises(ValueError, match="tube_len"):
        SemanticTubeMask(0.5, 0)
    with pytest.raises(ValueError, match="groups"):
        SemanticTubeMask(0.5, 4, layout="ntu25")(2, 4, 7)
    with pytest.raises(ValueError, match="batch_size"):
        SemanticTubeMask(0.5, 4)(0, 4, 5)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SemanticTubeMask(0.6, 4, "ntu25"),
        lambda: RandomTokenMask(0.6),
        lambda: MotionAwareMask(0.6),
    ],
)
def test_masks_reproducible_per_seed_and_per_sample(make):
    masker = make()
    motion = torch.rand(6, 40, generator=_gen(9))
    a = masker(6, 8, 5, generator=_gen(3), motion=motion)
    b = masker(6, 8, 5, generator=_gen(3), motion=motion)
    c = masker(6, 8, 5, generator=_gen(4), motion=motion)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # a PerSampleGenerator gives a sample the same mask whatever its batch
    keys = torch.tensor([10, 11, 12, 13, 14, 15])
    full = masker(6, 8, 5, generator=PerSampleGenerator(keys, seed=1), motion=motion)
    sub = masker(2, 8, 5, generator=PerSampleGenerator(keys[[4, 1]], seed=1), motion=motion[[4, 1]])
    assert torch.equal(full[[4, 1]], sub)
    assert (a.sum(1) == 24).all()


def test_random_mask_exact_count_and_uniform():
    mask = RandomTokenMask(0.25)(2000, 4, 5, generator=_gen())
    assert (mask.sum(1) == 5).all()
    freq = mask.float().mean(0)
    assert (freq - 0.25).abs().max() < 0.05


def test_motion_aware_mask_prefers_moving_tokens():
    motion = torch.zeros(500, 40)
    motion[:, :10] = 5.0
    mask = MotionAwareMask(0.25, tau=0.75)(500, 8, 5, generator=_gen(), motion=motion)
    assert (mask.sum(1) == 10).all()
    assert mask[:, :10].float().mean() > 2 * mask[:, 10:].float().mean()
    with pytest.raises(ValueError, match="motion"):
        MotionAwareMask(0.5)(2, 8, 5)


def test_token_motion_and_build_mask():
    enc = SLiMEncoder(SLiMConfig.tiny())
    x = torch.from_numpy(random_walk(np.random.default_rng(0), 32, 25, m=2))[None]
    x[0, 1] = float("nan")  # absent second person does not dilute the motion
    x[0, 0, 16:, :5] = x[0, 0, 16:, :5] + torch.arange(16.0)[:, None, None]  # torso moves fast late
    m = token_motion(x, 4, enc.group_index)
    p, g = enc.token_grid()
    assert m.shape == (1, p * g) and torch.isfinite(m).all()
    grid = m.view(p, g)
    assert grid[5:, 0].min() > 10 * grid[:4, 0].max()
    for kind, cls in [
        ("semantic_tube", SemanticTubeMask),
        ("random", RandomTokenMask),
        ("motion", MotionAwareMask),
    ]:
        assert isinstance(build_mask(SLiMConfig.tiny(mask_type=kind)), cls)


# ---------------------------------------------------------------------------------------------- augmentations
@pytest.fixture
def seq(rng):
    x = random_walk(rng, 24, 25, m=2)
    x[0, 3, 7] = np.nan  # a missing hand
    x[1, :, 0] = np.nan  # a missing root in every frame of person 2
    x[1, 5] = np.nan  # a frame where person 2 is absent
    return x


def _rel_bone_change(a, b, layout="ntu25"):
    la, lb = bone_lengths(a, layout), bone_lengths(b, layout)
    return np.nanmax(np.abs(lb / la - 1))


@pytest.mark.parametrize(
    "t",
    [RandomRotation(0.5), RandomLimbPerturbation("ntu25", 0.4), Mirror("ntu25"), RandomMirror("ntu25", 0.5)],
)
def test_bone_preserving_transforms_keep_bone_lengths(t, seq):
    out = t(seq, generator=_gen())
    assert out.shape == seq.shape and out.dtype == seq.dtype and isinstance(out, np.ndarray)
    # a mirrored skeleton has the same bones with left and right exchanged
    relabelled = seq[..., get_layout("ntu25").flip_index, :]
    assert min(_rel_bone_change(seq, out), _rel_bone_change(relabelled, out)) < 1e-5
    if not isinstance(t, RandomMirror):
        assert np.nanmax(np.abs(out - seq)) > 1e-2  # it did something


def test_limb_perturbation_changes_angles_not_torso(seq):
    out = RandomLimbPerturbation("ntu25", 0.4)(seq, generator=_gen(2))
    torso = list(get_layout("ntu25").parts["torso"])
    np.testing.assert_allclose(out[..., torso, :], seq[..., torso, :], atol=1e-6)
    hands = [get_layout("ntu25").index("l_hand"), get_layout("ntu25").index("r_hand")]
    assert np.nanmax(np.abs(out[..., hands, :] - seq[..., hands, :])) > 1e-2


def test_limb_perturbation_walks_tree_from_root_in_2d(rng):
    x = random_walk(rng, 10, 17, c=2)
    out = RandomLimbPerturbation(
        "coco17", 0.6, parts=["left_arm", "right_arm", "left_leg", "right_leg", "head"]
    )(x, generator=_gen(5))
    assert _rel_bone_change(x, out, "coco17") < 1e-5


def test_bone_length_scales_each_bone_keeps_directions_root_and_twins(rng):
    lay = get_layout("ntu25")
    x = random_walk(rng, 16, 25, m=1)
    out = RandomBoneLength("ntu25", 0.3)(x, generator=_gen(4))
    child = np.array([j for j in range(25) if lay.parents[j] >= 0])
    parent = np.array([lay.parents[j] for j in child])
    old, new = x[..., child, :] - x[..., parent, :], out[..., child, :] - out[..., parent, :]
    ratio = np.linalg.norm(new, axis=-1) / np.linalg.norm(old, axis=-1)  # (M, T, bones)
    assert np.allclose(ratio, ratio[:, :1], atol=1e-5)  # fixed over time
    assert 0.7 - 1e-6 <= ratio.min() and ratio.max() <= 1.3 + 1e-6 and ratio.std() > 0.05  # within, and varied
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(unit(new), unit(old), atol=1e-5)  # directions, hence joint angles, kept
    np.testing.assert_array_equal(out[..., lay.index("spine_base"), :], x[..., lay.index("spine_base"), :])
    bone = {j: b for b, j in enumerate(child)}
    li, ri = lay.index("l_elbow"), lay.index("r_elbow")
    np.testing.assert_allclose(ratio[..., bone[li]], ratio[..., bone[ri]], atol=1e-5)  # left and right alike
    np.testing.assert_array_equal(RandomBoneLength("ntu25", 0.0)(x, generator=_gen()), x)
    with pytest.raises(ValueError, match="max_change"):
        RandomBoneLength("ntu25", 1.0)


def test_uniform_scale_scales_every_bone_alike(seq):
    out = RandomScale(0.5, 2.0)(seq, generator=_gen())
    ratio = bone_lengths(out, "ntu25") / bone_lengths(seq, "ntu25")
    assert np.nanmax(ratio) - np.nanmin(ratio) < 1e-5 and abs(np.nanmean(ratio) - 1) > 1e-3


def test_mirror_twice_is_identity_and_swaps_sides(seq):
    m = Mirror("ntu25")
    once = m(seq)
    np.testing.assert_array_equal(m(once), seq)
    lay = get_layout("ntu25")
    li, ri = lay.index("l_hand"), lay.index("r_hand")
    np.testing.assert_array_equal(once[..., li, 0], -seq[..., ri, 0])
    np.testing.assert_array_equal(once[..., li, 1:], seq[..., ri, 1:])


ALL = [
    RandomRotation(),
    RandomScale(),
    RandomLimbPerturbation("ntu25"),
    RandomBoneLength("ntu25"),
    Mirror("ntu25"),
    RandomMirror("ntu25"),
    RandomJitter(0.01),
    RandomShear(),
    RandomAxisScale(),
    default_augmentation("ntu25"),
]


@pytest.mark.parametrize("t", ALL, ids=lambda t: type(t).__name__)
def test_missing_joints_stay_missing_and_valid_stay_valid(t, seq):
    out = t(seq, generator=_gen())
    missing = np.isnan(out).any(-1)
    assert np.isnan(out).any(-1).sum() == np.isnan(seq).any(-1).sum() > 0
    # mirroring relabels joints, so a missing left hand becomes a missing right hand
    flipped = np.isnan(seq[..., get_layout("ntu25").flip_index, :]).any(-1)
    assert np.array_equal(missing, np.isnan(seq).any(-1)) or np.array_equal(missing, flipped)
    assert np.array_equal(np.isnan(out).all(-1), missing)  # a joint is missing in all coordinates or none


@pytest.mark.parametrize("t", ALL, ids=lambda t: type(t).__name__)
def test_batched_tensor_matches_per_sample_numpy(t, seq):
    """On a batch, sample i gets exactly what it gets alone with the same per-sample key."""
    batch = torch.from_numpy(np.stack([seq, seq[:, ::-1].copy(), seq * 0.5]))
    keys = torch.tensor([7, 8, 9])
    out = t(batch, generator=PerSampleGenerator(keys, seed=3))
    assert isinstance(out, torch.Tensor) and out.shape == batch.shape
    for i in range(3):
        alone = t(batch[i].numpy(), generator=PerSampleGenerator(keys[i : i + 1], seed=3))
        np.testing.assert_allclose(out[i].numpy(), alone, rtol=1e-6, atol=1e-6)
    if type(t) not in (Mirror, RandomMirror):  # other keys, other parameters
        two = t(torch.from_numpy(np.stack([seq, seq])), generator=PerSampleGenerator(torch.tensor([1, 2])))
        assert not torch.allclose(two[0].nan_to_num(), two[1].nan_to_num())


def test_shear_axis_scale_and_bone_length_change_bone_lengths_only_the_last_by_default(seq):
    assert _rel_bone_change(seq, RandomShear(0.3)(seq, generator=_gen())) > 1e-3
    assert _rel_bone_change(seq, RandomAxisScale(0.5, 1.5)(seq, generator=_gen())) > 1e-3
    assert _rel_bone_change(seq, RandomBoneLength("ntu25", 0.2)(seq, generator=_gen())) > 1e-3
    names = {type(t).__name__ for t in default_augmentation("ntu25").transforms}
    assert "RandomBoneLength" not in {type(t).__name__ for t in default_augmentation("ntu25", bone_length=0).transforms}
    assert names == {
        "RandomRotation",
        "RandomScale",
        "RandomBoneLength",
        "RandomLimbPerturbation",
        "RandomMirror",
        "RandomJitter",
    }


def test_rotation_2d_and_dtype_kept(rng):
    x = random_walk(rng, 12, 17, c=2).astype(np.float64)
    out = RandomRotation(1.0)(x, generator=_gen())
    assert out.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-10)
    with pytest.raises(ValueError, match="C = 2 or 3"):
        RandomRotation()(np.zeros((4, 5, 4), np.float32))
    with pytest.raises(TypeError, match="float"):
        RandomRotation()(np.zeros((4, 5, 3), np.int64))


def test_compose_applies_in_order(seq):
    out = Compose([Mirror("ntu25"), RandomScale(2.0, 2.0)])(seq)
    np.testing.assert_allclose(out, 2.0 * Mirror("ntu25")(seq), rtol=1e-6)


# -------------------------------------------------------------------------------------------- temporal crop
def test_temporal_crop_respects_lengths_and_keeps_missing(seq):
    x = torch.full((3, 2, 40, 25, 3), float("nan"))
    x[0, :, :24] = torch.from_numpy(seq)
    x[1, :, :10] = torch.from_numpy(seq[:, :10])
    x[2, :, :1] = torch.from_numpy(seq[:, :1])
    lengths = torch.tensor([24, 10, 1])
    crop = TemporalCrop(16, 0.5, 1.0)
    out = crop(x, lengths, generator=_gen())
    assert out.shape == (3, 2, 16, 25, 3)
    # padding (NaN beyond each length) never leaks in: person 1's joints other than the hand are always valid
    assert torch.isfinite(out[:, 0, :, [j for j in range(25) if j != 7]]).all()
    # the root of person 2 is missing everywhere and stays missing
    assert out[:, 1, :, 0].isnan().all()
    # a 1-frame sequence is repeated
    assert torch.equal(out[2, 0, 0].nan_to_num(), out[2, 0, -1].nan_to_num())


def test_temporal_crop_fraction_and_monotone_time():
    t = torch.arange(100.0)
    x = t[None, :, None, None].expand(1, 100, 1, 3).clone() + 1  # (M=1, T, V=1, C)
    crop = TemporalCrop(20, 0.3, 0.3)
    for s in range(10):
        out = crop(x, generator=_gen(s))[0, :, 0, 0]
        span = out[-1] - out[0]
        assert abs(span - 29) <= 1  # 30 frames kept -> span of 29
        assert (out[1:] >= out[:-1]).all()
    with pytest.raises(ValueError, match="lengths"):
        crop(x[None], lengths=[101])


def test_temporal_crop_numpy_single_sequence(seq):
    out = TemporalCrop(8, 1.0, 1.0)(seq)
    assert isinstance(out, np.ndarray) and out.shape == (2, 8, 25, 3)
    np.testing.assert_array_equal(out[:, 0], seq[:, 0])
    np.testing.assert_array_equal(out[:, -1], seq[:, -1])
