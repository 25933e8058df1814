"""The ``.slimidx`` file of a [`Retriever`][slimkit.retrieval.Retriever]: a magic line, a JSON header covered by
its own SHA-256, then named sections (the FAISS index, the item table) whose lengths and SHA-256 the header
lists. Written atomically; read back with every length and checksum verified.

Layout (format 2): ``MAGIC | uint64 header length | SHA-256 of (length + header) | header | sections...``.
Format 1 files (no header digest) are still read.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

from .._utils import atomic_write_bytes
from .._version import __version__

__all__ = ["FORMAT_VERSION", "write_file", "read_file"]

FORMAT_VERSION = 2  # 2: a SHA-256 of the header follows its length (1: no header checksum; still read)
_MAGIC = b"SLIMKIT-RETRIEVER\n"
_SECTIONS = ("index", "state")


def _sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def write_file(path: str | os.PathLike, fields: dict[str, Any], sections: dict[str, bytes]) -> None:
    """Write ``fields`` (JSON) into the header beside the format, versions and section table, then the
    ``sections`` in order; atomically (readers see the old file or the complete new one)."""
    header = {
        "format": "slimkit.Retriever",
        "format_version": FORMAT_VERSION,
        "slimkit_version": __version__,
        **fields,
        "sections": [{"name": n, "length": len(b), "sha256": _sha256(b)} for n, b in sections.items()],
    }
    head = json.dumps(header, indent=1).encode("utf-8")
    length = struct.pack("<Q", len(head))
    digest = hashlib.sha256(length + head).digest()
    atomic_write_bytes(path, [_MAGIC, length, digest, head, *sections.values()])


def _parse_header(data: bytes, pos: int, hlen: int, where: str) -> tuple[dict[str, Any], bytes]:
    """The JSON header at ``pos`` (format 1) or after a 32-byte digest (format 2 on), and that digest."""
    errors = []
    for skip in (32, 0):
        if len(data) < pos + skip + hlen:
            errors.append(f"truncated: header of {hlen} bytes, but only {max(0, len(data) - pos - skip)} follow")
            continue
        try:
            header = json.loads(data[pos + skip : pos + skip + hlen].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            errors.append(f"corrupted header ({type(e).__name__}: {e})")
            continue
        if not isinstance(header, dict):
            errors.append(f"corrupted header (a JSON {type(header).__name__}, not an object)")
            continue
        version = header.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION or version < 1:
            raise ValueError(
                f"{where}: format_version {version!r} is not supported by this slimkit (reads "
                f"1..{FORMAT_VERSION}); upgrade slimkit to read it"
            )
        if (version == 1) != (skip == 0):
            errors.append(f"corrupted header (format_version {version} in the layout of another version)")
            continue
        return header, data[pos : pos + 32]
    raise ValueError(f"{where}: {errors[0] if 'truncated' in errors[0] else errors[-1]}")



def read_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The header and the sections of a file from [`write_file`][slimkit.retrieval.store.write_file], every length
    and checksum verified; the header's ``config`` holds at least ``dim``, ``metric`` and ``index``.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a Retriever file, a newer format version, or a truncated / corrupted file (the
            message says which part failed).
    """
    path = Path(path)
    data = path.read_bytes()
    where = f"{path}"
    if not data.startswith(_MAGIC):
        raise ValueError(f"{where}: not a slimkit Retriever file (missing the {_MAGIC!r} header)")
    pos = len(_MAGIC)
    if len(data) < pos + 8:
        raise ValueError(f"{where}: truncated: the file ends inside its header ({len(data)} bytes)")
    length = data[pos : pos + 8]
    (hlen,) = struct.unpack("<Q", length)
    pos += 8
    header, digest = _parse_header(data, pos, hlen, where)
    if header.get("format_version") != 1:  # format 2 on: the header is covered by its own checksum
        if digest != hashlib.sha256(length + data[pos + 32 : pos + 32 + hlen]).digest():
            raise ValueError(f"{where}: corrupted: checksum mismatch in the header")
        pos += 32
    pos += hlen
    try:
        sections_meta = [(str(s["name"]), int(s["length"]), str(s["sha256"])) for s in header["sections"]]
        cfg = dict(header["config"])
        cfg["dim"], cfg["metric"], cfg["index"]  # noqa: B018 - KeyError names a missing one
        header["config"] = cfg
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: corrupted header (missing or malformed {e})") from None
    sections = {}
    expected = pos + sum(length for _, length, _ in sections_meta)
    if len(data) != expected:
        raise ValueError(f"{where}: truncated or padded: expected {expected} bytes, found {len(data)}")
    for name, length, sha in sections_meta:
        blob = data[pos : pos + length]
        pos += length
        if _sha256(blob) != sha:
            raise ValueError(f"{where}: corrupted: checksum mismatch in section {name!r}")
        sections[name] = blob
    if set(sections) != set(_SECTIONS):
        raise ValueError(f"{where}: corrupted header: sections {sorted(sections)}, expected index and state")
    return header, sections
