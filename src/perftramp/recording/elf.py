"""Reading a little of an ELF file: one section's first bytes, and the GNU
build-id perf keys its cache by.  64-bit little-endian files only (what
perftramp runs on); anything else, or anything unreadable, gives None."""
from __future__ import annotations

import struct
from typing import BinaryIO, Optional

_BUILD_ID_SECTION = b".note.gnu.build-id"
#: NT_GNU_BUILD_ID, and the longest build-id perf keeps (BUILD_ID_SIZE)
_NT_GNU_BUILD_ID = 3
_BUILD_ID_MIN, _BUILD_ID_MAX = 4, 20


def section(f: BinaryIO, name: bytes, size: int) -> Optional[bytes]:
    """The first `size` bytes of the section `name` of the ELF file open as
    `f`, or None (not such an ELF, no such section or a shorter one)."""
    try:
        f.seek(0)
        head = f.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return None
        shoff, = struct.unpack_from("<Q", head, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", head, 0x3A)
        if shentsize != 64 or not 0 < shnum < 65536 or shstrndx >= shnum:
            return None
        f.seek(shoff)
        table = f.read(shentsize * shnum)
        if len(table) != shentsize * shnum:
            return None
        sections = [struct.unpack_from("<IIQQQQ", table, i * 64) for i in range(shnum)]
        names_offset, names_size = sections[shstrndx][4], sections[shstrndx][5]
        f.seek(names_offset)
        names = f.read(min(names_size, 1 << 20))
        for at, _type, _flags, _addr, offset, length in sections:
            if names[at:at + len(name) + 1] == name + b"\0" and length >= size:
                f.seek(offset)
                found = f.read(size)
                return found if len(found) == size else None
    except (OSError, struct.error, ValueError):
        return None
    return None


def build_id(f: BinaryIO) -> Optional[str]:
    """The GNU build-id of the ELF file open as `f` in hex, as perf prints
    it, or None."""
    note = section(f, _BUILD_ID_SECTION, 16)
    if note is None:
        return None
    namesz, descsz, kind = struct.unpack_from("<III", note)
    if kind != _NT_GNU_BUILD_ID or namesz != 4 or not _BUILD_ID_MIN <= descsz <= _BUILD_ID_MAX:
        return None
    whole = section(f, _BUILD_ID_SECTION, 16 + descsz)
    if whole is None or whole[12:16] != b"GNU\0":
        return None
    return whole[16:16 + descsz].hex()
