"""A restricted unpickler for pyskl / mmaction2 annotation files (Python's "Restricting Globals" recipe).

A pickle can name any importable callable and have it called while loading (``__reduce__``): unpickling an
untrusted file runs its code. pyskl annotation files hold only builtin containers and scalars plus numpy
arrays, dtypes and scalars, so `SafeUnpickler` admits exactly the globals those need and refuses every
other one before anything is called. ``trust_pickle=True`` (``--trust-pickle`` on the command line) uses the
plain `pickle` instead, for files you made yourself that hold other objects.
"""

from __future__ import annotations

import io
import pickle
import pickletools
from pathlib import Path
from typing import Any

__all__ = ["SafeUnpickler", "PickleRefused", "load_pickle", "ALLOWED_GLOBALS"]

_NUMPY_CORES = ("numpy.core", "numpy._core")  # numpy 1.x and 2.x module names of the same functions

# (module, name) pairs a pyskl file may reference. Each builds data only: containers, scalars, arrays.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {("builtins", n) for n in (
        "dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "str", "bytes",
        "bytearray", "bool", "slice", "range",
    )}
    | {("collections", "OrderedDict"), ("collections", "defaultdict")}
    # protocol 0-2 pickles spell bytes as _codecs.encode(str, "latin1"): a pure encoding, no side effect
    | {("_codecs", "encode")}
    | {("numpy", "ndarray"), ("numpy", "dtype")}
    | {(f"{core}.multiarray", n) for core in _NUMPY_CORES for n in ("_reconstruct", "scalar")}
    | {(f"{core}.numeric", "_frombuffer") for core in _NUMPY_CORES}  # protocol 5 out-of-band arrays
)  # fmt: skip


_SMALL = 64 << 20


class PickleRefused(pickle.UnpicklingError):
    """A pickle referenced a global outside `ALLOWED_GLOBALS`."""


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only `ALLOWED_GLOBALS` and numpy dtype classes (``numpy.dtypes.*``)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS or (module == "numpy.dtypes" and name.endswith("DType")):
            return super().find_class(module, name)
        raise PickleRefused(f"{module}.{name}")


def load_pickle(path: str | Path, trust: bool = False, what: str = "a pyskl annotation file") -> Any:
    """Unpickle a file, through `SafeUnpickler` unless ``trust`` is set.

    Args:
        path: The pickle file.
        trust: Use the unrestricted `pickle` (runs whatever the file says: only for files you trust).
        what: What the file should be, for the error message.

    Returns:
        The unpickled object.

    Raises:
        ValueError: The file references a global that is not allowed (the message names it and the opt-in),
            or it is empty, truncated or not a pickle; the message names the file.
    """
    p = Path(path)
    data = p.read_bytes()
    if not data:
        raise ValueError(f"{p}: the file is empty (expected {what})")
    try:
        # Walk the opcodes first (pure parsing, ~0.5 s per million opcodes): a truncated stream or a length
        # field larger than the file is refused here, before the C unpickler allocates what it declares.
        for _ in pickletools.genops(data):
            pass
    except Exception as e:
        raise ValueError(f"{p}: not a readable pickle ({type(e).__name__}: {e})") from None
    try:
        if trust:
            return pickle.loads(data)  # noqa: S301 - explicit opt-in by the caller
        return SafeUnpickler(io.BytesIO(data)).load()
    except PickleRefused as e:
        raise ValueError(
            f"{p}: refused to unpickle: the file references {e}, which {what} does not hold (only builtin "
            "containers and numpy arrays/dtypes are allowed, because unpickling can run code). If you "
            "trust this file, pass trust_pickle=True (slimkit.data.load / read_pyskl) or --trust-pickle "
            "(command line)"
        ) from None
    except RecursionError:
        raise ValueError(f"{p}: not a readable pickle: nested too deeply") from None
    except MemoryError:
        if len(data) < _SMALL:  # a small file cannot hold what would exhaust memory: a damaged length field
            raise ValueError(
                f"{p}: not a readable pickle: it declares an object far larger than the file ({len(data)} bytes)"
            ) from None
        raise MemoryError(f"{p}: ran out of memory while unpickling") from None
    except Exception as e:  # truncated or garbage: UnpicklingError, EOFError, ValueError, ...
        raise ValueError(f"{p}: not a readable pickle ({type(e).__name__}: {e})") from None
