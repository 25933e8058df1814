"""Trainer: learning, checkpoints, exact resume, distributed equivalence (CPU, gloo)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import random_walk
from safetensors.torch import load_file

from slimkit import SLiMConfig, SLiMEncoder, Trainer


def make_data(n: int, seed: int = 0, persons: bool = False) -> list[np.ndarray]:
    """``n`` sequences of 20-47 frames with a class-dependent motion, ``ntu25``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x = random_walk(rng, int(rng.integers(20, 48)), 25, m=2 if persons and i % 3 == 0 else None)
        t = np.linspace(0, 2 * np.pi, x.shape[-3])[:, None]
        x[..., 4:8, 1] += np.sin((1 + i % 2) * t)  # two classes: slow or fast left arm
        out.append(x)
    return out


def _weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _assert_same(a: dict, b: dict, atol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if atol == 0.0:
            assert torch.equal(a[k], b[k]), k
        else:
            torch.testing.assert_close(a[k], b[k], atol=atol, rtol=0.0, msg=k)


def test_loss_falls_and_run_folder_is_complete(tmp_path):
    data = make_data(32, persons=True)
    labels = [i % 2 for i in range(32)]
    tr = Trainer(
        SLiMConfig.tiny(),
        data,
        output_dir=tmp_path,
        epochs=8,
        batch_size=8,
        lr=1e-3,
        warmup_steps=6,
        log_every=4,
        save_every=1000,
        num_workers=0,
        eval_data=list(zip(data[:16], labels[:16], strict=True)),
        eval_every=4,
        data_description="32 synthetic random walks",
    )
    out = tr.fit()
    recs = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in recs if "loss" in r]
    assert [r["step"] for r in train] == list(range(4, 33, 4))
    first, last = np.mean([r["loss"] for r in train[:2]]), np.mean([r["loss"] for r in train[-2:]])
    assert last < 0.85 * first, (first, last)
    assert all(np.isfinite(r["mfm"]) and np.isfinite(r["glcl"]) and r["samples_per_s"] > 0 for r in train)
    assert train[1]["lr"] > train[0]["lr"] and train[-1]["lr"] < max(
        r["lr"] for r in train
    )  # warmup, then cosine
    knn = [r["knn_top1"] for r in recs if "knn_top1" in r]
    assert len(knn) == 2 and 0.0 <= knn[-1] <= 1.0 and out["knn_top1"] == knn[-1]
    # checkpoints: the newest two, each a loadable pretrained folder plus training state
    ckpts = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("checkpoint-"))
    assert ckpts == ["checkpoint-28", "checkpoint-32"]
    final = tmp_path / "checkpoint-32"
    assert {p.name for p in final.iterdir()} == {
        "config.json",
        "model.safetensors",
        "heads.safetensors",
        "teacher.safetensors",
        "training_state.pt",
        "trainer_state.json",
        "checksums.json",
    }
    state = torch.load(final / "training_state.pt", weights_only=True)
    assert {"optimizer", "scheduler", "torch_rng", "numpy_rng", "python_rng"} <= set(state)
    info = json.loads((final / "trainer_state.json").read_text())
    assert (info["global_step"], info["epoch"], info["step_in_epoch"]) == (32, 8, 0)
    loaded = SLiMEncoder.from_pretrained(final)
    _assert_same(_weights(loaded), _weights(tr.encoder))
    # the teacher is an EMA of the student: close to it, not equal
    teacher = load_file(str(final / "teacher.safetensors"))
    diff = (teacher["encoder.blocks.0.attn.qkv.weight"] - tr.encoder.blocks[0].attn.qkv.weight).abs().max()
    assert 0 < diff < 0.05
    assert tr.encoder.card_info["training_data"] == "32 synthetic random walks"
    assert "kNN" in next(iter(tr.encoder.card_info["results"]))
    z = tr.encoder.embed(data[:3])
    assert z.shape == (3, tr.encoder.embed_dim) and np.isfinite(z).all()


def _run(tmp: Path, **kw) -> Trainer:
    args = dict(
        epochs=3,
        batch_size=8,
        lr=1e-3,
        save_every=2,
        save_total_limit=None,
        num_workers=0,
        show_progress_bar=False,
    )
    args.update(kw)
    tr = Trainer(SLiMConfig.tiny(drop_path=0.1), make_data(24, seed=1), output_dir=tmp, **args)
    tr.fit()
    return tr


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    full = _run(tmp_path / "full")
    ref_student = _weights(full.encoder)
    ref_teacher = load_file(str(tmp_path / "full" / "checkpoint-9" / "teacher.safetensors"))
    assert sorted(int(p.name.split("-")[1]) for p in (tmp_path / "full").glob("checkpoint-*")) == [
        2,
        3,
        4,
        6,
        8,
        9,
    ]

    # resume from a checkpoint written in the middle of epoch 2 (step 4 = epoch 1, 1 batch in)
    mid = tmp_path / "mid"
    mid.mkdir()
    shutil.copytree(tmp_path / "full" / "checkpoint-4", mid / "checkpoint-4")
    (mid / "checkpoint-7.tmp").mkdir()  # a save cut by a kill: ignored and cleaned up
    (mid / "checkpoint-8").mkdir()  # an incomplete folder (not written by slimkit): ignored, then replaced
    (mid / "checkpoint-8" / "config.json").write_text("{}")
    resumed = _run(mid)
    assert not (mid / "checkpoint-7.tmp").exists()
    _assert_same(_weights(resumed.encoder), ref_student)
    _assert_same(load_file(str(mid / "checkpoint-9" / "teacher.safetensors")), ref_teacher)

    # stop with max_steps inside an epoch, then call fit again without it: same run
    stop = tmp_path / "stop"
    first = _run(stop, max_steps=5)
    assert first.global_step == 5 and (stop / "checkpoint-5").is_dir()
    assert not any(
        torch.equal(v, ref_student[k])
        for k, v in _weights(first.encoder).items()
        if v.is_floating_point() and "norm" not in k and "bias" not in k
    )
    again = _run(stop)
    _assert_same(_weights(again.encoder), ref_student)
    steps = [json.loads(line)["step"] for line in (stop / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and len(steps) == len(set(steps))

    # and a different seed gives different weights (the comparison above can fail)
    other = _run(tmp_path / "seed1", seed=1, max_steps=2)
    assert not torch.equal(_weights(other.encoder)["patch_weight"], ref_student["patch_weight"])


def test_resume_refuses_a_different_run(tmp_path):
    _run(tmp_path, max_steps=2)
    with pytest.raises(ValueError, match="batch_size"):
        _run(tmp_path, batch_size=4)
    with pytest.raises(ValueError, match="config"):
        Trainer(
            SLiMConfig.tiny(mask_ratio=0.5),
            make_data(24, seed=1),
            output_dir=tmp_path,
            epochs=3,
            batch_size=8,
            num_workers=0,
        ).fit()


def test_motion_mask_joint_tokens_bf16_and_workers(tmp_path):
    cfg = SLiMConfig.tiny(token_groups="joint", mask_type="motion", num_local_views=1, num_frames=16)
    tr = Trainer(
        cfg,
        make_data(8, persons=True),
        output_dir=tmp_path,
        epochs=1,
        batch_size=4,
        precision="bf16",
        num_workers=1,
        log_every=1,
    )
    out = tr.fit()
    assert out["step"] == 2 and np.isfinite(out["loss"])


def test_bad_arguments_are_named():
    data = make_data(4)
    with pytest.raises(ValueError, match="precision"):
        Trainer(SLiMConfig.tiny(), data, "x", precision="fp16")
    with pytest.raises(ValueError, match="batch_size"):
        Trainer(SLiMConfig.tiny(), data, "x", batch_size=0)
    with pytest.raises(TypeError, match="config_or_encoder"):
        Trainer(42, data, "x")
    with pytest.raises(ValueError, match="train_data"):
        Trainer(SLiMConfig.tiny(), [np.zeros((10, 17, 3), np.float32)], "x")


def test_readme_example_finishes_quickly_on_cpu(tmp_path):
    data = make_data(64)
    t0 = time.perf_counter()
    out = Trainer(SLiMConfig.tiny(), data, output_dir=tmp_path, max_steps=20, show_progress_bar=False).fit()
    elapsed = time.perf_counter() - t0
    assert out["step"] == 20 and np.isfinite(out["loss"])
    assert elapsed < 60, elapsed


DIST_SCRIPT = r"""
import os, sys
import numpy as np, torch
from safetensors.torch import save_file
sys.path.insert(0, sys.argv[2])
from test_trainer import make_data
from slimkit import SLiMConfig, Trainer
torch.set_num_threads(1)
out = sys.argv[1]
data = make_data(24, seed=2, persons=True)
# drop path draws per process (by design), so it is off here; the batch-centred MFM target stays on (default)
tr = Trainer(SLiMConfig.tiny(drop_path=0.0), data, output_dir=os.path.join(out, "run"), epochs=1,
             batch_size=8, lr=1e-3, num_workers=0, show_progress_bar=False, log_every=1)
res = tr.fit()
rank = int(os.environ.get("RANK", "0"))
weights = {k: v.contiguous() for k, v in tr.encoder.state_dict().items()}
save_file(weights, os.path.join(out, f"rank{rank}.safetensors"))
print("loss", res["loss"])
"""


def test_two_process_ddp_matches_single_process(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(DIST_SCRIPT)
    tests_dir = str(Path(__file__).parent)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    single, multi = tmp_path / "single", tmp_path / "multi"
    r = subprocess.run(
        [sys.executable, str(script), str(single), tests_dir],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            str(multi),
            tests_dir,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    w0, w1 = load_file(str(multi / "rank0.safetensors")), load_file(str(multi / "rank1.safetensors"))
    _assert_same(w0, w1)  # DDP keeps the replicas identical
    ws = load_file(str(single / "rank0.safetensors"))
    torch.manual_seed(0)  # the Trainer initialises from seed 0
    init = _weights(SLiMEncoder(SLiMConfig.tiny()))
    diff = torch.cat([(w0[k] - ws[k]).abs().flatten() for k in ws])
    moved = torch.cat([(ws[k] - init[k]).abs().flatten() for k in ws])
    # Same global batch, same per-sample views and masks: only float summation order differs, which Adam
    # can amplify for parameters whose gradient is near its eps, so compare to how far training moved them.
    assert moved.mean() > 1e-4
    assert diff.max() < 0.05 * moved.max() and diff.mean() < 1e-4 * moved.mean()
    loss_single = [json.loads(x)["loss"] for x in (single / "run" / "metrics.jsonl").read_text().splitlines()]
    loss_multi = [json.loads(x)["loss"] for x in (multi / "run" / "metrics.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(loss_multi, loss_single, rtol=1e-5)
    # rank 0 alone wrote checkpoints and metrics
    assert (multi / "run" / "checkpoint-3").is_dir() and not list((multi / "run").glob("*.tmp"))
    assert len(loss_multi) == 3


def test_2d_keypoints_with_scores(tmp_path, rng):
    seqs = []
    for _ in range(8):
        xy = random_walk(rng, int(rng.integers(12, 30)), 17, c=2)
        score = rng.uniform(0, 1, size=xy.shape[:-1] + (1,)).astype(np.float32)  # low scores = missing
        seqs.append(np.concatenate([xy, score], -1))
    cfg = SLiMConfig.tiny(layout="coco17", in_channels=2, min_score=0.3, num_frames=16)
    out = Trainer(cfg, seqs, output_dir=tmp_path, epochs=1, batch_size=4, num_workers=0).fit()
    assert out["step"] == 2 and np.isfinite(out["loss"])


def test_training_arguments_or_keywords_build_the_same_trainer(tmp_path):
    from slimkit.train import TrainingArguments

    data = make_data(8)
    args = TrainingArguments(tmp_path, epochs=2, batch_size=4, lr=1e-3, max_steps=3)
    a = Trainer(SLiMConfig.tiny(), data, args=args)
    b = Trainer(SLiMConfig.tiny(), data, tmp_path, epochs=2, batch_size=4, lr=1e-3, max_steps=3)
    c = Trainer(SLiMConfig.tiny(), data, output_dir=tmp_path, epochs=2, batch_size=4, lr=1e-3, max_steps=3)
    assert a.args == b.args == c.args and a.args.output_dir == Path(tmp_path)
    # the fields read and write as trainer attributes, checked again when set
    assert (b.epochs, b.lr, b.max_steps) == (2, 1e-3, 3)
    b.max_steps = 5
    assert b.args.max_steps == 5 and args.max_steps == 3
    with pytest.raises(ValueError, match="max_steps"):
        b.max_steps = 0
    with pytest.raises(TypeError, match="epochs, lr"):
        Trainer(SLiMConfig.tiny(), data, args=args, lr=1e-3, epochs=3)
    with pytest.raises(TypeError, match="output_dir"):
        Trainer(SLiMConfig.tiny(), data, tmp_path, args=args)
    with pytest.raises(TypeError, match="epoch"):
        Trainer(SLiMConfig.tiny(), data, tmp_path, epoch=3)
    for bad in (dict(batch_size=0), dict(lr=0.0), dict(min_lr_ratio=2.0), dict(seed=-1), dict(warmup_steps=1.5),
                dict(save_total_limit=0), dict(precision="fp16"), dict(grad_clip=-1.0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TrainingArguments(tmp_path, **bad)


def test_old_import_paths_still_work():
    import slimkit
    import slimkit.train as new
    import slimkit.trainer as old
    from slimkit.train import corpus, step

    assert slimkit.Trainer is old.Trainer is new.Trainer
    assert (old.PretrainDataset, old.SLiMPretrainModel, old.knn_top1) == (
        new.PretrainDataset, new.SLiMPretrainModel, slimkit.eval.knn_top1)
    assert old._collate is corpus.pretrain_collate and old._Teacher is step.EMATeacher
    assert old._WeightedResumableSampler is corpus.WeightedResumableSampler
    assert "kept for one release; import from slimkit.train" in old.__doc__.lower()


def test_ema_update_is_the_momentum_average():
    from slimkit.train import ema_update

    torch.manual_seed(0)
    teacher, student = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    t0 = [p.detach().clone() for p in teacher.parameters()]
    ema_update(teacher, student, 0.9)
    for t, before, s in zip(teacher.parameters(), t0, student.parameters(), strict=True):
        torch.testing.assert_close(t, 0.9 * before + 0.1 * s.detach())
        assert not t.requires_grad or t.grad is None
    after = [p.detach().clone() for p in teacher.parameters()]
    ema_update(teacher, student, 1.0)  # momentum 1: unchanged
    assert all(torch.equal(a, p) for a, p in zip(after, teacher.parameters(), strict=True))
    ema_update(teacher, student, 0.0)  # momentum 0: the student
    assert all(torch.equal(t, s) for t, s in zip(teacher.parameters(), student.parameters(), strict=True))
    with pytest.raises(ValueError, match="same parameters"):
        ema_update(teacher, torch.nn.Linear(5, 3, bias=False), 0.5)


def test_pretrain_step_is_a_public_unit():
    """Views are a pure function of the per-sample generator; a step trains the student and moves the teacher
    by the EMA of the updated student."""
    from slimkit.preprocessing import SequenceSource
    from slimkit.train import PretrainDataset, PretrainStep, SLiMPretrainModel, make_optimizer, pretrain_collate
    from slimkit.transforms import PerSampleGenerator, default_augmentation

    torch.manual_seed(0)
    cfg = SLiMConfig.tiny(num_local_views=1)
    model = SLiMPretrainModel(SLiMEncoder(cfg).train())
    step = PretrainStep(model, augmentation=default_augmentation(cfg.layout))
    ds = PretrainDataset(SequenceSource(make_data(4, persons=True), num_joints=25, channels=3), cfg)
    x, lengths, index = pretrain_collate([ds[i] for i in range(4)])
    v1 = step.views(x, lengths, PerSampleGenerator(index, seed=1))
    v2 = step.views(x, lengths, PerSampleGenerator(index, seed=1))
    assert v1.global_views.shape == (2 * 4, cfg.max_persons, cfg.num_frames, 25, 3)
    assert v1.local_views.shape[:3] == (4, cfg.max_persons, cfg.local_view_frames)
    p, g = model.encoder.token_grid()
    assert v1.mask.shape == (8, p * g) and v1.mask.dtype == torch.bool
    assert torch.equal(v1.mask, v2.mask) and torch.equal(v1.global_views.nan_to_num(), v2.global_views.nan_to_num())
    opt = make_optimizer(model, lr=1e-3, weight_decay=0.05)
    teacher_before = [p.clone() for p in step.teacher.encoder.parameters()]
    student_before = [p.detach().clone() for p in model.encoder.parameters()]
    loss, parts = step(x, lengths, PerSampleGenerator(index, seed=1), opt, momentum=0.9, grad_clip=1.0)
    assert torch.isfinite(loss) and not loss.requires_grad and set(parts) == {"mfm", "glcl", "motion"}
    assert parts["motion"] == 0  # motion_weight is 0 by default
    assert any(not torch.equal(a, b) for a, b in zip(student_before, model.encoder.parameters(), strict=True))
    for t, before, s in zip(step.teacher.encoder.parameters(), teacher_before, model.encoder.parameters(),
                            strict=True):
        torch.testing.assert_close(t, 0.9 * before + 0.1 * s.detach())
