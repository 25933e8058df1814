"""Token masking and skeleton-aware augmentations for SLiM pretraining.

Two families live here.

**Masks** decide which tokens the student sees replaced by the mask token. Every masker has the same call
signature::

    mask = masker(batch_size, num_patches, groups, generator=None, device=None, motion=None)  # bool (N, L)

with ``L = num_patches * G`` tokens ordered time-major (``token = patch * G + group``, as in
[`slimkit.SLiMEncoder.token_grid`][slimkit.model.SLiMEncoder.token_grid]). ``groups`` is either the number of token
groups ``G`` or a ``(G,)``
tensor giving the body part of each group (`slimkit.SLiMEncoder.group_part`). Every sample gets exactly
``num_masked(L)`` masked tokens, where ``num_masked(L) = clamp(round(ratio * L), 1, L - 1)``.

* [`SemanticTubeMask`][slimkit.transforms.SemanticTubeMask] (SLiM): whole body parts over contiguous runs of time
patches.
* [`RandomTokenMask`][slimkit.transforms.RandomTokenMask]: uniformly random tokens (MAE's masking; ablation baseline).
* [`MotionAwareMask`][slimkit.transforms.MotionAwareMask]: MAMP's motion-aware masking (ablation baseline).

**Augmentations** are callables ``t(x, generator=None)`` that take a single numpy or torch sequence
``(T, V, C)`` / ``(M, T, V, C)`` or a batch ``(N, M, T, V, C)`` (any device) and return the same type and
shape; random parameters are drawn per sample (one set for all persons of a sample, since they share one
scene). They compose with [`Compose`][slimkit.transforms.Compose], like ``torchvision.transforms.v2``. Missing joints
(``NaN``)
stay missing and valid joints stay valid through every transform.
[`default_augmentation`][slimkit.transforms.default_augmentation] builds the
default pipeline (rotation, uniform scale, body proportions by
[`RandomBoneLength`][slimkit.transforms.RandomBoneLength], bone-length-preserving limb perturbation, mirror,
jitter); [`RandomShear`][slimkit.transforms.RandomShear] and
[`RandomAxisScale`][slimkit.transforms.RandomAxisScale] distort the body and are not in it.
[`TemporalCrop`][slimkit.transforms.TemporalCrop] makes the global and local temporal views.

**Randomness.** ``generator`` may be a ``torch.Generator``, ``None`` (torch's global generator) or a
[`PerSampleGenerator`][slimkit.transforms.PerSampleGenerator], whose draws depend only on a per-sample key (e.g.
dataset index and epoch) and on
the order of the calls: the same sample gets the same crop, rotation and mask whatever batch, process or
device it lands in. The trainer uses it, which is what makes distributed and resumed runs reproduce a
single uninterrupted run.

**Modules.** ``random`` (per-sample random numbers), ``masks``, ``compose`` (the
[`Transform`][slimkit.transforms.Transform] base and [`Compose`][slimkit.transforms.Compose]), ``augment``
(spatial augmentations) and ``temporal`` (temporal views); import the names from ``slimkit.transforms``.
"""

from __future__ import annotations

from .augment import (
    Mirror,
    RandomAxisScale,
    RandomBoneLength,
    RandomJitter,
    RandomLimbPerturbation,
    RandomMirror,
    RandomRotation,
    RandomScale,
    RandomShear,
    bone_lengths,
    default_augmentation,
)
from .compose import Compose, Transform
from .masks import MotionAwareMask, RandomTokenMask, SemanticTubeMask, build_mask, token_motion
from .random import Generator as Generator  # the type of every ``generator`` argument
from .random import PerSampleGenerator
from .temporal import TemporalCrop

__all__ = [
    "PerSampleGenerator",
    "SemanticTubeMask",
    "RandomTokenMask",
    "MotionAwareMask",
    "build_mask",
    "token_motion",
    "Transform",
    "Compose",
    "RandomRotation",
    "RandomScale",
    "RandomLimbPerturbation",
    "RandomBoneLength",
    "Mirror",
    "RandomMirror",
    "RandomJitter",
    "RandomShear",
    "RandomAxisScale",
    "TemporalCrop",
    "default_augmentation",
    "bone_lengths",
]
