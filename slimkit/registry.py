"""Which pretrained encoders exist here: those shipped inside the package and those in the Hub cache.

The list is read from disk each time, not written in code: a folder ``slimkit/pretrained/<name>/`` holding
``config.json`` and ``model.safetensors`` *is* a shipped model named ``slimkit/<name>``, and a Hub repo in
the local cache whose ``config.json`` is a slimkit config is a cached one. Both load offline with
``SLiMEncoder.from_pretrained(name)``. The conventions follow timm's ``list_models(filter)`` and open_clip's
``list_pretrained()``.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import scan_cache_dir

# where the models shipped inside the package live (read at call time, so tests can move it)
PACKAGED_DIR = Path(__file__).parent / "pretrained"
PACKAGED_ORG = "slimkit"


__all__ = ["ModelInfo", "list_pretrained", "suggest_names"]

# keys every slimkit config.json has (and few other libraries' configs do)
_SLIM_KEYS = {"layout", "in_channels", "num_frames", "t_patch", "dim", "depth", "token_groups"}


@dataclass
class ModelInfo:
    """What a pretrained encoder reads and produces, and where it comes from.

    Attributes:
        name: The name ``SLiMEncoder.from_pretrained`` takes (``"slimkit/slim-kinect-tiny"``, a Hub repo id).
        source: ``"shipped"`` (inside the package) or ``"cache"`` (a Hub download in the local cache).
        layout: Joint layout of its input (``kinect20``, ``coco17``...).
        in_channels: 2 (x, y; also fed x, y, score) or 3 (x, y, z).
        num_frames: Frames each sequence is resampled to.
        dim: Embedding width.
        depth: Transformer blocks.
        training_data: What it was pretrained on, from its model card (``""`` when not recorded).
        results: Metric -> value rows of its model card.
        path: The folder holding ``config.json`` and ``model.safetensors``.
    """

    name: str
    source: str
    layout: str
    in_channels: int
    num_frames: int
    dim: int
    depth: int
    training_data: str = ""
    results: dict[str, str] = field(default_factory=dict)
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-friendly dict."""
        return asdict(self)


def _card(folder: Path) -> tuple[str, dict[str, str]]:
    """``training data`` and the results table of a model card README.md (both empty when absent)."""
    card = folder / "README.md"
    if not card.is_file():
        return "", {}
    text = card.read_text(encoding="utf-8", errors="replace")
    m = re.search(r"^\|\s*training data\s*\|\s*(.*?)\s*\|\s*$", text, flags=re.M)
    results: dict[str, str] = {}
    section = text.split("## Results", 1)[1] if "## Results" in text else ""
    section = section.split("\n## ", 1)[0]
    for row in re.findall(r"^\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*$", section, flags=re.M):
        if row[0] not in ("metric", "---", "(none recorded)") and not set(row[0]) <= {"-"}:
            results[row[0]] = row[1]
    return (m.group(1) if m else ""), results


def _info(name: str, source: str, folder: Path) -> ModelInfo | None:
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(cfg, dict) or not _SLIM_KEYS <= set(cfg) or not (folder / "model.safetensors").is_file():
        return None
    training, results = _card(folder)
    return ModelInfo(
        name=name,
        source=source,
        layout=str(cfg["layout"]),
        in_channels=int(cfg["in_channels"]),
        num_frames=int(cfg["num_frames"]),
        dim=int(cfg["dim"]),
        depth=int(cfg["depth"]),
        training_data=training,
        results=results,
        path=str(folder),
    )


def _shipped() -> list[ModelInfo]:
    root = Path(PACKAGED_DIR)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir():
            info = _info(f"{PACKAGED_ORG}/{folder.name}", "shipped", folder)
            if info is not None:
                out.append(info)
    return out


def _cached(cache_dir: str | os.PathLike | None = None) -> list[ModelInfo]:
    """slimkit encoders in the Hub cache (newest snapshot of each repo that has one)."""
    try:
        report = scan_cache_dir(cache_dir)
    except Exception:  # no cache folder yet, or an unreadable one: nothing cached
        return []
    out = []
    for repo in sorted(report.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for rev in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True):
            info = _info(repo.repo_id, "cache", Path(rev.snapshot_path))
            if info is not None:
                out.append(info)
                break
    return out


def list_pretrained(
    filter: str | None = None, info: bool = False, cache_dir: str | os.PathLike | None = None
) -> list[str] | list[ModelInfo]:
    """Names (or descriptions) of the pretrained encoders available offline: shipped, then cached.

    Args:
        filter: A wildcard pattern (``"*ucla*"``, ``"slimkit/*"``) or, without wildcards, a substring;
            matched case-insensitively against the name, the layout and the training data.
        info: Return [`ModelInfo`][slimkit.registry.ModelInfo] records instead of names.
        cache_dir: Hub cache to scan; default the Hub's (``HF_HOME``, ``HF_HUB_CACHE``).

    Returns:
        Names sorted shipped first, or their ``ModelInfo`` with ``info=True``. A shipped model that is also
        cached is listed once, as shipped.
    """
    models = _shipped()
    seen = {m.name for m in models}
    models += [m for m in _cached(cache_dir) if m.name not in seen]
    if filter:
        pat = filter.lower() if any(ch in filter for ch in "*?[") else f"*{filter.lower()}*"
        models = [
            m for m in models
            if any(fnmatch.fnmatchcase(s.lower(), pat) for s in (m.name, m.layout, m.training_data))
        ]
    return models if info else [m.name for m in models]


def suggest_names(name: str, known: list[str] | None = None) -> str:
    """A sentence listing the known model names and the ones close to ``name`` (for error messages).

    Args:
        name: The name that was not found.
        known: Known names; default [`list_pretrained`][slimkit.registry.list_pretrained]``()``.

    Returns:
        E.g. ``"known models: ['slimkit/slim-kinect-tiny']; did you mean 'slimkit/slim-kinect-tiny'?"``.
    """
    known = list_pretrained() if known is None else known
    short = {k.split("/", 1)[-1]: k for k in known}
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    close += [short[c] for c in difflib.get_close_matches(name.split("/", 1)[-1], list(short), n=3, cutoff=0.5)]
    close = list(dict.fromkeys(close))
    text = f"known models: {known or 'none (no model ships with this install and none is cached)'}"
    if close:
        text += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return text + " (see 'slimkit models')"
