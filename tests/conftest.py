"""Test setup: no network, a private Hub cache, small deterministic data."""

import os
import tempfile

# Must happen before anything imports huggingface_hub (it reads these once, at import).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="slimkit-hf-"))
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

# One thread: the tests' tensors are small, and on a busy machine two OpenMP threads mostly wait on each other.
torch.set_num_threads(1)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_addoption(parser):
    parser.addoption("--fuzz-long", action="store_true", help="run the long fuzzing budget (20,000 examples)")


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture
def shared_data() -> Path:
    """Root of ../shared/data; tests that need it skip with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (the shared/ folder beside the checkout)")
    return SHARED_DATA


def random_walk(rng: np.random.Generator, t: int, v: int, c: int = 3, m: int | None = None) -> np.ndarray:
    """A smooth random skeleton sequence (T, V, C) or (M, T, V, C), float32, no zeros."""
    shape = (t, v, c) if m is None else (m, t, v, c)
    base = rng.normal(size=shape[:-3] + (1, v, c))
    steps = rng.normal(scale=0.05, size=shape).cumsum(axis=-3)
    return (base + steps + 0.01).astype(np.float32)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
