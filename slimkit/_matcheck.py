"""A structural check of MAT-file v5 data before ``scipy.io.loadmat`` reads it.

scipy's MAT reader is written in C and trusts the lengths a file declares: a damaged compressed element
(a corrupt download, a flipped bit) can crash the interpreter with a segmentation fault instead of raising
(scipy 1.17, found by ``tests/test_fuzz_readers.py``). This walks the file's elements in Python first: every
element's length must fit in the file, every compressed element must inflate completely to exactly one
``miMATRIX`` element whose own length matches, and each matrix's sub-elements (flags, dimensions, name, data)
must fit inside it, with the data's size matching the dimensions for numeric arrays. Files that pass are
handed to scipy. MAT v4 and v7.3 (HDF5) files are not checked here (Penn Action uses v5).
"""

from __future__ import annotations

import struct
import zlib

__all__ = ["check_mat5"]

_MI_SIZES = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8, 16: 1, 17: 2, 18: 4}
_MI_MATRIX, _MI_COMPRESSED = 14, 15
# numeric array classes (mxDOUBLE..mxUINT64) -> nothing to add: the data element's own type gives its size
_NUMERIC_CLASSES = set(range(6, 16))


class _Bad(ValueError):
    pass


def _tag(buf: bytes, pos: int, end: int, swap: str) -> tuple[int, int, int, int]:
    """``(type, nbytes, data start, next element)`` of the element at ``pos``; small elements included."""
    if pos + 8 > end:
        raise _Bad(f"an element tag at byte {pos} runs past the end ({end})")
    mtype, nbytes = struct.unpack(swap + "II", buf[pos : pos + 8])
    if mtype >> 16:  # small data element: type and size in the first 4 bytes, data in the next 4
        size, mtype = mtype >> 16, mtype & 0xFFFF
        if size > 4:
            raise _Bad(f"a small data element at byte {pos} declares {size} bytes (at most 4)")
        return mtype, size, pos + 4, pos + 8
    start = pos + 8
    stop = start + nbytes
    if stop > end:
        raise _Bad(f"an element at byte {pos} declares {nbytes} bytes, past the end ({end})")
    nxt = stop if mtype == _MI_COMPRESSED else start + (nbytes + 7) // 8 * 8
    return mtype, nbytes, start, min(nxt, end) if mtype != _MI_COMPRESSED else nxt


def _check_matrix(buf: bytes, start: int, end: int, swap: str, depth: int = 0) -> None:
    if depth > 32:
        raise _Bad("matrices nested too deeply")
    if start == end:  # an empty matrix
        return
    ftype, fsize, fstart, pos = _tag(buf, start, end, swap)
    if ftype != 6 or fsize != 8:
        raise _Bad("a matrix without its array-flags sub-element")
    mclass = buf[fstart] if swap == "<" else buf[fstart + 3]
    dtype, dsize, dstart, pos = _tag(buf, pos, end, swap)
    if dtype != 5 or dsize % 4:
        raise _Bad("a matrix without its dimensions sub-element")
    dims = struct.unpack(swap + f"{dsize // 4}i", buf[dstart : dstart + dsize])
    if any(d < 0 for d in dims):
        raise _Bad(f"negative dimensions {dims}")
    ntype, _, _, pos = _tag(buf, pos, end, swap)
    if ntype != 1:
        raise _Bad("a matrix without its name sub-element")
    count = 1
    for d in dims:
        count *= d
    if mclass in _NUMERIC_CLASSES:
        parts = 0
        while pos < end and parts < 2:  # real part, then (if complex) imaginary part
            etype, esize, _, pos = _tag(buf, pos, end, swap)
            if etype not in _MI_SIZES:
                raise _Bad(f"unknown data type {etype} in a numeric matrix")
            if esize != count * _MI_SIZES[etype]:
                raise _Bad(f"a numeric matrix of dimensions {dims} holds {esize} bytes of type {etype}")
            parts += 1
        if parts == 0 and count:
            raise _Bad(f"a numeric matrix of dimensions {dims} holds no data")
    elif mclass == 4:  # char: one data element
        if count:
            etype, esize, _, pos = _tag(buf, pos, end, swap)
            if etype not in _MI_SIZES or esize < count * _MI_SIZES[etype] and etype not in (16, 17, 18):
                raise _Bad(f"a char matrix of dimensions {dims} holds {esize} bytes of type {etype}")
    elif mclass in (1, 2, 3):  # cell, struct, object: sub-matrices, walked recursively
        while pos < end:
            etype, esize, estart, nxt = _tag(buf, pos, end, swap)
            if etype == _MI_MATRIX:
                _check_matrix(buf, estart, estart + esize, swap, depth + 1)
            pos = nxt


def check_mat5(raw: bytes) -> None:
    """Raise ``ValueError`` saying what is wrong if a MAT v5 file's element structure is damaged."""
    if len(raw) < 128 or raw[124:126] not in (b"\x00\x01", b"\x01\x00"):
        return  # not v5 (v4, or HDF5-based v7.3): scipy reads or refuses it on its own
    swap = "<" if raw[126:128] == b"IM" else ">"
    if raw[126:128] not in (b"IM", b"MI"):
        raise ValueError("damaged MAT-file header (byte-order mark)")
    try:
        pos, end = 128, len(raw)
        while pos < end:
            if end - pos < 8 and not raw[pos:].strip(b"\x00"):
                break  # padding
            mtype, nbytes, start, nxt = _tag(raw, pos, end, swap)
            if mtype == _MI_COMPRESSED:
                # some genuine writers end the stream early (scipy reads them): what is inflated must
                # cover the one matrix the element holds, and nothing else may follow it
                inner = zlib.decompressobj().decompress(raw[start : start + nbytes])
                itype, isize, istart, _ = _tag(inner, 0, len(inner), swap)
                if itype != _MI_MATRIX or istart + isize > len(inner):
                    raise _Bad(f"the compressed element at byte {pos} does not inflate to a complete matrix")
                _check_matrix(inner, istart, istart + isize, swap)
            elif mtype == _MI_MATRIX:
                _check_matrix(raw, start, start + nbytes, swap)
            pos = nxt
    except (_Bad, zlib.error, struct.error, IndexError) as e:
        raise ValueError(f"damaged MAT-file structure: {e}") from None
