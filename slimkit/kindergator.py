"""Kinder-Gator Kinect v1 CSV reader: kept for one release; import from slimkit.data (or
slimkit.data.kindergator), where it now lives."""

import warnings

from .data.kindergator import KINDER_GATOR_CLASSES, KINECT_V1_CSV_JOINTS, read_kinder_gator, read_kinect_v1_csv

__all__ = ["read_kinder_gator", "read_kinect_v1_csv", "KINDER_GATOR_CLASSES", "KINECT_V1_CSV_JOINTS"]

warnings.warn(
    "slimkit.kindergator is kept for one release; import from slimkit.data (or slimkit.data.kindergator) instead",
    DeprecationWarning,
    stacklevel=2,
)
