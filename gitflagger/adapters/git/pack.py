"""A pass's new objects held in memory, then written to disk as one pack: two files instead of thousands.

libgit2 writes every object as its own loose file, and creating a file is
what a slow disk charges for (about 0.7 ms each on the benchmark machine,
against microseconds for the bytes). A step writes five to seven objects. So
a recording pass keeps its objects in a :class:`MemoryObjects` backend and
:func:`write_pack` writes them at the end of the pass as one pack
(``objects/pack/pack-<sha>.pack``) with its version-2 index (``.idx``), the
format ``git index-pack`` produces:

* the pack: ``PACK``, version 2, the object count, then each object as a
  type-and-size header and its zlib-deflated content (no deltas: ``git
  repack`` in maintenance makes those later), then the SHA-1 of all that;
* the index: the ``\\377tOc`` magic and version 2, a 256-entry fan-out table,
  the sorted object ids, the CRC-32 of each object's packed bytes, their
  offsets (31-bit, with a 64-bit table for packs over 2 GiB), the pack's SHA-1
  and the SHA-1 of the index itself.

Both files are written to temporary names, flushed to the disk (``fsync``),
and renamed into place, the pack before its index: git and libgit2 discover
packs by their index, so a reader never sees an index without its pack, and a
crash leaves at worst an unreferenced temporary file. Nothing points at the
pack's objects until the caller moves its refs afterwards.

:class:`MemoryObjects` is a pygit2 object-database backend. A recorder gives
it its own :class:`pygit2.Odb`, ordered *pack, memory, loose*: reads try the
repository's packs first (in C), then the pass's objects, then loose files;
writes go to the first backend that can write, which is the memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import pygit2

PACK_VERSION = 2
IDX_MAGIC = b"\377tOc"
IDX_VERSION = 2
COMPRESSION = 1
"""zlib level: the pass's pack is rewritten by the next ``git repack`` anyway; speed matters more here."""
TREE_COMPRESSION = 0
"""Trees are stored, not deflated: they are mostly object ids, which do not compress (level 1 saves
about a third of a 40 KB tree and costs 20× the time), and a busy config repo writes a large one
per step (the prefix directory lists every namespace). ``git repack`` deltas them later."""
_TREE = 2

_PACK_PRIORITY = 3
_MEMORY_PRIORITY = 2
_LOOSE_PRIORITY = 1

PACK_WINDOW = 1 << 20
PACK_MAPPED_LIMIT = 16 << 20
"""libgit2 reads packs through mmap'd windows (by default 1 GiB each, up to 8 GiB mapped), and the
pages it touches count in the process's RSS. A pass reads the latest trees of every Canary, spread
over the last passes' packs (tens of MB each at 1,000 Canaries: every step writes a prefix tree
that lists them all), and the kernel maps 64 KB around each page read: measured at 1,000
Canaries, file-backed RSS grew by about 40 MB every other pass, without bound until a repack.
With 1 MiB windows and at most 16 MiB mapped (least recently used windows are unmapped first,
the way JGit's small windows work) it stays near 16 MB; reads cost an mmap more now and then."""

Objects = Mapping[pygit2.Oid, tuple[int, bytes]]
"""Object id → (git object type: 1 commit, 2 tree, 3 blob, 4 tag; the uncompressed content)."""


class MemoryObjects(pygit2.OdbBackend):
    """An object-database backend that keeps what is written to it in a dict (see the module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self.objects: dict[pygit2.Oid, tuple[int, bytes]] = {}

    def __len__(self) -> int:
        return len(self.objects)

    def read_cb(self, oid: pygit2.Oid) -> tuple[int, bytes]:
        return self.objects[oid]

    def read_prefix_cb(self, prefix: str) -> tuple[int, bytes, pygit2.Oid]:
        if len(prefix) == pygit2.GIT_OID_HEXSZ:
            oid = pygit2.Oid(hex=prefix)
            kind, data = self.objects[oid]
            return kind, data, oid
        found = [oid for oid in self.objects if str(oid).startswith(prefix)]
        if len(found) != 1:
            raise KeyError(prefix) if not found else ValueError(prefix)
        kind, data = self.objects[found[0]]
        return kind, data, found[0]

    def read_header_cb(self, oid: pygit2.Oid) -> tuple[int, int]:
        kind, data = self.objects[oid]
        return kind, len(data)

    def exists_cb(self, oid: pygit2.Oid) -> bool:
        return oid in self.objects

    def exists_prefix_cb(self, prefix: str) -> pygit2.Oid:
        return self.read_prefix_cb(prefix)[2]

    def write_cb(self, oid: pygit2.Oid, data: bytes, kind: int) -> None:
        self.objects[oid] = (int(kind), bytes(data))

    def refresh_cb(self) -> None:
        return None

    def __iter__(self) -> Iterator[pygit2.Oid]:
        return iter(list(self.objects))


def bound_pack_windows(window: int = PACK_WINDOW, mapped_limit: int = PACK_MAPPED_LIMIT) -> None:
    """Bound libgit2's mmap'd pack windows, process-wide (see :data:`PACK_MAPPED_LIMIT`).

    For long-running processes (``gitflagger run``); call it before any repository is opened.
    """
    pygit2.settings.mwindow_size = window
    pygit2.settings.mwindow_mapped_limit = mapped_limit


def buffered_repository(path: str | Path) -> tuple[pygit2.Repository, MemoryObjects, pygit2.OdbBackend]:
    """A second handle on the repository at ``path`` whose new objects stay in memory.

    Returns the handle, its memory backend and its pack backend (refresh it
    after :func:`write_pack` so the new pack is found at once).
    """
    repo = pygit2.Repository(str(path))
    objects_dir = str(Path(repo.path) / "objects")
    odb = pygit2.Odb()
    packs = pygit2.OdbBackendPack(objects_dir)
    memory = MemoryObjects()
    odb.add_backend(packs, _PACK_PRIORITY)
    odb.add_backend(memory, _MEMORY_PRIORITY)
    odb.add_backend(pygit2.OdbBackendLoose(objects_dir, 5, False), _LOOSE_PRIORITY)
    for alternate in _alternates(Path(objects_dir)):
        odb.add_disk_alternate(str(alternate))
    repo.set_odb(odb)
    return repo, memory, packs


def _alternates(objects_dir: Path) -> list[Path]:
    try:
        lines = (objects_dir / "info" / "alternates").read_text().splitlines()
    except OSError:
        return []
    return [objects_dir / line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _header(kind: int, size: int) -> bytes:
    """A pack entry's header: type in bits 4–6 of the first byte, the size in 4 + 7·k bits."""
    byte = (kind << 4) | (size & 0x0F)
    size >>= 4
    out = bytearray()
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


def encode_pack(objects: Objects) -> tuple[bytearray, bytearray, str]:
    """The pack and its v2 index for ``objects``: (pack bytes, index bytes, the pack's SHA-1 hex).

    Returned as the buffers they were built in: a copy to ``bytes`` would hold the pack twice.
    """
    pack = bytearray(b"PACK" + struct.pack(">II", PACK_VERSION, len(objects)))
    entries: list[tuple[bytes, int, int]] = []  # raw id, offset, crc32
    for oid, (kind, data) in objects.items():
        offset = len(pack)
        level = TREE_COMPRESSION if kind == _TREE else COMPRESSION
        packed = _header(kind, len(data)) + zlib.compress(data, level)
        pack += packed
        entries.append((oid.raw, offset, zlib.crc32(packed)))
    pack_sha = hashlib.sha1(pack).digest()
    pack += pack_sha
    entries.sort()
    idx = bytearray(IDX_MAGIC + struct.pack(">I", IDX_VERSION))
    fanout = [0] * 256
    for raw, _, _ in entries:
        fanout[raw[0]] += 1
    total = 0
    for i in range(256):
        total += fanout[i]
        idx += struct.pack(">I", total)
    for raw, _, _ in entries:
        idx += raw
    for _, _, crc in entries:
        idx += struct.pack(">I", crc)
    large: list[int] = []
    for _, offset, _ in entries:
        if offset < 0x80000000:
            idx += struct.pack(">I", offset)
        else:
            idx += struct.pack(">I", 0x80000000 | len(large))
            large.append(offset)
    for offset in large:
        idx += struct.pack(">Q", offset)
    idx += pack_sha
    idx += hashlib.sha1(idx).digest()
    return pack, idx, pack_sha.hex()


def write_pack(objects_dir: str | Path, objects: Objects) -> Path | None:
    """Write ``objects`` as one pack and index under ``objects_dir/pack``; the pack's path (``None``: empty).

    Durable when it returns: both files are fsync'd and renamed, the index
    last, and the directory is fsync'd. An identical pack already there is kept.
    """
    if not objects:
        return None
    pack, idx, name = encode_pack(objects)
    where = Path(objects_dir) / "pack"
    where.mkdir(parents=True, exist_ok=True)
    final_pack = where / f"pack-{name}.pack"
    final_idx = where / f"pack-{name}.idx"
    if final_idx.exists() and final_pack.exists():
        return final_pack
    _write_durably(where, final_pack, pack)
    _write_durably(where, final_idx, idx)
    _fsync_dir(where)
    return final_pack


def _write_durably(where: Path, final: Path, content: bytes | bytearray) -> None:
    fd, tmp = tempfile.mkstemp(prefix="tmp_pack_", dir=where)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o444)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _fsync_dir(where: Path) -> None:
    try:
        fd = os.open(where, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
