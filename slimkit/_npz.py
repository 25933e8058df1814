"""Checked access to the arrays of an ``.npz``: memory-mapped when stored, with sizes and CRC verified.

``np.load(..., mmap_mode="r")`` does not memory-map ``.npz`` members, so slimkit maps a stored
(``np.savez``) member itself. Doing so skips what ``zipfile`` would check, so this module checks it:
the ``.npy`` header's shape and dtype must account for exactly the entry's size, and the entry's CRC-32 is
verified by streaming it once (constant memory). Compressed members (``np.savez_compressed``) are read by
``np.load`` (which checks the CRC) after their declared size and compression ratio are checked, so a small
file cannot claim gigabytes.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

__all__ = ["npz_member", "npz_keys"]

# A compressed member that inflates by more than this (and to more than MAX_INFLATED_BYTES) is refused:
# skeleton data compresses a few-fold; deflate's ceiling (~1032:1) is reached only by near-constant data.
MAX_RATIO = 200
MAX_INFLATED_BYTES = 64 << 20
_CHUNK = 1 << 24


def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable .npz (zip) file: {e}") from None


def npz_keys(path: Path) -> set[str]:
    """Names of the ``.npy`` arrays in an ``.npz`` (without the suffix)."""
    with _open(path) as zf:
        return {n[:-4] for n in zf.namelist() if n.endswith(".npy")}


def _read_header(fh, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(fh)
        return np.lib.format.read_array_header_2_0(fh)
    except (ValueError, EOFError, SyntaxError, TypeError, OverflowError) as e:
        raise ValueError(f"{where}: not a valid .npy header ({e})") from None


def _verify_crc(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> None:
    try:
        with zf.open(info) as f:
            while f.read(_CHUNK):
                pass  # zipfile compares the CRC-32 at the end of the entry
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise ValueError(f"{where}: corrupted ({e}); the file is truncated or damaged") from None


def npz_member(path: Path, key: str, mmap: bool = True) -> np.ndarray:
    """Array ``key`` of an ``.npz``: memory-mapped when stored uncompressed and ``mmap``, else read.

    Raises:
        ValueError: No such array, a header whose shape does not match the entry's size, a failed CRC, a
            compressed entry that would inflate beyond the limits, or an object array; the message names the
            file and the array.
    """
    where = f"{path}: {key}"
    with _open(path) as zf:
        try:
            info = zf.getinfo(key + ".npy")
        except KeyError:
            raise ValueError(f"{path}: no array {key!r}") from None
        try:
            with zf.open(info) as f:
                shape, fortran, dtype = _read_header(f, where)
                header_len = f.tell()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as e:
            raise ValueError(f"{where}: cannot be read ({e})") from None
        if dtype.hasobject:
            raise ValueError(f"{where}: object arrays are refused (they are pickles)")
        if any(d < 0 for d in shape):
            raise ValueError(f"{where}: negative dimension in the declared shape {shape}")
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if header_len + nbytes != info.file_size:
            raise ValueError(
                f"{where}: the header declares shape {shape} of {dtype} ({nbytes} bytes), but the entry holds "
                f"{info.file_size - header_len} bytes of data; the file is truncated or damaged"
            )
        stored = info.compress_type == zipfile.ZIP_STORED
        if not stored and info.file_size > MAX_INFLATED_BYTES and info.file_size > MAX_RATIO * max(
            info.compress_size, 1
        ):
            raise ValueError(
                f"{where}: declares {info.file_size} bytes compressed into {info.compress_size} (ratio "
                f"{info.file_size // max(info.compress_size, 1)}:1, above {MAX_RATIO}:1); refusing to inflate "
                "it. If the file is genuine, load it with numpy yourself and save it with np.savez"
            )
        _verify_crc(zf, info, where)
    if stored and mmap:
        with open(path, "rb") as fh:
            fh.seek(info.header_offset)
            local = fh.read(30)
            if len(local) < 30 or local[:4] != b"PK\x03\x04":
                raise ValueError(f"{where}: damaged zip entry header")
            name_len = int.from_bytes(local[26:28], "little")
            extra_len = int.from_bytes(local[28:30], "little")
            offset = info.header_offset + 30 + name_len + extra_len + header_len
        if nbytes == 0:
            return np.empty(shape, dtype=dtype)
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")
    try:
        with np.load(path, allow_pickle=False) as z:
            return z[key]
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        raise ValueError(f"{where}: cannot be read ({e})") from None
