"""Hub saving and loading shared by [`SLiMEncoder`][slimkit.model.SLiMEncoder] and
[`SLiMClassifier`][slimkit.classifier.SLiMClassifier], on top of [`slimkit.hub`][slimkit.hub] (which sees only
configs, state dicts and files).

A model class using it has a ``config`` with ``to_dict()``, builds itself from that config, names how its
``config.json`` is read (``_read_config``) and writes its own card (``generate_model_card``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin

from . import hub

__all__ = ["HubMixin"]


class HubMixin(PyTorchModelHubMixin):
    """``save_pretrained`` / ``from_pretrained`` of slimkit models: safetensors only, strict, atomic."""

    _read_config: ClassVar[Any] = staticmethod(hub.read_encoder_config)

    def generate_model_card(self, **kwargs: Any) -> ModelCard:  # pragma: no cover - each model writes its own
        raise NotImplementedError

    def _save_pretrained(self, save_directory: Path) -> None:
        """huggingface_hub's hook: the weights file only (``save_pretrained`` writes the whole folder)."""
        hub.save_weights(self.state_dict(), Path(save_directory) / hub.WEIGHTS_NAME)

    def save_pretrained(self, save_directory: str | os.PathLike, *, config: Any = None, repo_id: str | None = None,
                        push_to_hub: bool = False, model_card_kwargs: dict | None = None,
                        **push_kwargs: Any) -> None:
        """Write ``config.json``, ``model.safetensors`` and a model card ``README.md`` into a folder.

        The files are written to a temporary folder first and moved into place, so an interrupted save never
        leaves a half-written model behind. An existing ``README.md`` in the folder is kept.

        Args:
            save_directory: Target folder (created if needed).
            config: Not used: the model writes its own config (huggingface_hub's ``push_to_hub`` passes one).
            repo_id: Hub repo to push to (default: the folder's name), with ``push_to_hub``.
            push_to_hub: Also upload the folder to the Hub.
            model_card_kwargs: Extra card fields, e.g. ``{"training_data": "...", "results": {...}}``.
            **push_kwargs: Passed to ``push_to_hub`` (``token``, ``private``, ``commit_message``...).
        """
        hub.save_folder(save_directory, self.config.to_dict(), self.state_dict(),
                        self.generate_model_card(**(model_card_kwargs or {})))
        if push_to_hub:
            self.push_to_hub(repo_id or Path(save_directory).name, model_card_kwargs=model_card_kwargs,
                             **push_kwargs)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        force_download: bool = False,
        token: str | bool | None = None,
        local_files_only: bool = False,
        map_location: str | torch.device = "cpu",
        **kwargs: Any,
    ) -> Any:
        """Load a model from a local folder, the Hub cache or the Hub.

        Weights load only from ``model.safetensors`` and strictly: a missing, unexpected or mis-shaped tensor
        is an error naming it. A name in ``slimkit.list_pretrained()`` (e.g. ``"slimkit/slim-kinect-tiny"``)
        falls back to the copy shipped inside the package when the Hub cannot be reached.

        Args:
            pretrained_model_name_or_path: Hub repo id (``"org/name"``) or a local folder.
            revision: Branch, tag or commit of the Hub repo.
            cache_dir: Hub cache folder.
            force_download: Download again even if cached.
            token: Hub token.
            local_files_only: Only look in the local cache.
            map_location: Device to load the weights on.
            **kwargs: Not used; an unknown argument is an error.

        Returns:
            The model, in eval mode.
        """
        if kwargs:
            raise TypeError(f"from_pretrained got unexpected arguments {sorted(kwargs)}")
        config, state, source = hub.load_config_and_state(
            pretrained_model_name_or_path, cls._read_config, revision=revision, cache_dir=cache_dir,
            force_download=force_download, token=token, local_files_only=local_files_only,
            map_location=map_location,
        )
        model = cls(config)
        hub.load_state_strict(model, state, source)
        return model.eval()
