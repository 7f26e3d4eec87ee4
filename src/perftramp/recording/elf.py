"""Reading a little of an ELF file: one section's first bytes, the GNU
build-id perf keys its cache by, and the dynamic symbols and first load
address ptrace_exec.py finds functions in another process with.  64-bit
little-endian files only (what perftramp runs on); anything else, or
anything unreadable, gives None."""
from __future__ import annotations

import struct
from typing import BinaryIO, Dict, Iterable, List, Optional, Tuple

_BUILD_ID_SECTION = b".note.gnu.build-id"
#: NT_GNU_BUILD_ID, and the longest build-id perf keeps (BUILD_ID_SIZE)
_NT_GNU_BUILD_ID = 3
_BUILD_ID_MIN, _BUILD_ID_MAX = 4, 20


_SHT_DYNSYM = 11
_PT_LOAD = 1
_STT_FUNC = 2
_HEADER_LIMIT = 1 << 16
_DYNSYM_LIMIT = 64 << 20


def _header(f: BinaryIO) -> Optional[bytes]:
    f.seek(0)
    head = f.read(64)
    if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
        return None
    return head


def _section_table(f: BinaryIO, head: bytes) -> List[Tuple[int, ...]]:
    """The section headers (name, type, flags, addr, offset, size, link, ...),
    [] when the table is not whole."""
    shoff, = struct.unpack_from("<Q", head, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", head, 0x3A)
    if shentsize != 64 or not 0 < shnum < 65536:
        return []
    f.seek(shoff)
    table = f.read(64 * shnum)
    if len(table) != 64 * shnum:
        return []
    return [struct.unpack_from("<IIQQQQIIQQ", table, i * 64) for i in range(shnum)]


def section(f: BinaryIO, name: bytes, size: int) -> Optional[bytes]:
    """The first `size` bytes of the section `name` of the ELF file open as
    `f`, or None (not such an ELF, no such section or a shorter one)."""
    try:
        head = _header(f)
        if head is None:
            return None
        sections = _section_table(f, head)
        shstrndx, = struct.unpack_from("<H", head, 0x3E)
        if shstrndx >= len(sections):
            return None
        names_offset, names_size = sections[shstrndx][4], sections[shstrndx][5]
        f.seek(names_offset)
        names = f.read(min(names_size, 1 << 20))
        for sec in sections:
            at, offset, length = sec[0], sec[4], sec[5]
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


def first_load_address(f: BinaryIO) -> Optional[int]:
    """The page-aligned virtual address of the first PT_LOAD segment (0 in a
    shared object or PIE), or None."""
    try:
        head = _header(f)
        if head is None:
            return None
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(min(phentsize * phnum, _HEADER_LIMIT))
        for i in range(len(table) // max(phentsize, 56)):
            kind, _flags, _offset, vaddr = struct.unpack_from("<IIQQ", table, i * phentsize)
            if kind == _PT_LOAD:
                return int(vaddr & ~0xFFF)
    except (OSError, struct.error, ValueError):
        return None
    return None


def dynamic_functions(f: BinaryIO, names: Iterable[str]) -> Dict[str, int]:
    """The addresses (before relocation) of those of `names` that the ELF
    file open as `f` defines as functions in .dynsym."""
    wanted = {name.encode() for name in names}
    found: Dict[str, int] = {}
    try:
        head = _header(f)
        sections = _section_table(f, head) if head else []
        for sec in sections:
            if sec[1] != _SHT_DYNSYM or sec[6] >= len(sections) or sec[5] > _DYNSYM_LIMIT:
                continue
            strtab = sections[sec[6]]
            f.seek(sec[4])
            symbols = f.read(sec[5])
            f.seek(strtab[4])
            strings = f.read(min(strtab[5], _DYNSYM_LIMIT))
            for at in range(0, len(symbols) - 23, 24):
                name_at, info, _other, shndx, value = struct.unpack_from("<IBBHQ", symbols, at)
                name = strings[name_at:strings.find(b"\0", name_at)]
                if name in wanted and shndx != 0 and info & 0xF == _STT_FUNC and value:
                    found.setdefault(name.decode(), value)
    except (OSError, struct.error, ValueError):
        return found
    return found
