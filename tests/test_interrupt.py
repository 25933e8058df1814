"""Interrupted training loses nothing: SIGKILL mid-epoch, a failing checkpoint write."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from conftest import random_walk

import slimkit.train.checkpoint as trainer_mod  # its torch.save writes training_state.pt
from slimkit import SLiMConfig, SLiMEncoder, Trainer

CFG = SLiMConfig.tiny(layout="kinect20", dim=32, heads=2, depth=1, num_frames=16)
ARGS = dict(batch_size=4, epochs=4, max_steps=16, save_every=2, save_total_limit=None, seed=3,
            show_progress_bar=False, num_workers=0)

SCRIPT = textwrap.dedent("""
    import sys, numpy as np, torch
    torch.set_num_threads(int(sys.argv[3]))
    from slimkit import SLiMConfig, Trainer
    cfg = SLiMConfig.from_dict({cfg!r})
    Trainer(cfg, list(np.load(sys.argv[1])), output_dir=sys.argv[2], **{args!r}).fit()
""")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    return [random_walk(rng, 20, 20) for _ in range(24)]


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    tr = Trainer(CFG, data, output_dir=out, **ARGS)
    tr.fit()
    return {k: v.clone() for k, v in tr.encoder.state_dict().items()}


def _assert_same(state, ref):
    assert state.keys() == ref.keys()
    for k in ref:
        assert torch.equal(state[k], ref[k]), k


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(data, reference, tmp_path):
    np.save(tmp_path / "data.npy", np.stack(data))
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(cfg=CFG.to_dict(), args=ARGS))
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "data.npy"), str(out),
                             str(torch.get_num_threads())])
    try:
        deadline = time.time() + 120
        while not (out / "checkpoint-4").is_dir():  # step 4 of 6 in the first epoch
            assert proc.poll() is None, "training exited before it could be killed"
            assert time.time() < deadline, "no checkpoint within 120 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    done = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*") if p.name[11:].isdigit())
    assert done and max(done) < ARGS["max_steps"], f"killed too late to prove anything: {done}"
    resumed = Trainer(CFG, data, output_dir=out, **ARGS)
    resumed.fit()
    assert resumed.global_step == ARGS["max_steps"]
    _assert_same(resumed.encoder.state_dict(), reference)


def test_failed_checkpoint_write_keeps_previous_checkpoint(data, reference, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_save = trainer_mod.torch.save
    calls = {"n": 0}

    def failing_save(obj, f, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:  # the third checkpoint: disk full half-way through writing it
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(trainer_mod.torch, "save", failing_save)
    with pytest.raises(OSError, match="No space left"):
        Trainer(CFG, data, output_dir=out, **ARGS).fit()
    monkeypatch.setattr(trainer_mod.torch, "save", real_save)
    kept = Trainer(CFG, data, output_dir=out, **ARGS).checkpoints()
    assert [p.name for p in kept] == ["checkpoint-2", "checkpoint-4"]
    # the newest complete checkpoint loads, strictly, as a plain encoder too
    enc = SLiMEncoder.from_pretrained(kept[-1])
    assert enc.config == CFG
    state = torch.load(kept[-1] / "training_state.pt", weights_only=True)
    assert "optimizer" in state
    # and resuming from it still reproduces the uninterrupted run
    resumed = Trainer(CFG, data, output_dir=out, **ARGS)
    resumed.fit()
    _assert_same(resumed.encoder.state_dict(), reference)
