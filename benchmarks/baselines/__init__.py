"""Baselines slimkit is measured against (yardsticks for benchmarks/, not library API)."""

from .mae import PRESETS, MAEConfig, MAEOutput, MAEPretrainer, mae_base, mae_small, mae_tiny

__all__ = ["MAEConfig", "MAEOutput", "MAEPretrainer", "PRESETS", "mae_base", "mae_small", "mae_tiny"]
