"""What a recording directory holds, in one place.

    perf.data        perf record's samples (backends without inject)
    perf-jit.tar.xz  (PACK; backends with inject) perf.jit.data, the
                     samples after `perf inject --jit`, and jit/: the files
                     of backends with inject and a directory variable
                     (perf_jit: jit-PID.dump, and the thousands of
                     jitted-PID-N.so perf inject writes, one per function),
                     written under /tmp/jitted-perftramp-* while recording
                     (make_jit_dir() says why), then packed here; report
                     unpacks them into a private temporary directory and
                     links that path to its jit/ (staged)
    perf.data, perf.jit.data, jit/
                     the same unpacked: a recording whose packing failed,
                     or one made before packing
    jit-PID.dump, ...
                     files of other backends with a directory variable
                     (dir_env): record points the variable here
    maps/            files of backends without one (perf's /tmp/perf-PID.map),
                     moved here after recording; perf reads those from their
                     own directory only, so report stages them back there
    perftramp.json   how the recording was made (backend, command, pids,
                     "data": which of the two perf files to read, "maps",
                     "jit_dir": the /tmp path jit/ was recorded at, "pack",
                     and how perf was asked to unwind: "stack_size",
                     "max_stack", "max_stack_wanted"; "active_pids": the
                     recorded processes where perftramp's backend wrote)

`perftramp record` makes ./perftramp-YYYYmmdd-HHMMSS unless told otherwise;
`perftramp report` with no directory takes the newest of those.

A recording may come from someone else, so report trusts nothing in it:
perftramp.json must hold what record writes (FIELDS), "data" one of the two
perf files, "maps" only perf-PID.map names, "jit_dir" only a name of the
form make_jit_dir() gives; the maps are read from DIR/maps without following
a link and written to /tmp only as new files, and the jit_dir link is made
only where no path is and removed only while it is still that link.  The
pack is read strictly (unpack_pack): only regular files of the names record
writes, within size limits, each written as a new file into a new private
directory that is removed afterwards.  Nothing else is written outside DIR.
"""
import contextlib
import datetime
import errno
import json
import lzma
import os
import re
import secrets
import shutil
import signal
import stat
import tarfile
import tempfile

from . import _perf
from ._errors import CliError

DATA = "perf.data"
JIT_DATA = "perf.jit.data"
JIT = "jit"
MAPS = "maps"
META = "perftramp.json"
#: perf.jit.data and jit/, packed (pack()); xz, as Python has it built in
PACK = "perf-jit.tar.xz"
#: xz's preset for the pack: 1 packs perf's DWARF samples about 50 MB/s and
#: to a few percent of their size (their stack copies repeat a lot)
PACK_PRESET = 1

_NAME = re.compile(r"perftramp-\d{8}-\d{6}$")


def default_name():
    return "perftramp-%s" % datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


def newest(where="."):
    """The newest ./perftramp-TIMESTAMP directory, or None."""
    runs = [d for d in os.listdir(where)
            if _NAME.match(d) and os.path.isdir(os.path.join(where, d))]
    return os.path.join(where, max(runs)) if runs else None


#: perf's map names, the only files report writes outside DIR ([0-9]: \d
#: would take any Unicode digit)
MAP_NAME = re.compile(r"perf-[0-9]+\.map")
#: where and under which name record writes the jitdumps (make_jit_dir); the
#: path must begin with "/tmp/jitted-", whatever perf's map directory
JIT_HOME = "/tmp"
JIT_PREFIX = "jitted-perftramp-"
#: exactly the paths make_jit_dir() makes, the only link report writes
JIT_DIR_NAME = re.compile(re.escape(os.path.join(JIT_HOME, JIT_PREFIX)) + r"[0-9a-f]{16}")
_BACKEND_NAME = re.compile(r"[A-Za-z0-9_]+")
#: perftramp.json larger than this is not one record wrote
_META_LIMIT = 16 << 20


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _list_of(check):
    return lambda value: isinstance(value, list) and all(check(v) for v in value)


#: Every key record writes: what it must hold, and the test of it.  A key may
#: be missing (report then does without it); others are ignored.
FIELDS = {
    "backend": ("a backend name", lambda v: isinstance(v, str)
                and _BACKEND_NAME.fullmatch(v) is not None),
    "command": ("a list of strings", _list_of(lambda v: isinstance(v, str))),
    "perf": ("a string", lambda v: isinstance(v, str)),
    "python": ("a string", lambda v: isinstance(v, str)),
    "freq": ("an integer", _is_int),
    "exit_code": ("an integer", _is_int),
    "data": ('"%s" or "%s"' % (DATA, JIT_DATA), lambda v: v in (DATA, JIT_DATA)),
    "maps": ("a list of perf-PID.map names", _list_of(
        lambda v: isinstance(v, str) and MAP_NAME.fullmatch(v) is not None)),
    "pids": ("a list of process ids", _list_of(lambda v: _is_int(v) and v > 0)),
    "jit_dir": ("a %s%s* path record made" % (os.path.join(JIT_HOME, ""), JIT_PREFIX),
                lambda v: isinstance(v, str) and JIT_DIR_NAME.fullmatch(v) is not None),
    "pack": ('"%s"' % PACK, lambda v: v == PACK),
    "stack_size": ("a positive integer", lambda v: _is_int(v) and v > 0),
    "max_stack": ("a positive integer", lambda v: _is_int(v) and v > 0),
    "max_stack_wanted": ("a positive integer", lambda v: _is_int(v) and v > 0),
    "active_pids": ("a list of process ids", _list_of(lambda v: _is_int(v) and v > 0)),
}


class NotReadable(Exception):
    """A file of a recording that is not a regular file of bounded size."""


def read_untrusted(path, limit):
    """The bytes of `path`, a file of a recording (which may come from
    someone else): opened without following a link or blocking on a FIFO,
    and only a regular file of at most `limit` bytes.  None when there is no
    such file; NotReadable saying why it is not one; OSError from open."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        try:
            regular = stat.S_ISREG(os.fstat(f.fileno()).st_mode)
        except OSError:
            regular = False
        if not regular:
            raise NotReadable("not a regular file")
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise NotReadable("larger than %d MiB" % (limit >> 20))
    return raw


def read_meta(directory):
    """perftramp.json as a dict whose every field is what record writes
    (FIELDS); {} for a directory without one.  Anything else is a CliError
    naming the file and what is wrong with it."""
    path = os.path.join(directory, META)

    def invalid(why):
        return CliError("%s is not a perftramp recording description: %s" % (path, why))

    try:
        raw = read_untrusted(path, _META_LIMIT)
    except NotReadable as exc:
        raise invalid(str(exc))
    except OSError as exc:
        raise invalid(exc.strerror)
    if raw is None:
        return {}
    try:
        meta = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise invalid("not UTF-8 text")
    except ValueError as exc:
        raise invalid("not JSON (%s)" % exc)
    except RecursionError:
        raise invalid("JSON nested too deeply")
    if not isinstance(meta, dict):
        raise invalid("a JSON %s, not an object" % type(meta).__name__)
    for key, (what, valid) in FIELDS.items():
        if key in meta and not valid(meta[key]):
            raise invalid('"%s" must be %s' % (key, what))
    return meta


def write_meta(directory, meta):
    with open(os.path.join(directory, META), "w") as f:
        json.dump(meta, f, indent=2)


def files_and_size(directory):
    """(files, bytes on disk) under `directory`, as a user would count them
    (du, not ls: perf_elf's image is a sparse file whose apparent size is its
    reserved capacity, some 200 MB, of which only what was written is on disk)."""
    files = size = 0
    for where, _, names in os.walk(directory):
        for name in names:
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(where, name)).st_blocks * 512
                files += 1
    return files, size


def data_path(directory, meta):
    """The file of DIR that holds the perf data report reads (meta as
    read_meta checked it: a name in DIR): the pack when there is one."""
    return os.path.join(directory, meta.get("pack") or meta.get("data", DATA))


def gather_maps(paths, directory, copy=False):
    """Moves the files at `paths` that exist, are regular, not links and ours
    into DIR/maps (copies them, for a process that runs on and keeps writing
    its own); returns the names moved.  A moved map loses the unused rest of
    its last window (trim_unused_window)."""
    moved = []
    for src in paths:
        if os.path.isfile(src) and not os.path.islink(src) and \
                os.stat(src).st_uid == os.geteuid():
            os.makedirs(os.path.join(directory, MAPS), exist_ok=True)
            dst = os.path.join(directory, MAPS, os.path.basename(src))
            if copy:
                shutil.copyfile(src, dst)
            else:
                shutil.move(src, dst)
                trim_unused_window(dst)
            moved.append(os.path.basename(src))
    return moved


def trim_unused_window(path, step=1 << 16):
    """Truncates a perf map after its last line.  A process that ends without
    closing its map (os._exit: every multiprocessing and gunicorn worker)
    leaves the rest of the window it had reserved, up to 1 MiB of NUL bytes
    with real blocks; perf skips them, and 200 workers' maps took 200 MiB."""
    with open(path, "r+b") as f:
        end = f.seek(0, os.SEEK_END)
        at = end
        while at > 0:
            start = max(0, at - step)
            f.seek(start)
            chunk = f.read(at - start).rstrip(b"\0")
            if chunk:
                at = start + len(chunk)
                break
            at = start
        if at < end:
            f.truncate(at)


def make_jit_dir():
    """A new directory of ours, /tmp/jitted-perftramp-<16 hex digits>, for
    the jitdumps of a recording.

    perf built with libdw's DWARF unwinder and without libunwind (Debian's
    perf 7.x) loads perf inject's jitted-PID-N.so at the right address only
    when their path begins with "/tmp/jitted-" (tools/perf/util/unwind-libdw.c,
    __report_module: for any other DSO the module base is the mapping's start
    minus its file offset, and a jitted object maps its code at offset 0x80).
    Anywhere else each object is placed 0x80 bytes low, the address of a
    sample's trampoline is not inside its own module, and the unwinder drops
    the sample's whole call chain: no Python frame at all.  perf inject names
    the objects after the dump's directory, so the dump must be written under
    such a path; move_jit_dir() takes it into the recording afterwards."""
    for _ in range(100):
        path = os.path.join(JIT_HOME, JIT_PREFIX + secrets.token_hex(8))
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        except OSError as exc:
            raise CliError("record: cannot make %s for the jitdumps: %s"
                           % (path, exc.strerror))
        return path
    raise CliError("record: cannot make a new %s%s* directory for the jitdumps"
                   % (os.path.join(JIT_HOME, ""), JIT_PREFIX))


def move_jit_dir(path, directory):
    """Moves make_jit_dir()'s `path` to DIR/jit (replacing an earlier run's)
    and returns True; an empty one (no process wrote there) is removed
    instead, and gives False."""
    try:
        os.rmdir(path)
        return False
    except OSError:
        pass
    target = os.path.join(directory, JIT)
    if os.path.islink(target) or not os.path.isdir(target):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
    else:
        shutil.rmtree(target)
    shutil.move(path, target)
    return True


def _read_map(directory, name):
    """The contents of DIR/maps/NAME, a regular file reached without a link
    (neither maps/ nor NAME may be one); a CliError otherwise."""
    where = os.path.join(directory, MAPS, name)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    dir_fd = fd = None
    try:
        dir_fd = os.open(os.path.join(directory, MAPS), flags | os.O_DIRECTORY)
        fd = os.open(name, flags, dir_fd=dir_fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CliError("%s is not a regular file; it cannot be a perf map" % where)
        with os.fdopen(fd, "rb") as f:
            fd = None
            return f.read()
    except OSError as exc:
        why = "a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        raise CliError("cannot read the recording's map %s: %s" % (where, why))
    finally:
        for opened in (fd, dir_fd):
            if opened is not None:
                os.close(opened)


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _exit_on_signals():
    """SIGTERM and SIGHUP end the block with SystemExit (so that its finally
    clauses run), for as long as it runs."""
    old_handlers = {}
    try:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError):  # not the main thread
                old_handlers[signum] = signal.signal(signum, _raise_exit)
        yield
    finally:
        for signum, handler in old_handlers.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def maps_staged(directory, names, home="/tmp"):
    """perf reads maps from `home` only: puts the recording's maps there (as
    read_meta checked them: perf-PID.map names) for as long as the block
    runs, never over an existing file, then takes them away, also when
    report is ended by SIGTERM or SIGHUP."""
    for name in names:
        if not MAP_NAME.fullmatch(name):
            raise CliError("%r is not the name of a perf map (perf-PID.map)" % (name,))
    contents = [(name, _read_map(directory, name)) for name in names]
    placed = []
    with _exit_on_signals():
        try:
            for name, data in contents:
                dst = os.path.join(home, name)
                try:
                    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                                 0o600)
                except FileExistsError:
                    continue
                placed.append(dst)
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
            yield
        finally:
            for path in placed:
                with contextlib.suppress(OSError):
                    os.unlink(path)


@contextlib.contextmanager
def jit_staged(directory, link, warn, target=None):
    """perf.jit.data names the jitted objects by the directory they were
    written in, `link` (meta["jit_dir"], a make_jit_dir() path as read_meta
    checked it; None: nothing to do): for as long as the block runs, `link`
    is a symbolic link to `target` (default DIR/jit).  It is made only where no path is
    (symlink() neither replaces nor follows one: when anything is there,
    `warn` says so and perf reads without the link), and removed afterwards,
    also on SIGTERM or SIGHUP, only while it is still the link made here."""
    if link is None:
        yield
        return
    if not JIT_DIR_NAME.fullmatch(link):
        raise CliError("%r is not a directory perftramp record makes" % (link,))
    if target is None:
        target = os.path.join(os.path.abspath(directory), JIT)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        raise CliError("%s is missing: the recording's jitted objects were there" % target)
    if not stat.S_ISDIR(st.st_mode):
        raise CliError("%s is not a directory (a recording's jit/ is)" % target)
    placed = False
    with _exit_on_signals():
        try:
            try:
                os.symlink(target, link)
                placed = True
            except FileExistsError:
                warn("%s exists already, so it was left alone; perf reads the jitted "
                     "objects from it, not from %s" % (link, target))
            except OSError as exc:
                warn("cannot link %s to %s (%s); perf will not find the jitted objects"
                     % (link, target, exc.strerror))
            yield
        finally:
            if placed:
                with contextlib.suppress(OSError):
                    if os.readlink(link) == target:
                        os.unlink(link)


#: what a pack may hold, and how large (a recording may come from someone
#: else: these keep a hostile one from filling the disk or naming paths)
_PACK_DATA_LIMIT = 1 << 40
_PACK_FILE_LIMIT = 1 << 32
_PACK_TOTAL_LIMIT = 1 << 41
_PACK_MEMBERS_LIMIT = 1 << 20
#: jit/'s names: the dumps of the backends with inject, perf inject's objects
_JIT_FILE = re.compile(r"(?:jit-[0-9]+\.dump|jitted-[0-9]+-[0-9]+\.so)")


def pack(directory):
    """Packs DIR/perf.jit.data and DIR/jit into DIR/PACK (xz), then removes
    them and DIR/perf.data (perf.jit.data holds all of it); returns PACK.
    Only the names a pack may hold are taken; anything else in jit/ stays."""
    target = os.path.join(directory, PACK)
    partial = target + ".partial"
    jit = os.path.join(directory, JIT)
    names = sorted(name for name in os.listdir(jit) if _JIT_FILE.fullmatch(name)
                   and os.path.isfile(os.path.join(jit, name))
                   and not os.path.islink(os.path.join(jit, name))) \
        if os.path.isdir(jit) else []
    try:
        with tarfile.open(partial, "w:xz", preset=PACK_PRESET,
                          format=tarfile.PAX_FORMAT) as tar:
            def add(path, arcname):
                info = tar.gettarinfo(path, arcname)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            add(os.path.join(directory, JIT_DATA), JIT_DATA)
            for name in names:
                add(os.path.join(jit, name), JIT + "/" + name)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    os.unlink(os.path.join(directory, JIT_DATA))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(directory, DATA))
    for name in names:
        os.unlink(os.path.join(jit, name))
    with contextlib.suppress(OSError):  # only when nothing else is there
        os.rmdir(jit)
    return PACK


def _pack_member(info, seen):
    """The checks of one member of a pack: its name in the private
    directory, or a CliError's reason."""
    name = info.name
    if name in seen:
        return None, "%s twice" % name
    if name == JIT:
        if not info.isdir():
            return None, "%s, not a directory" % name
        return name, None
    if name == JIT_DATA:
        limit = _PACK_DATA_LIMIT
    elif name.startswith(JIT + "/") and _JIT_FILE.fullmatch(name[len(JIT) + 1:]):
        limit = _PACK_FILE_LIMIT
    else:
        return None, "%r, a name a recording never has" % name
    if not info.isreg():
        kind = ("a link" if info.issym() or info.islnk() else "a directory" if info.isdir()
                else "a special file")
        return None, "%s as %s, not a regular file" % (name, kind)
    if info.size > limit:
        return None, "%s of %d bytes, larger than a recording's" % (name, info.size)
    return name, None


def unpack(directory, name, into):
    """Unpacks DIR/NAME, a pack of record's (read_meta checked the name),
    into the new private directory `into`, strictly (_pack_member); a
    CliError naming the pack when it is anything else."""
    path = os.path.join(directory, name)

    def bad(why):
        return CliError("%s is not a perftramp recording's pack: %s" % (path, why))

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise bad("a symbolic link" if exc.errno == errno.ELOOP else exc.strerror)
    seen = set()
    total = 0
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise bad("not a regular file")
        try:
            # stream mode: members are read in order, none is looked up
            with tarfile.open(fileobj=f, mode="r|xz") as tar:
                for info in tar:
                    member, why = _pack_member(info, seen)
                    if why:
                        raise bad("it holds " + why)
                    seen.add(member)
                    if len(seen) > _PACK_MEMBERS_LIMIT:
                        raise bad("more than %d files" % _PACK_MEMBERS_LIMIT)
                    if info.isdir():
                        os.mkdir(os.path.join(into, member), 0o700)
                        continue
                    total += info.size
                    if total > _PACK_TOTAL_LIMIT:
                        raise bad("more than %d bytes in all" % _PACK_TOTAL_LIMIT)
                    if member.startswith(JIT + "/") and JIT not in seen:
                        os.mkdir(os.path.join(into, JIT), 0o700)
                        seen.add(JIT)
                    _copy_out(tar.extractfile(info), info.size,
                              os.path.join(into, member))
        except (tarfile.TarError, lzma.LZMAError, EOFError) as exc:
            raise bad(str(exc) or type(exc).__name__)
        except OSError as exc:
            raise CliError("cannot unpack %s into %s: %s" % (path, into, exc.strerror))
    if JIT_DATA not in seen:
        raise bad("no %s in it" % JIT_DATA)
    if JIT not in seen:  # no jitted object: jit_staged still links a directory
        os.mkdir(os.path.join(into, JIT), 0o700)


def _copy_out(src, size, dst):
    """`size` bytes of `src` into the new file `dst` (never an existing
    path, never through a link)."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        left = size
        while left:
            chunk = src.read(min(left, 1 << 20))
            if not chunk:
                raise EOFError("the pack ends inside %s" % os.path.basename(dst))
            out.write(chunk)
            left -= len(chunk)


@contextlib.contextmanager
def unpacked(directory, meta):
    """The recording's pack (meta["pack"]; None: no pack) unpacked into a new
    private directory (mode 0700) for as long as the block runs, then
    removed, also on SIGTERM or SIGHUP: yields that directory, or None."""
    name = meta.get("pack")
    if not name:
        yield None
        return
    with _exit_on_signals():
        into = tempfile.mkdtemp(prefix="perftramp-report-")
        try:
            unpack(directory, name, into)
            yield into
        finally:
            shutil.rmtree(into, ignore_errors=True)


@contextlib.contextmanager
def staged(directory, meta, warn):
    """Everything perf script needs to read the recording in `directory`
    (meta as read_meta checked it), put where perf looks while the block
    runs: yields the path of the perf data file to read."""
    with unpacked(directory, meta) as into, \
            maps_staged(directory, meta.get("maps", []), _perf.MAP_DIR), \
            jit_staged(directory, meta.get("jit_dir"), warn,
                       None if into is None else os.path.join(into, JIT)):
        if into is None:
            yield data_path(directory, meta)
        else:
            yield os.path.join(into, JIT_DATA)
