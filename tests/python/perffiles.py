"""Readers of the files perf reads, for the tests' assertions: a
/tmp/perf-PID.map and a jitdump, parsed strictly (a malformed line or record
fails the test)."""
import re
import struct


def jitdump_stubs(path):
    """{code_addr: name} of a jitdump's code-load records."""
    data = path.read_bytes()
    pos, out = 40, {}
    while pos + 16 <= len(data):
        rid, size = struct.unpack_from("<II", data, pos)
        if size == 0:
            break  # the unused rest of a dump whose process did not exit normally
        if rid == 0:
            addr = struct.unpack_from("<Q", data, pos + 32)[0]
            end = data.index(b"\0", pos + 56)
            out[addr] = data[pos + 56:end].decode()
        pos += size
    return out


def jitdump_loads(path):
    """[(code_addr, name)] of every code-load record, in file order (unlike
    jitdump_stubs, a later record does not hide an earlier one for the same
    address); asserts every record is whole, laid end to end up to the
    file's end or a record of size 0 (the unused rest of a window)."""
    data = path.read_bytes()
    pos, out = 40, []
    while pos + 8 <= len(data):
        rid, size = struct.unpack_from("<II", data, pos)
        if size == 0:
            break
        assert rid <= 7 and 16 <= size <= len(data) - pos, ("corrupt record", pos, rid, size)
        if rid == 0:
            end = data.index(b"\0", pos + 56)
            out.append((struct.unpack_from("<Q", data, pos + 32)[0],
                        data[pos + 56:end].decode()))
        pos += size
    return out


def map_lines(pid):
    path = "/tmp/perf-%d.map" % pid
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read().splitlines()


MAP_LINE = re.compile(r"^([0-9a-f]+) ([0-9a-f]+) (.*)$")


def map_entries(pid):
    """[(start, size, name)] of /tmp/perf-PID.map; asserts every line parses.

    Blank lines, and the NUL bytes of a window the process had reserved but
    not filled when it ended without closing the map (os._exit, a crash), are
    skipped, as perf skips them."""
    entries = []
    for line in map_lines(pid):
        if not line.strip("\0"):
            continue
        m = MAP_LINE.match(line)
        assert m, "malformed map line: %r" % line
        entries.append((int(m.group(1), 16), int(m.group(2), 16), m.group(3)))
    return entries
