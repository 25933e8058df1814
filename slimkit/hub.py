"""Saving and loading encoders: local folders, the Hugging Face Hub, and models shipped with the package.

A saved encoder is a folder with ``config.json`` (the flat [`SLiMConfig`][slimkit.SLiMConfig]), ``model.safetensors``
and a model card ``README.md``. Loading is strict and pickle-free: weights come only from safetensors, every
tensor must match the config's shapes, and config keys are checked by name and type.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from huggingface_hub import ModelCard, ModelCardData, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
)
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ._integrity import apply_umask, check_finite_state
from .config import SLiMConfig

if TYPE_CHECKING:
    from .model import SLiMEncoder

__all__ = ["list_pretrained", "load_pretrained", "save_weights", "model_card"]

logger = logging.getLogger("slimkit")

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PICKLE_NAMES = ("pytorch_model.bin", "model.bin", "model.pt", "model.pth", "checkpoint.pt")
PACKAGED_DIR = Path(__file__).parent / "pretrained"
PACKAGED_ORG = "slimkit"


def list_pretrained(filter: str | None = None, info: bool = False) -> list[Any]:
    """Encoders usable offline with ``from_pretrained``: shipped in the package, then in the Hub cache.

    The same as [`slimkit.list_pretrained`][slimkit.registry.list_pretrained] (see there).

    Args:
        filter: Wildcard pattern or substring of the name, layout or training data.
        info: Return [`ModelInfo`][slimkit.registry.ModelInfo] records instead of names.

    Returns:
        Names, or ``ModelInfo`` records with ``info=True``.
    """
    from .registry import list_pretrained as _list

    return _list(filter, info)


def _packaged_folder(name: str) -> Path | None:
    org, _, rest = name.partition("/")
    if org != PACKAGED_ORG or not rest:
        return None
    folder = PACKAGED_DIR / rest
    return folder if (folder / WEIGHTS_NAME).is_file() else None


def _hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hub endpoint answers a TCP connection quickly (huggingface_hub itself retries for ~20 s)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urllib.parse.urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith((".", "/", "~", "\\"))
        or name.count("/") > 1
        or os.sep != "/" and os.sep in name
        or (len(name) > 1 and name[1] == ":")
    )


def save_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Write a module's state dict to a safetensors file (contiguous CPU copies, tied tensors kept once)."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"format": "pt", "library": "slimkit"})
    apply_umask(Path(path))  # safetensors writes 0600: give it the mode open() would (the umask's)


def atomic_save_pretrained(model: SLiMEncoder, save_directory: str | os.PathLike, *, config: Any = None,
                           model_card_kwargs: dict | None = None, repo_id: str | None = None,
                           push_to_hub: bool = False, **push_kwargs: Any) -> None:
    """Save into a temporary sibling folder, then move the files into ``save_directory``."""
    target = Path(save_directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        apply_umask(tmp)  # mkdtemp made it 0700, and it becomes the model folder itself
        with open(tmp / CONFIG_NAME, "w", encoding="utf-8") as f:
            json.dump(model.config.to_dict(), f, indent=2, sort_keys=True)
        model._save_pretrained(tmp)
        card_path = target / "README.md"
        if not card_path.exists():
            model.generate_model_card(**(model_card_kwargs or {})).save(tmp / "README.md")
        if not target.exists():
            os.replace(tmp, target)
        else:
            # weights first, config last: an interruption in between leaves a pair that fails loudly on load
            for name in (WEIGHTS_NAME, "README.md", CONFIG_NAME):
                if (tmp / name).exists():
                    os.replace(tmp / name, target / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if push_to_hub:
        model.push_to_hub(repo_id or target.name, model_card_kwargs=model_card_kwargs, **push_kwargs)


def _pooling_text(config: SLiMConfig) -> str:
    if config.pooling == "time":
        return f"tokens averaged within {config.time_bins} time bins, concatenated in time order"
    return "mean over all tokens"


def _preset_name(config: SLiMConfig) -> str:
    for name in ("tiny", "small", "base"):
        p = getattr(SLiMConfig, name)()
        if (p.dim, p.depth, p.heads, p.num_frames, p.t_patch) == (
            config.dim, config.depth, config.heads, config.num_frames, config.t_patch
        ):
            return name
    return "custom"


def model_card(model: SLiMEncoder, **kwargs: Any) -> ModelCard:
    """A model card stating layout, frames, preset, tokens, training data and measured results.

    Keyword fields (``model_card_kwargs``, falling back to ``model.card_info``): ``training_data`` (str),
    ``results`` (dict of metric -> value), ``protocol`` (str), ``notes`` (str).
    """
    info = {**getattr(model, "card_info", {}), **kwargs}
    c = model.config
    data = ModelCardData(
        library_name="slimkit",
        license="apache-2.0",
        tags=sorted({"skeleton", "action-recognition", "self-supervised", "slim", "slimkit", c.layout}),
    )
    results = info.get("results") or {}
    rows = "\n".join(f"| {k} | {v} |" for k, v in results.items()) or "| (none recorded) | |"
    body = f"""---
{data.to_yaml()}
---

# SLiM skeleton encoder ({_preset_name(c)}, {c.layout})

A skeleton action encoder trained with [slimkit](https://pypi.org/project/slimkit/) (SLiM: decoder-free masked
feature modeling + global-local contrastive learning, [arXiv 2603.10648](https://arxiv.org/abs/2603.10648)).

| field | value |
|---|---|
| layout | `{c.layout}` ({model.layout.num_joints} joints) |
| input | {c.in_channels}-D coordinates, resampled to {c.num_frames} frames, up to {c.max_persons} person(s) |
| preset | {_preset_name(c)} (width {c.dim}, depth {c.depth}, heads {c.heads}) |
| tokens | {c.token_groups} groups, temporal patch {c.t_patch}: {model.num_tokens()} tokens per person |
| embedding | {c.embed_dim}-D, {_pooling_text(c)}, averaged over present persons, L2-normalised by `embed()` |
| training data | {info.get("training_data", "not recorded")} |

## Results

{info.get("protocol", "")}

| metric | value |
|---|---|
{rows}

{info.get("notes", "")}

## Use

```python
from slimkit import SLiMEncoder
enc = SLiMEncoder.from_pretrained("<this repo or folder>")
z = enc.embed(skeletons)   # (N, {c.embed_dim}) numpy, sequences (T, {model.layout.num_joints}, {c.in_channels})
```
"""
    return ModelCard(body)


def _resolve_folder_files(folder: Path) -> tuple[Path, Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    cfg, weights = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if not weights.is_file():
        pickles = [n for n in PICKLE_NAMES if (folder / n).exists()]
        if pickles:
            raise ValueError(
                f"{folder}: found only pickle weights {pickles}; slimkit loads weights only from "
                f"{WEIGHTS_NAME} (pickles can run code). Convert them with safetensors.torch.save_file."
            )
        raise FileNotFoundError(f"{folder}: no {WEIGHTS_NAME}")
    if not cfg.is_file():
        raise FileNotFoundError(f"{folder}: no {CONFIG_NAME}")
    return cfg, weights


def load_state_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """``load_state_dict(strict=True)`` with errors that name each missing, unexpected or mis-shaped tensor."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad = [f"{k}: expected {tuple(own[k].shape)}, got {tuple(state[k].shape)}"
           for k in own if k in state and own[k].shape != state[k].shape]
    problems = []
    if missing:
        problems.append(f"missing tensors {missing}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected}")
    if bad:
        problems.append("shape mismatch " + "; ".join(bad))
    if problems:
        raise ValueError(f"{source}: weights do not match the config: " + " | ".join(problems))
    model.load_state_dict(state, strict=True)


def _refuse_classifier(cfg_path: Path) -> None:
    """A classifier folder given to ``SLiMEncoder.from_pretrained``: say so instead of listing unknown keys."""
    try:
        d = json.loads(Path(cfg_path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return  # SLiMConfig.from_json_file reports it
    if isinstance(d, dict) and d.get("model_type") == "slimkit-classifier":
        raise ValueError(
            f"{cfg_path}: this folder holds a SLiMClassifier (encoder + head); load it with "
            "slimkit.SLiMClassifier.from_pretrained, whose .encoder is the encoder"
        )


def load_pretrained(cls: type[SLiMEncoder], name_or_path: str | os.PathLike, *, revision: str | None = None,
                    cache_dir: str | os.PathLike | None = None, force_download: bool = False,
                    token: str | bool | None = None, local_files_only: bool = False,
                    map_location: str | torch.device = "cpu",
                    config_loader: Any = None) -> SLiMEncoder:
    """Implementation of ``SLiMEncoder.from_pretrained`` (see there).

    ``config_loader`` (path -> config) builds the config that ``cls`` takes; default
    ``SLiMConfig.from_json_file``. ``SLiMClassifier`` passes its own.
    """
    name = os.fspath(name_or_path)
    folder = Path(name).expanduser()
    if folder.is_dir():
        cfg_path, weights_path = _resolve_folder_files(folder)
    elif isinstance(name_or_path, Path) or _looks_like_path(name):
        raise FileNotFoundError(f"{name!r}: no such local folder (and not a Hub repo id of the form 'org/name')")
    elif "/" not in name and _packaged_folder(f"{PACKAGED_ORG}/{name}") is None:
        from .registry import suggest_names

        raise FileNotFoundError(
            f"{name!r}: not a local folder nor a model name (Hub ids look like 'org/name'); "
            + suggest_names(name)
        )
    elif (packaged := _packaged_folder(name if "/" in name else f"{PACKAGED_ORG}/{name}")) is not None and (
        "/" not in name or not _hub_reachable()
    ):
        # a model shipped with slimkit, and no network: skip huggingface_hub's ~20 s of retries
        logger.info("using the copy of %s shipped with slimkit", name)
        cfg_path, weights_path = _resolve_folder_files(packaged)
    else:
        if not local_files_only and not _hub_reachable():
            # no network: look in the cache only, and fail at once (not after ~30 s of retries) when it is not there
            local_files_only = True
        try:
            common = dict(repo_id=name, revision=revision, cache_dir=cache_dir, force_download=force_download,
                          token=token, local_files_only=local_files_only)
            cfg_path = Path(hf_hub_download(filename=CONFIG_NAME, **common))
            try:
                weights_path = Path(hf_hub_download(filename=WEIGHTS_NAME, **common))
            except EntryNotFoundError:
                raise ValueError(
                    f"{name!r}: the repo has no {WEIGHTS_NAME}; slimkit loads weights only from safetensors"
                ) from None
        except (LocalEntryNotFoundError, RepositoryNotFoundError, OfflineModeIsEnabled, HfHubHTTPError,
                OSError) as e:
            packaged = _packaged_folder(name)
            if packaged is None:
                from .registry import suggest_names

                if local_files_only:
                    why = "not in the local Hub cache, and the Hub was not asked (offline or unreachable)"
                else:
                    why = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                raise OSError(
                    f"{name!r} is not a local folder, and the Hub repo could not be loaded ({why}); "
                    + suggest_names(name)
                ) from e
            logger.info("using the copy of %s shipped with slimkit (%s)", name, type(e).__name__)
            cfg_path, weights_path = _resolve_folder_files(packaged)
    if config_loader is None:
        _refuse_classifier(cfg_path)
    config = (config_loader or SLiMConfig.from_json_file)(cfg_path)
    model = cls(config)
    try:
        state = load_file(str(weights_path), device=str(map_location))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{weights_path}: not a readable safetensors file ({e})") from None
    check_finite_state(state, str(weights_path))
    load_state_strict(model, state, str(weights_path))
    model.eval()
    return model
