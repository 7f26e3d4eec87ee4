"""The HTML flame graph (formats/html.py, formats/flamegraph.html) in a real
headless browser: Debian's chromium, driven with the standard library only.

A screenshot from `chromium --headless --screenshot` checks what a person
sees first (the top of the page is the graph, not white); the rest runs
JavaScript and real mouse and keyboard input through the DevTools protocol
over a pipe (--remote-debugging-pipe: NUL-terminated JSON messages on fds 3
and 4), reading the page's state back: search, zoom by click, zoom kept on
resize and in the URL, colours by kind, tooltips, untrusted frame names.

Pages are rendered in-process from a formats.Profile built here (the
formats package loaded from the source tree: it needs no extension), and
once from a real `perftramp record` + `perftramp report --format html -o`.
Every wait is for a state the page reports (data-ready, data-renders,
data-width), up to a generous deadline, never a fixed sleep.

Skipped, saying so, when chromium is absent; `make test` installs it
(scripts/prepare.sh) with
    apt-get install -y --no-install-recommends chromium
"""
import json
import os
import queue
import shutil
import struct
import subprocess
import threading
import time
import zlib
from pathlib import Path

import pytest
from sourcetree import load_formats

from processes import register_pids, run

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DEADLINE = 90.0  # seconds for any one wait: the machine may be loaded

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium: apt-get install -y --no-install-recommends chromium (make test does)")


def write_page(path, stacks, command=("python3", "app.py"), truncated=0):
    formats, html = load_formats()
    profile = formats.Profile(stacks, sum(stacks.values()), {"command": list(command)},
                              truncated)
    path.write_text(html.render(profile, None), encoding="utf-8")
    return path


def py(name, filename="/srv/app.py"):
    return "py::%s:%s" % (name, filename)


def sample_stacks():
    """A small program: <module> > main > work > (compute > hot | io > write_[k]),
    a recursion (fib calls fib), native frames, a cut stack."""
    base = ["python3", py("<module>"), py("main")]
    return {
        ";".join(base + [py("work"), py("compute"), py("hot")]): 600,
        ";".join(base + [py("work"), py("compute"), "PyNumber_Add", "long_add"]): 100,
        ";".join(base + [py("work"), py("io"), "__libc_write", "ksys_write_[k]"]): 150,
        ";".join(base + [py("fib"), py("fib"), py("fib"), py("hot_fib")]): 100,
        ";".join(base + [py("fib"), py("hot_fib")]): 20,
        ";".join(["python3", "[truncated]", py("compute"), py("hot")]): 30,
    }


def deep_stacks(depth=250):
    """Stacks `depth` Python frames deep: root-at-the-bottom layouts drew the
    graph thousands of pixels below the first screen."""
    chain = ["python3"] + [py("level_%d" % i) for i in range(depth)]
    return {";".join(chain): 900, ";".join(chain[:depth // 2] + [py("side")]): 100}


# -- PNG ------------------------------------------------------------------


def png_rows(data, rows):
    """(width, [row of (r, g, b) tuples]) of the first `rows` rows of an
    8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, bit_depth, colour_type, _, _, interlace = header
    assert bit_depth == 8 and colour_type in (2, 6) and interlace == 0, header
    channels = 3 if colour_type == 2 else 4
    stride = width * channels
    raw = zlib.decompressobj().decompress(b"".join(idat), (stride + 1) * min(rows, height))
    out, previous = [], bytearray(stride)
    for y in range(min(rows, height)):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        kind, row = line[0], bytearray(line[1:])
        for x in range(stride):
            a = row[x - channels] if x >= channels else 0
            b = previous[x]
            c = previous[x - channels] if x >= channels else 0
            if kind == 1:
                row[x] = (row[x] + a) & 0xFF
            elif kind == 2:
                row[x] = (row[x] + b) & 0xFF
            elif kind == 3:
                row[x] = (row[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[x] = (row[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        out.append([tuple(row[x:x + 3]) for x in range(0, stride, channels)])
        previous = row
    return width, out


def is_python_orange(rgb):
    r, g, b = rgb
    return r > 200 and 110 < g < 215 and b < 140


# -- the browser ------------------------------------------------------------


def chromium_args(profile_dir, *extra):
    args = [CHROMIUM, "--headless", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", "--hide-scrollbars",
            "--user-data-dir=%s" % profile_dir]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # chromium refuses to run as root with it
    return args + list(extra)


def chromium_env(home):
    """chromium's environment: $HOME and the XDG directories in the test's
    temporary directory, so that nothing is written to the user's home."""
    env = dict(os.environ, HOME=str(home))
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        env[var] = str(home / var.lower())
    return env


class Browser:
    """One headless chromium, driven over --remote-debugging-pipe."""

    def __init__(self, tmp_path, width=1000, height=700):
        home = tmp_path / "chromium-home"
        home.mkdir(exist_ok=True)
        self.log = tmp_path / "chromium.log"
        # The pipes moved above fd 4 first, so that the dup2s to 3 and 4
        # cannot overwrite one another.
        to_browser = [os.dup(fd) for fd in os.pipe()]
        from_browser = [os.dup(fd) for fd in os.pipe()]
        for fd in to_browser + from_browser:
            os.set_inheritable(fd, False)
        log = os.open(str(self.log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        args = chromium_args(home / "profile", "--remote-debugging-pipe",
                             "--window-size=%d,%d" % (width, height), "about:blank")
        self.pid = os.posix_spawn(args[0], args, chromium_env(home), file_actions=[
            (os.POSIX_SPAWN_DUP2, to_browser[0], 3),
            (os.POSIX_SPAWN_DUP2, from_browser[1], 4),
            (os.POSIX_SPAWN_DUP2, log, 1),
            (os.POSIX_SPAWN_DUP2, log, 2),
        ])
        os.close(log)
        os.close(to_browser[0])
        os.close(from_browser[1])
        self.out, self.inp = to_browser[1], from_browser[0]
        self.next_id = 0
        self.replies = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.session = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        self.size(width, height)

    def _read(self):
        pending = b""
        while True:
            chunk = os.read(self.inp, 1 << 16)
            if not chunk:
                self.replies.put(None)
                return
            pending += chunk
            while b"\0" in pending:
                message, pending = pending.split(b"\0", 1)
                reply = json.loads(message)
                if "id" in reply:
                    self.replies.put(reply)

    def call(self, method, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self.out, data):]
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                reply = self.replies.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("chromium did not answer %s in %.0f s; log:\n%s"
                                     % (method, DEADLINE, self.log.read_text())) from None
            if reply is None:
                raise AssertionError("chromium exited; log:\n%s" % self.log.read_text())
            if reply["id"] == self.next_id:
                if "error" in reply:
                    raise AssertionError("%s: %s" % (method, reply["error"]))
                return reply["result"]

    def js(self, expression):
        """The value of a JavaScript expression in the page (JSON-able)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError("%s: %s" % (expression, result["exceptionDetails"]))
        return result["result"].get("value")

    def wait(self, expression, what):
        """Polls `expression` until it is true; its last value otherwise
        fails the test after DEADLINE."""
        deadline = time.monotonic() + DEADLINE
        while True:
            value = self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("waited %.0f s for %s (%s)" % (DEADLINE, what, expression))
            time.sleep(0.05)

    def open(self, path, fragment=""):
        """Loads the page afresh (by way of about:blank: a navigation that
        changes only the fragment would not reload it), until it is drawn."""
        self.call("Page.navigate", url="about:blank")
        self.wait("location.href === 'about:blank'", "about:blank")
        self.call("Page.navigate", url=path.as_uri() + fragment)
        self.wait("document.readyState === 'complete' && "
                  "document.documentElement.dataset.ready === '1'", "the page to be drawn")

    def size(self, width, height):
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def renders(self):
        return int(self.js("document.getElementById('chart').dataset.renders"))

    def mouse(self, kind, x, y):
        self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                  clickCount=1 if kind != "mouseMoved" else 0)

    def click(self, x, y):
        self.mouse("mouseMoved", x, y)
        self.mouse("mousePressed", x, y)
        self.mouse("mouseReleased", x, y)

    def frames(self):
        """Every drawn frame: {"i", "name" (its tooltip's first line), "cls",
        "x", "y", "w", "text", "bg"}."""
        return self.js("""Array.prototype.map.call(document.querySelectorAll('#chart .f'),
            function (el) { var r = el.getBoundingClientRect();
              return {i: +el.dataset.i, cls: el.className, x: r.left, y: r.top, w: r.width,
                      h: r.height, text: el.textContent,
                      bg: getComputedStyle(el).backgroundColor}; })""")

    def names(self):
        return self.js("DATA.names")

    def frame_named(self, name):
        """The widest drawn frame of that name."""
        names = self.names()
        nodes = self.js("DATA.node")
        hits = [f for f in self.frames() if names[nodes[f["i"]]] == name]
        assert hits, (name, [names[nodes[f["i"]]] for f in self.frames()])
        return max(hits, key=lambda f: f["w"])

    def close(self):
        try:
            self.session = None
            self.call("Browser.close")
        except AssertionError:
            pass
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
        else:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        os.close(self.out)
        os.close(self.inp)


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path)
    yield b
    b.close()


# -- the tests --------------------------------------------------------------


def test_first_screen_shows_the_graph(tmp_path):
    """What a person sees on opening the page, through chromium's own
    --screenshot: the graph of a 250-frame-deep program starts at the top,
    in Python's colour."""
    page = write_page(tmp_path / "deep.html", deep_stacks())
    shot = tmp_path / "shot.png"
    home = tmp_path / "home"
    home.mkdir()
    proc = subprocess.run(chromium_args(home / "profile", "--window-size=1000,700",
                                        "--screenshot=%s" % shot, page.as_uri()),
                          env=chromium_env(home), capture_output=True, text=True,
                          timeout=DEADLINE * 2)
    assert shot.exists(), proc.stdout + proc.stderr
    width, rows = png_rows(shot.read_bytes(), 350)
    top = [px for row in rows[:350] for px in row]
    not_white = sum(1 for px in top if px != (255, 255, 255))
    orange = sum(1 for px in top if is_python_orange(px))
    assert not_white > 0.4 * len(top), "the first screen is mostly white"
    assert orange > 0.25 * len(top), "no Python frames in the first screen"


def test_search_highlights_and_counts_each_sample_once(browser, tmp_path):
    stacks = sample_stacks()
    page = write_page(tmp_path / "p.html", stacks)
    browser.open(page)
    total = sum(stacks.values())
    browser.js("document.getElementById('search').focus()")
    before = browser.renders()
    browser.call("Input.insertText", text="FIB")  # case-insensitive
    browser.wait("+document.getElementById('chart').dataset.renders > %d && "
                 "document.getElementById('matched').textContent !== ''" % before,
                 "the search to be drawn")
    # fib is three times on one stack: its samples count once.
    expected = sum(c for s, c in stacks.items() if "fib" in s)
    assert expected == 120
    assert browser.js("document.getElementById('matched').textContent") == \
        "matched: %.2f%% of samples (%d of %d)" % (100.0 * expected / total, expected, total)
    names, nodes = browser.names(), browser.js("DATA.node")
    for f in browser.frames():
        name = names[nodes[f["i"]]]
        assert (" m" in f["cls"]) == ("fib" in name.lower()), (name, f["cls"])
        if " m" in f["cls"]:
            assert f["bg"] == "rgb(224, 64, 224)", f
    assert browser.js("location.hash") == "#search=FIB"
    # The search in the URL: a reload (or a shared link) shows it again.
    browser.open(page, "#search=hot")
    assert browser.js("document.getElementById('search').value") == "hot"
    hot = sum(c for s, c in stacks.items() if "hot" in s)
    assert "(%d of %d)" % (hot, total) in browser.js(
        "document.getElementById('matched').textContent")
    # Search and zoom together: the share is still of all samples, the
    # zoomed frames highlighted.
    compute = browser.frame_named(py("compute"))["i"]
    browser.open(page, "#search=hot&zoom=%d" % compute)
    assert browser.js("location.hash") == "#search=hot&zoom=%d" % compute
    assert "(%d of %d)" % (hot, total) in browser.js(
        "document.getElementById('matched').textContent")
    lit = [f for f in browser.frames() if " m" in f["cls"]]
    assert [f["text"] for f in lit] == ["hot (app.py)"]
    # Escape clears it.
    browser.js("document.getElementById('search').focus()")
    browser.call("Input.dispatchKeyEvent", type="keyDown", key="Escape", code="Escape",
                 windowsVirtualKeyCode=27)
    browser.wait("document.getElementById('matched').textContent === '' && "
                 "location.hash === '#zoom=%d'" % compute, "the search to be cleared")
    assert not [f for f in browser.frames() if " m" in f["cls"]]


def test_click_zooms_and_resize_keeps_the_zoom(browser, tmp_path):
    page = write_page(tmp_path / "p.html", sample_stacks())
    browser.open(page)
    chart_width = browser.js("document.getElementById('chart').clientWidth")
    work = browser.frame_named(py("work"))
    assert work["w"] < chart_width * 0.9
    before = browser.renders()
    browser.click(work["x"] + work["w"] / 2, work["y"] + work["h"] / 2)
    browser.wait("+document.getElementById('chart').dataset.renders > %d" % before,
                 "the zoom to be drawn")
    assert browser.js("+document.getElementById('chart').dataset.zoom") == work["i"]
    assert browser.js("location.hash") == "#zoom=%d" % work["i"]
    left = browser.js("document.getElementById('chart').getBoundingClientRect().left")

    def full_width(frame, width):
        return abs(frame["x"] - left) < 0.5 and abs(frame["w"] - width) < 0.5

    zoomed = browser.frame_named(py("work"))
    assert full_width(zoomed, chart_width)
    # The zoomed frame's callees share its width; frames outside it are gone.
    compute, io = browser.frame_named(py("compute")), browser.frame_named(py("io"))
    assert compute["w"] + io["w"] == pytest.approx(chart_width, abs=1)
    assert not [f for f in browser.frames() if "fib" in f["text"]]
    # Its callers stay above it, full width and dimmed.
    main = browser.frame_named(py("main"))
    assert "anc" in main["cls"] and main["y"] < zoomed["y"]

    # A narrower window: laid out again for its width, the zoom kept.
    browser.size(640, 700)
    browser.wait("+document.getElementById('chart').dataset.width < %d" % chart_width,
                 "the relayout to the new width")
    narrow = browser.js("document.getElementById('chart').clientWidth")
    assert browser.js("+document.getElementById('chart').dataset.width") == narrow
    assert browser.js("+document.getElementById('chart').dataset.zoom") == work["i"]
    assert full_width(browser.frame_named(py("work")), narrow)
    assert max(f["x"] + f["w"] for f in browser.frames()) <= left + narrow + 0.5

    # The zoom in the URL: opened again with it, the page starts zoomed.
    browser.open(page, "#zoom=%d" % work["i"])
    assert full_width(browser.frame_named(py("work")), narrow)

    # Reset: the whole graph again.
    before = browser.renders()
    browser.js("document.getElementById('reset').click()")
    browser.wait("+document.getElementById('chart').dataset.renders > %d && "
                 "location.hash === ''" % before, "the reset")
    assert browser.js("+document.getElementById('chart').dataset.zoom") == 0
    assert browser.frame_named(py("fib"))
    # A zoom index that is not a node is ignored, not an error.
    browser.open(page, "#zoom=999999")
    assert browser.js("+document.getElementById('chart').dataset.zoom") == 0


def test_colours_by_kind_and_tooltips(browser, tmp_path):
    stacks = sample_stacks()
    page = write_page(tmp_path / "p.html", stacks)
    browser.open(page)
    kinds = {"python": browser.frame_named(py("compute")),
             "native": browser.frame_named("PyNumber_Add"),
             "kernel": browser.frame_named("ksys_write_[k]"),
             "truncated": browser.frame_named("[truncated]"),
             "process": browser.frame_named("python3")}
    classes = {"python": "k-p", "native": "k-n", "kernel": "k-k", "truncated": "k-t",
               "process": "k-r"}
    for kind, f in kinds.items():
        assert classes[kind] in f["cls"].split(), (kind, f)
    colours = {kind: f["bg"] for kind, f in kinds.items()}
    assert len(set(colours.values())) == len(colours), colours
    assert browser.js("Array.prototype.map.call(document.querySelectorAll('.legend > span'),"
                      " function (s) { return s.textContent; })") == \
        ["Python", "native", "kernel", "truncated stack", "all / process", "matched"]
    # Labels: a Python frame by function and file's base name, a kernel one
    # without its _[k].
    assert kinds["python"]["text"] == "compute (app.py)"
    assert kinds["kernel"]["text"] == "ksys_write"
    # The tooltip: name, kind, samples, share.
    compute = kinds["python"]
    browser.mouse("mouseMoved", compute["x"] + 5, compute["y"] + 5)
    browser.wait("!document.getElementById('tip').hidden", "the tooltip")
    total = sum(stacks.values())
    samples = sum(c for s, c in stacks.items() if py("compute") in s and "[truncated]" not in s)
    assert browser.js("document.getElementById('tip').textContent") == \
        "%s\nPython function\n%d samples, %.2f%% of all" % (py("compute"), samples,
                                                           100.0 * samples / total)
    assert browser.js("document.getElementById('info').textContent").startswith(py("compute"))


HOSTILE = [
    '</script><img src=x onerror="window.pwned=1">',
    "<b>bold</b>&amp<!--",  # no ";": it separates frames
    '"quoted" \'single\' `back` ${x} $title \\ \u2028\u2029',
    "py::</script><script>window.pwned=2</script>:/x/<evil>.py",
]


def test_untrusted_frame_names_stay_text(browser, tmp_path):
    stacks = {"python3;" + name: 10 for name in HOSTILE}
    command = ("python3", "<img src=y onerror=\"window.pwned=3\">")
    page = write_page(tmp_path / "evil.html", stacks, command=command)
    text = page.read_text(encoding="utf-8")
    # One script element, one end tag; no markup of the names anywhere.
    assert text.count("</script>") == 1 and text.count("<script>") == 1
    assert "<img" not in text and "<b>bold" not in text and "<!--\"" not in text
    browser.open(page)
    assert browser.js("window.pwned === undefined")
    assert browser.js("document.querySelectorAll('img, script').length") == 1
    assert browser.js("document.querySelectorAll('#chart .f *, #tip *').length") == 0
    # Each name reaches the page exactly as it is, as text.
    assert sorted(browser.js("DATA.names")) == sorted(["all", "python3"] + HOSTILE)
    assert browser.js("document.title").endswith(" ".join(command))
    names, nodes = browser.names(), browser.js("DATA.node")
    for f in browser.frames():
        browser.mouse("mouseMoved", f["x"] + 2, f["y"] + 2)
        browser.wait("document.getElementById('tip').textContent.indexOf(%s) === 0"
                     % json.dumps(names[nodes[f["i"]]] + "\n"), "the tooltip of %d" % f["i"])
    # A search for markup is a search, too.
    browser.open(page, "#search=" + "%3C%2Fscript%3E")
    assert browser.js("window.pwned === undefined")
    assert "(20 of 40)" in browser.js("document.getElementById('matched').textContent")


def test_truncation_advice_on_the_page(browser, tmp_path):
    stacks = sample_stacks()
    truncated = sum(c for s, c in stacks.items() if "[truncated]" in s)
    formats, _ = load_formats()
    advice_of = getattr(formats, "truncation_advice", None)
    # the meta write_page gives: the advice names the recorded command
    profile = formats.Profile(stacks, sum(stacks.values()), {"command": ["python3", "app.py"]},
                              truncated)
    expected = advice_of(profile) if advice_of else None
    page = write_page(tmp_path / "p.html", stacks, truncated=truncated)
    browser.open(page)
    if expected:
        assert browser.js("document.getElementById('advice').hidden") is False
        assert browser.js("document.getElementById('advice').textContent") == expected
    else:
        assert browser.js("document.getElementById('advice').hidden") is True
    # A whole profile has no advice box.
    whole = {s: c for s, c in stacks.items() if "[truncated]" not in s}
    browser.open(write_page(tmp_path / "whole.html", whole))
    if advice_of is None or advice_of(formats.Profile(whole, 1, {}, 0)) is None:
        assert browser.js("document.getElementById('advice').hidden") is True


def test_advice_is_text(browser, tmp_path, monkeypatch):
    """Whatever formats.truncation_advice() says is shown as text, on
    several lines if it has them."""
    _, html = load_formats()
    said = "30 of 1000 samples are cut:\nrun <perftramp record --stack-size 65528> & see"
    monkeypatch.setattr(html, "truncation_advice", lambda profile: said)
    browser.open(write_page(tmp_path / "p.html", sample_stacks(), truncated=30))
    assert browser.js("document.getElementById('advice').hidden") is False
    assert browser.js("document.getElementById('advice').textContent") == said
    assert browser.js("document.getElementById('advice').children.length") == 0
    assert browser.js("document.getElementById('advice').getClientRects()[0].height") > 24


def test_empty_profile(browser, tmp_path):
    browser.open(write_page(tmp_path / "empty.html", {}))
    assert browser.js("document.getElementById('empty').textContent") == \
        "no samples in this recording"
    browser.open(write_page(tmp_path / "empty.html", {}), "#search=x")
    assert "(0 of 0)" in browser.js("document.getElementById('matched').textContent")


def test_data_is_compact():
    """The tree as a string table and flat arrays: each name once, a few
    bytes a node; the old nested JSON repeated every name at every node."""
    formats, html = load_formats()
    long_names = [py("function_%d" % i, "/usr/lib/python3/dist-packages/pkg/mod_%d.py" % (i % 7))
                  for i in range(60)]
    stacks = {}
    for s in range(3000):
        chain = ["python3"] + [long_names[(s * 7 + d * 13) % 60] for d in range(s % 40 + 20)]
        stacks[";".join(chain)] = 1 + s % 5
    table = html.tree(stacks)
    page = html.render(formats.Profile(stacks, sum(stacks.values()), {}), None)
    for name in long_names:
        assert page.count(name) == 1
    nodes = len(table["node"])
    template = len(Path(html.TEMPLATE).read_text())
    names_size = sum(len(n) + 3 for n in table["names"])
    assert len(page) < template + names_size + 16 * nodes, (len(page), nodes)
    # The table decodes to the same tree: depths, values of children.
    depth, d = [], -1
    for delta in table["depth"]:
        d += delta
        depth.append(d)
    assert depth[0] == 0 and table["names"][table["node"][0]] == "all"
    assert table["value"][0] == sum(stacks.values())
    assert max(depth) == max(s.count(";") + 1 for s in stacks)


def _rgb(colour):
    return tuple(int(v) for v in colour[colour.index("(") + 1:colour.index(")")].split(",")[:3])


def test_differential_flame_graph(browser, tmp_path):
    """perftramp diff --format html: NEW's shape, each frame coloured by its
    change of share against BASE: grown red, shrunk blue, the same grey; the
    tooltip says both shares; the legend says what the colours mean."""
    base = sample_stacks()
    new = dict(base)
    hot = ";".join(["python3", py("<module>"), py("main"), py("work"), py("compute"), py("hot")])
    new[hot] *= 3  # hot took three times the samples
    _, html = load_formats()
    page = tmp_path / "diff.html"
    page.write_text(html.page("differential", None, html.tree(new, base)), encoding="utf-8")
    browser.open(page)
    grew, shrank = browser.frame_named(py("hot")), browser.frame_named(py("io"))
    r, g, b = _rgb(grew["bg"])
    assert r > 200 and r > g + 60 and r > b + 60, grew
    r, g, b = _rgb(shrank["bg"])
    assert b > r + 60, shrank
    assert "k-p" in grew["cls"].split()  # the kind stays in its class
    browser.mouse("mouseMoved", grew["x"] + 5, grew["y"] + 5)
    browser.wait("!document.getElementById('tip').hidden", "the tooltip")
    tip = browser.js("document.getElementById('tip').textContent")
    total, base_total = sum(new.values()), sum(base.values())
    change = 100.0 * (new[hot] / total - base[hot] / base_total)
    assert tip.endswith("base: %d samples, %.2f%% of all; change: +%.2f points"
                        % (base[hot], 100.0 * base[hot] / base_total, change)), tip
    assert browser.js("document.getElementById('diff-legend').hidden") is False
    assert browser.js("document.querySelector('.legend').hidden") is True
    # an unchanged profile is grey throughout
    page.write_text(html.page("same", None, html.tree(base, base)), encoding="utf-8")
    browser.open(page)
    r, g, b = _rgb(browser.frame_named(py("hot"))["bg"])
    assert abs(r - g) < 8 and abs(g - b) < 8


@pytest.mark.edge_versions
@pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")
def test_real_recording(python, tmp_path):
    """examples/my_script.py through `perftramp record` and `perftramp
    report --format html -o`: the chain foo < bar < baz < <module> is drawn
    frame under frame, and a search for foo matches most samples."""
    script = tmp_path / "app.py"
    script.write_text((ROOT / "examples" / "my_script.py").read_text()
                      .replace("baz(1000000)", "baz(10000000)"))
    run(python, ["-m", "perftramp", "record", "-o", "rec", "--", python.exe, str(script)],
        cwd=str(tmp_path), timeout=600)
    meta = json.loads((tmp_path / "rec" / "perftramp.json").read_text())
    register_pids(*meta["pids"])
    page = tmp_path / "graph.html"
    run(python, ["-m", "perftramp", "report", "rec", "--format", "html", "-o", str(page)],
        cwd=str(tmp_path), timeout=600)
    b = Browser(tmp_path)
    try:
        b.open(page)
        chain = [b.frame_named(py(f, str(script))) for f in ("<module>", "baz", "bar", "foo")]
        for caller, callee in zip(chain, chain[1:]):
            assert callee["y"] == pytest.approx(caller["y"] + caller["h"], abs=0.5)
            assert caller["x"] - 0.5 <= callee["x"] and \
                callee["x"] + callee["w"] <= caller["x"] + caller["w"] + 0.5
        assert "k-p" in chain[-1]["cls"]
        b.open(page, "#search=py%3A%3Afoo%3A")
        matched = b.js("document.getElementById('matched').textContent")
        assert float(matched.split()[1].rstrip("%")) > 50, matched
    finally:
        b.close()
