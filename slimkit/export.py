"""Export the encoder for deployment: ONNX (onnxruntime) or ``torch.export`` (``.pt2``).

The exported graph is what ``SLiMEncoder.embed`` computes *after* preprocessing: prepared skeletons
``x (N, M, T, V, C)`` float32 (``M = max_persons``, ``T = num_frames``, ``NaN`` = missing joint or absent
person) -> embeddings ``(N, D)`` float32, L2-normalised unless exported with ``normalize=False``. The batch
size ``N`` is dynamic. The graph calls the encoder's own ``encode`` (tokens, Transformer, the encoder's
pooling), so it follows whatever pooling the model's config selects.

Preprocessing (missing-joint detection, dropping empty frames and persons, centring, view alignment, scale,
resampling to ``num_frames``) stays in numpy, outside the graph: [`prepare`][slimkit.export.prepare] runs exactly the
steps ``embed`` runs and returns a numpy array for the exported model. The encoder's config is stored inside the
exported file (ONNX ``metadata_props`` / a ``.pt2`` extra file, key ``slimkit_config``), and
[`load_config`][slimkit.export.load_config] reads it back, so a deployment needs only the exported file and slimkit's
numpy preprocessing (slimkit is installed there; its torch dependency is not used at inference with ONNX).

```python
enc.export("encoder.onnx")
import onnxruntime as ort
from slimkit.export import load_config, prepare
cfg = load_config("encoder.onnx")
sess = ort.InferenceSession("encoder.onnx")
z = sess.run(None, {"x": prepare(sequences, cfg)})[0]      # (N, D), as enc.embed(sequences)
```

ONNX export needs ``pip install 'slimkit[onnx]'`` (onnx, onnxscript; onnxruntime to run it).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._utils import atomic_path
from .config import SLiMConfig
from .layouts import get_layout
from .preprocessing import SequenceSource, prepare_sequence

if TYPE_CHECKING:  # pragma: no cover
    from .model import SLiMEncoder

__all__ = ["EmbeddingModule", "export", "prepare", "load_config", "OnnxEncoder", "CONFIG_KEY"]

CONFIG_KEY = "slimkit_config"
_ONNX_HINT = "ONNX export needs onnx and onnxscript: pip install 'slimkit[onnx]'"


class EmbeddingModule(nn.Module):
    """``embed()`` on prepared tensors, as a plain module: ``(N, M, T, V, C)`` -> ``(N, D)``.

    Args:
        encoder: The [`SLiMEncoder`][slimkit.model.SLiMEncoder] (shared, not copied).
        normalize: L2-normalise the embeddings, as ``embed(normalize=True)``.
    """

    def __init__(self, encoder: SLiMEncoder, normalize: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        self.normalize = bool(normalize)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed prepared skeletons.

        Args:
            x: ``(N, M, T, V, C)`` float32 from [`prepare`][slimkit.export.prepare].

        Returns:
            ``(N, D)`` float32 embeddings.
        """
        z = self.encoder.encode(x).float()
        return F.normalize(z, dim=-1) if self.normalize else z


def _example(encoder: SLiMEncoder, batch: int = 2) -> torch.Tensor:
    c = encoder.config
    g = torch.Generator().manual_seed(0)
    return torch.randn(batch, c.max_persons, c.num_frames, encoder.layout.num_joints, c.in_channels, generator=g)


def export(
    encoder: SLiMEncoder,
    path: str | os.PathLike,
    *,
    normalize: bool = True,
    opset_version: int | None = None,
) -> Path:
    """Export ``embed`` on prepared tensors to ``path`` (``.onnx`` or ``.pt2``), batch size dynamic.

    The file is written to a temporary name beside ``path`` and moved into place. The input is named ``x``
    (``(N, max_persons, num_frames, V, C)`` float32), the output ``embedding`` (``(N, D)`` float32).

    Args:
        encoder: The encoder to export (exported in eval mode, on the CPU, in fp32; left as it was).
        path: ``*.onnx`` (``torch.onnx.export`` with the dynamo exporter; needs onnx + onnxscript) or
            ``*.pt2`` (``torch.export.export`` + ``torch.export.save``; load with ``torch.export.load``).
        normalize: Export L2-normalised embeddings (as ``embed()``'s default).
        opset_version: ONNX opset (default: the exporter's).

    Returns:
        The path written.

    Raises:
        ValueError: ``path`` does not end in ``.onnx`` or ``.pt2``.
        ImportError: ONNX export without onnx / onnxscript installed.
    """
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in (".onnx", ".pt2"):
        raise ValueError(f"path: expected a file name ending in .onnx or .pt2, got {str(path)!r}")
    if kind == ".onnx":
        try:
            import onnx  # noqa: F401
            import onnxscript  # noqa: F401
        except ImportError as e:
            raise ImportError(f"{_ONNX_HINT} ({e})") from None
    params = list(encoder.parameters())
    device = params[0].device if params else torch.device("cpu")
    dtype = params[0].dtype if params else torch.float32
    was_training = encoder.training
    encoder.to("cpu", torch.float32).eval()
    module = EmbeddingModule(encoder, normalize).eval()
    x = _example(encoder)
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    config_json = json.dumps(encoder.config.to_dict(), sort_keys=True)
    try:
        with atomic_path(path, suffix=kind) as tmp, torch.no_grad():
            if kind == ".pt2":
                ep = torch.export.export(module, (x,), dynamic_shapes={"x": {0: batch}}, strict=False)
                torch.export.save(ep, tmp, extra_files={f"{CONFIG_KEY}.json": config_json})
            else:
                _export_onnx(module, x, batch, tmp, config_json, opset_version)
    finally:
        encoder.to(device, dtype)
        encoder.train(was_training)
    return path


def _export_onnx(module: nn.Module, x: torch.Tensor, batch: Any, tmp: Path, config_json: str,
                 opset_version: int | None) -> None:
    import onnx

    extra = {} if opset_version is None else {"opset_version": opset_version}
    program = torch.onnx.export(
        module, (x,), dynamo=True, input_names=["x"], output_names=["embedding"],
        dynamic_shapes={"x": {0: batch}}, verbose=False, **extra,
    )
    program.save(str(tmp))
    model = onnx.load(str(tmp))
    entry = model.metadata_props.add()
    entry.key, entry.value = CONFIG_KEY, config_json
    onnx.save(model, str(tmp))


def load_config(path: str | os.PathLike) -> SLiMConfig:
    """The [`SLiMConfig`][slimkit.config.SLiMConfig] stored in an exported ``.onnx`` or ``.pt2`` file.

    Args:
        path: A file written by [`export`][slimkit.export.export].

    Returns:
        The encoder's config (layout, frames, persons, preprocessing switches) for [`prepare`][slimkit.export.prepare].

    Raises:
        ValueError: The file holds no slimkit config (not written by [`export`][slimkit.export.export]).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: {path}: no such file")
    text = None
    if path.suffix.lower() == ".pt2":
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.endswith(f"extra/{CONFIG_KEY}.json"):
                    text = z.read(name).decode("utf-8")
    else:
        try:
            import onnx
        except ImportError as e:
            raise ImportError(f"reading an ONNX file's config needs onnx: pip install 'slimkit[onnx]' ({e})") from None
        model = onnx.load(str(path), load_external_data=False)
        text = next((p.value for p in model.metadata_props if p.key == CONFIG_KEY), None)
    if text is None:
        raise ValueError(f"path: {path} holds no {CONFIG_KEY!r}; export it with SLiMEncoder.export")
    return SLiMConfig.from_dict(json.loads(text))


def prepare(skeletons: Any, config: SLiMConfig, input_format: str = "auto") -> np.ndarray:
    """Numpy preprocessing for an exported encoder: exactly the steps ``embed`` runs before the model.

    Args:
        skeletons: Anything ``SLiMEncoder.embed`` accepts (one sequence, a batch, a list, a dataset).
        config: The encoder's config (``encoder.config`` or [`load_config`][slimkit.export.load_config] of the exported
            file).
        input_format: Axis order of array input (see ``SLiMEncoder.embed``).

    Returns:
        ``(N, max_persons, num_frames, V, C)`` float32, ``NaN`` for missing joints and absent persons.
    """
    layout = get_layout(config.layout)
    src = SequenceSource(skeletons, input_format, layout.num_joints, config.in_channels)
    seqs = src.batch(0, len(src))
    return np.stack([prepare_sequence(s, config, layout, f"skeletons[{i}]") for i, s in enumerate(seqs)])


class OnnxEncoder:
    """An exported ONNX encoder run by onnxruntime, with slimkit's numpy preprocessing: ``embed`` without torch
    in the loop.

    Args:
        path: ``.onnx`` file written by [`export`][slimkit.export.export].
        providers: onnxruntime execution providers (default: CPU).
        intra_op_num_threads: onnxruntime threads (default: onnxruntime's).
    """

    def __init__(self, path: str | os.PathLike, providers: list[str] | None = None,
                 intra_op_num_threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise ImportError(f"OnnxEncoder needs onnxruntime: pip install 'slimkit[onnx]' ({e})") from None
        self.config = load_config(path)
        opts = ort.SessionOptions()
        if intra_op_num_threads is not None:
            opts.intra_op_num_threads = int(intra_op_num_threads)
        self.session = ort.InferenceSession(str(path), opts, providers=providers or ["CPUExecutionProvider"])

    def embed(self, skeletons: Any, batch_size: int = 64, input_format: str = "auto") -> np.ndarray:
        """Embed skeletons like ``SLiMEncoder.embed`` (with the ``normalize`` chosen at export).

        Args:
            skeletons: Anything ``SLiMEncoder.embed`` accepts.
            batch_size: Sequences per onnxruntime call.
            input_format: Axis order of array input.

        Returns:
            ``(N, D)`` float32 embeddings.
        """
        x = prepare(skeletons, self.config, input_format)
        outs = [self.session.run(None, {"x": x[s : s + batch_size]})[0] for s in range(0, len(x), batch_size)]
        return np.concatenate(outs).astype(np.float32, copy=False)
