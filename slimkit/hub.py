"""Saving and loading encoders: local folders, the Hugging Face Hub, and models shipped with the package.

A saved encoder is a folder with ``config.json`` (the flat [`SLiMConfig`][slimkit.SLiMConfig]), ``model.safetensors``
and a model card ``README.md``. Loading is strict and pickle-free: weights come only from safetensors, every
tensor must match the config's shapes, and config keys are checked by name and type.

This module works on configs, state dicts and files only: it never builds or calls a model. The models
([`SLiMEncoder`][slimkit.model.SLiMEncoder], [`SLiMClassifier`][slimkit.classifier.SLiMClassifier]) import it,
build themselves from what [`load_config_and_state`][slimkit.hub.load_config_and_state] returns and hand their
config, state dict and card to [`save_folder`][slimkit.hub.save_folder].
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import urllib.parse
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelCard, ModelCardData, constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
)
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import registry
from ._integrity import apply_umask, check_finite_state
from ._utils import atomic_dir
from .config import SLiMConfig
from .layouts import get_layout

__all__ = ["list_pretrained", "load_pretrained", "load_config_and_state", "load_state_strict", "save_folder",
           "save_weights", "model_card", "read_encoder_config"]

logger = logging.getLogger("slimkit")

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PICKLE_NAMES = ("pytorch_model.bin", "model.bin", "model.pt", "model.pth", "checkpoint.pt")


def list_pretrained(filter: str | None = None, info: bool = False) -> list[Any]:
    """Encoders usable offline with ``from_pretrained``: shipped in the package, then in the Hub cache.

    The same as [`slimkit.list_pretrained`][slimkit.registry.list_pretrained] (see there).

    Args:
        filter: Wildcard pattern or substring of the name, layout or training data.
        info: Return [`ModelInfo`][slimkit.registry.ModelInfo] records instead of names.

    Returns:
        Names, or ``ModelInfo`` records with ``info=True``.
    """
    return registry.list_pretrained(filter, info)


def _packaged_folder(name: str) -> Path | None:
    org, _, rest = name.partition("/")
    if org != registry.PACKAGED_ORG or not rest:
        return None
    folder = registry.PACKAGED_DIR / rest
    return folder if (folder / WEIGHTS_NAME).is_file() else None


def _hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hub endpoint answers a TCP connection quickly (huggingface_hub itself retries for ~20 s)."""
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


def save_weights(state: dict[str, torch.Tensor] | torch.nn.Module, path: str | os.PathLike) -> None:
    """Write a state dict (or a module's) to a safetensors file (contiguous CPU copies, tied tensors kept once)."""
    if isinstance(state, torch.nn.Module):
        state = state.state_dict()
    state = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    save_file(state, str(path), metadata={"format": "pt", "library": "slimkit"})
    apply_umask(Path(path))  # safetensors writes 0600: give it the mode open() would (the umask's)


def save_folder(save_directory: str | os.PathLike, config: dict[str, Any], state: dict[str, torch.Tensor],
                card: ModelCard | None = None) -> Path:
    """Write ``config.json``, ``model.safetensors`` and the card ``README.md`` into a folder, atomically.

    The files are written into a temporary sibling folder that then replaces ``save_directory``
    (``slimkit._utils.atomic_dir``), so an interrupted save never leaves a half-written model. What
    else an existing folder holds is kept, its ``README.md`` included (a card written by hand is not
    overwritten).

    Args:
        save_directory: Target folder (created if needed).
        config: The config as a JSON-friendly dict.
        state: The state dict.
        card: The model card, written when the folder has no ``README.md`` yet.

    Returns:
        The folder.
    """
    target = Path(save_directory)
    with atomic_dir(target) as tmp:
        if target.is_dir():
            for item in target.iterdir():
                if item.name not in (CONFIG_NAME, WEIGHTS_NAME):
                    copy = shutil.copytree if item.is_dir() else shutil.copy2
                    copy(item, tmp / item.name)
        save_weights(state, tmp / WEIGHTS_NAME)
        with open(tmp / CONFIG_NAME, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)
        if card is not None and not (tmp / "README.md").exists():
            card.save(tmp / "README.md")
    return target


def _pooling_text(config: SLiMConfig) -> str:
    if config.pooling in ("time", "time_max"):
        text = f"tokens averaged within {config.time_bins} time bins, concatenated in time order"
        return text + (", then the maximum of each feature over all tokens" if config.pooling == "time_max" else "")
    return "mean over all tokens"


def _preset_name(config: SLiMConfig) -> str:
    for name in ("tiny", "small", "base"):
        p = getattr(SLiMConfig, name)()
        if (p.dim, p.depth, p.heads, p.num_frames, p.t_patch) == (
            config.dim, config.depth, config.heads, config.num_frames, config.t_patch
        ):
            return name
    return "custom"


def model_card(config: SLiMConfig, *, num_tokens: int | None = None, card_info: dict[str, Any] | None = None,
               **kwargs: Any) -> ModelCard:
    """A model card stating layout, frames, preset, tokens, training data and measured results.

    Args:
        config: The encoder's config.
        num_tokens: Tokens per person (``SLiMEncoder.num_tokens()``).
        card_info: Recorded fields (``SLiMEncoder.card_info``), overridden by ``kwargs``.
        **kwargs: Card fields: ``training_data`` (str), ``results`` (dict of metric -> value), ``protocol``
            (str), ``notes`` (str).

    Passing an encoder instead of its config still works for one release (a ``DeprecationWarning``): use
    ``encoder.generate_model_card(**fields)``.
    """
    if not isinstance(config, SLiMConfig):
        warnings.warn("model_card(encoder) is deprecated: call encoder.generate_model_card(**fields), or "
                      "model_card(config, num_tokens=..., card_info=...)", DeprecationWarning, stacklevel=2)
        encoder = config
        config, num_tokens = encoder.config, encoder.num_tokens()
        card_info = {**getattr(encoder, "card_info", {}), **(card_info or {})}
    info = {**(card_info or {}), **kwargs}
    c = config
    num_joints = get_layout(c.layout).num_joints
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
| layout | `{c.layout}` ({num_joints} joints) |
| input | {c.in_channels}-D coordinates, resampled to {c.num_frames} frames, up to {c.max_persons} person(s) |
| preset | {_preset_name(c)} (width {c.dim}, depth {c.depth}, heads {c.heads}) |
| tokens | {c.token_groups} groups, temporal patch {c.t_patch}: {num_tokens} tokens per person |
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
z = enc.embed(skeletons)   # (N, {c.embed_dim}) numpy, sequences (T, {num_joints}, {c.in_channels})
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


def read_encoder_config(cfg_path: str | os.PathLike) -> SLiMConfig:
    """The [`SLiMConfig`][slimkit.config.SLiMConfig] of an encoder folder's ``config.json``; a classifier's
    config is refused with a message that names ``SLiMClassifier.from_pretrained``."""
    try:
        d = json.loads(Path(cfg_path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        d = None  # SLiMConfig.from_json_file reports it
    if isinstance(d, dict) and d.get("model_type") == "slimkit-classifier":
        raise ValueError(
            f"{cfg_path}: this folder holds a SLiMClassifier (encoder + head); load it with "
            "slimkit.SLiMClassifier.from_pretrained, whose .encoder is the encoder"
        )
    return SLiMConfig.from_json_file(cfg_path)


def _suggest_names(name: str) -> str:
    return registry.suggest_names(name)


def _resolve(name_or_path: str | os.PathLike, *, revision: str | None = None,
             cache_dir: str | os.PathLike | None = None, force_download: bool = False,
             token: str | bool | None = None, local_files_only: bool = False) -> tuple[Path, Path]:
    """``(config.json, model.safetensors)`` of a local folder, a shipped model, or a Hub repo (cache first)."""
    name = os.fspath(name_or_path)
    folder = Path(name).expanduser()
    if folder.is_dir():
        return _resolve_folder_files(folder)
    if isinstance(name_or_path, Path) or _looks_like_path(name):
        raise FileNotFoundError(f"{name!r}: no such local folder (and not a Hub repo id of the form 'org/name')")
    if "/" not in name and _packaged_folder(f"{registry.PACKAGED_ORG}/{name}") is None:
        raise FileNotFoundError(
            f"{name!r}: not a local folder nor a model name (Hub ids look like 'org/name'); "
            + _suggest_names(name)
        )
    packaged = _packaged_folder(name if "/" in name else f"{registry.PACKAGED_ORG}/{name}")
    if packaged is not None and ("/" not in name or not _hub_reachable()):
        # a model shipped with slimkit, and no network: skip huggingface_hub's ~20 s of retries
        logger.info("using the copy of %s shipped with slimkit", name)
        return _resolve_folder_files(packaged)
    if not local_files_only and not _hub_reachable():
        # no network: look in the cache only, and fail at once (not after ~30 s of retries) when it is not there
        local_files_only = True
    try:
        common = dict(repo_id=name, revision=revision, cache_dir=cache_dir, force_download=force_download,
                      token=token, local_files_only=local_files_only)
        cfg_path = Path(hf_hub_download(filename=CONFIG_NAME, **common))
        try:
            return cfg_path, Path(hf_hub_download(filename=WEIGHTS_NAME, **common))
        except EntryNotFoundError:
            raise ValueError(
                f"{name!r}: the repo has no {WEIGHTS_NAME}; slimkit loads weights only from safetensors"
            ) from None
    except (LocalEntryNotFoundError, RepositoryNotFoundError, OfflineModeIsEnabled, HfHubHTTPError,
            OSError) as e:
        packaged = _packaged_folder(name)
        if packaged is None:
            if local_files_only:
                why = "not in the local Hub cache, and the Hub was not asked (offline or unreachable)"
            else:
                why = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            raise OSError(
                f"{name!r} is not a local folder, and the Hub repo could not be loaded ({why}); "
                + _suggest_names(name)
            ) from e
        logger.info("using the copy of %s shipped with slimkit (%s)", name, type(e).__name__)
        return _resolve_folder_files(packaged)


def load_config_and_state(
    name_or_path: str | os.PathLike,
    config_loader: Callable[[Path], Any] = read_encoder_config,
    *,
    map_location: str | torch.device = "cpu",
    **hub_options: Any,
) -> tuple[Any, dict[str, torch.Tensor], str]:
    """The config and the checked state dict of a saved model: what ``from_pretrained`` builds a model from.

    Args:
        name_or_path: A local folder, a shipped model's name, or a Hub repo id (``"org/name"``).
        config_loader: ``config.json`` path -> config (default
            [`read_encoder_config`][slimkit.hub.read_encoder_config]).
        map_location: Device to load the weights on.
        **hub_options: ``revision``, ``cache_dir``, ``force_download``, ``token``, ``local_files_only``, as in
            [`SLiMEncoder.from_pretrained`][slimkit.model.SLiMEncoder.from_pretrained].

    Returns:
        ``(config, state, source)``: ``source`` names the weights file, for messages of
        [`load_state_strict`][slimkit.hub.load_state_strict].
    """
    cfg_path, weights_path = _resolve(name_or_path, **hub_options)
    config = config_loader(cfg_path)
    try:
        state = load_file(str(weights_path), device=str(map_location))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{weights_path}: not a readable safetensors file ({e})") from None
    check_finite_state(state, str(weights_path))
    return config, state, str(weights_path)


def load_pretrained(cls: Callable[[Any], torch.nn.Module], name_or_path: str | os.PathLike, *,
                    config_loader: Callable[[Path], Any] = read_encoder_config, **kwargs: Any) -> torch.nn.Module:
    """``cls(config)`` with the saved weights loaded strictly, in eval mode (kept for one release; the models'
    ``from_pretrained`` build themselves from [`load_config_and_state`][slimkit.hub.load_config_and_state]).

    Args:
        cls: Builds the module from the config.
        name_or_path: As in ``load_config_and_state``.
        config_loader: As in ``load_config_and_state``.
        **kwargs: ``revision``, ``cache_dir``, ``force_download``, ``token``, ``local_files_only``,
            ``map_location``.
    """
    config, state, source = load_config_and_state(name_or_path, config_loader, **kwargs)
    model = cls(config)
    load_state_strict(model, state, source)
    return model.eval()
