"""Motion capture readers (BVH, Acclaim ASF/AMC): kept for one release; import from slimkit.data
(or slimkit.data.mocap), where they now live."""

import warnings

from .data.mocap import (
    detect_reader,
    layout_from_hierarchy,
    read_amc,
    read_amc_file,
    read_bvh,
    read_bvh_file,
)

__all__ = ["read_bvh", "read_amc", "read_bvh_file", "read_amc_file", "detect_reader", "layout_from_hierarchy"]

warnings.warn(
    "slimkit.mocap is kept for one release; import from slimkit.data (or slimkit.data.mocap) instead",
    DeprecationWarning,
    stacklevel=2,
)
