"""perftramp report: what a recording shows, for Python programmers.

    perftramp report [DIR] [--format text|collapsed|html|speedscope] [-o FILE]
                     [--keep-internal]

Runs `perf script` over DIR's data and folds the samples in C
(perftramp._perftramp.fold): the interpreter's own frames between Python
frames are folded away unless --keep-internal; native frames of other
libraries stay.  Formats:
  text        top Python functions by self and total samples, with files
  collapsed   one line per stack: frame;frame;... COUNT (flamegraph.pl input)
  html        a self-contained interactive flame graph
  speedscope  JSON that https://www.speedscope.app opens
"""
import contextlib
import json
import os
import subprocess
import sys

from ._common import perf_path, say
from .record import newest_recording

FORMATS = ("text", "collapsed", "html", "speedscope")


def add_parser(subparsers):
    p = subparsers.add_parser("report", help="show a recording")
    p.add_argument("directory", nargs="?", help="a perftramp record directory (default: "
                   "the newest ./perftramp-* one)")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument("-o", "--output", help="write here instead of stdout")
    p.add_argument("--keep-internal", action="store_true",
                   help="keep the interpreter's frames between Python frames")
    p.add_argument("--top", type=int, default=25, help="functions in the text report (25)")
    p.set_defaults(func=main)


@contextlib.contextmanager
def maps_in_tmp(directory, names):
    """perf reads maps from /tmp only: puts the recording's maps there for as
    long as perf runs (never over an existing file), then takes them away."""
    placed = []
    try:
        for name in names:
            src = os.path.join(directory, "maps", name)
            dst = os.path.join("/tmp", name)
            try:
                fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
                out.write(f.read())
            placed.append(dst)
        yield
    finally:
        for path in placed:
            with contextlib.suppress(OSError):
                os.unlink(path)


def fold(directory, keep_internal):
    """({stack: count}, samples, description) of a recording."""
    from perftramp import _perftramp

    perf = perf_path()
    if perf is None:
        raise SystemExit("perftramp: perf is not installed (apt-get install linux-perf)")
    meta_path = os.path.join(directory, "perftramp.json")
    meta = {}
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    data = os.path.join(directory, meta.get("data", "perf.data"))
    if not os.path.exists(data):
        raise SystemExit("perftramp: no %s: is %s a perftramp record directory?"
                         % (os.path.basename(data), directory))
    with maps_in_tmp(directory, meta.get("maps", [])):
        proc = subprocess.Popen([perf, "script", "-i", data, "-F", "comm,tid,ip,sym,dso"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=directory)
        try:
            stacks, samples = _perftramp.fold(proc.stdout.fileno(), keep_internal=keep_internal)
        finally:
            proc.stdout.close()
            err = proc.stderr.read().decode(errors="replace")
            proc.wait()
    if proc.returncode != 0:
        sys.stderr.write(err)
        raise SystemExit("perftramp: perf script failed")
    return stacks, samples, meta


def split_python(frame):
    """("foo", "/app.py") for "py::foo:/app.py"; None for other frames."""
    if not frame.startswith("py::"):
        return None
    name, _, filename = frame[4:].partition(":")
    return name, filename


def text_report(stacks, samples, meta, top):
    self_counts, total_counts = {}, {}
    for stack, count in stacks.items():
        py = [f for f in stack.split(";") if f.startswith("py::")]
        if not py:
            continue
        self_counts[py[-1]] = self_counts.get(py[-1], 0) + count
        for frame in set(py):
            total_counts[frame] = total_counts.get(frame, 0) + count
    lines = ["perftramp report: %d samples%s" % (
        samples, ", %s backend, command: %s" % (meta["backend"], " ".join(meta["command"]))
        if meta.get("backend") else "")]
    if not total_counts:
        lines.append("no Python frames in this recording")
        return "\n".join(lines) + "\n"
    for title, counts in (("by self samples", self_counts), ("by total samples", total_counts)):
        lines.append("")
        lines.append("Python functions %s:" % title)
        lines.append("%8s %8s  %-40s %s" % ("self", "total", "function", "file"))
        ranked = sorted(counts, key=lambda f: (-counts[f], f))[:top]
        for frame in ranked:
            name, filename = split_python(frame)
            lines.append("%7.2f%% %7.2f%%  %-40s %s" % (
                100.0 * self_counts.get(frame, 0) / samples,
                100.0 * total_counts.get(frame, 0) / samples, name, filename))
    return "\n".join(lines) + "\n"


def collapsed(stacks):
    return "".join("%s %d\n" % (s, c) for s, c in sorted(stacks.items()))


def speedscope(stacks, samples, meta):
    frames, index = [], {}
    sample_list, weights = [], []
    for stack, count in sorted(stacks.items()):
        ids = []
        for frame in stack.split(";"):
            if frame not in index:
                index[frame] = len(frames)
                entry = {"name": frame}
                py = split_python(frame)
                if py is not None:
                    entry = {"name": py[0], "file": py[1]}
                frames.append(entry)
            ids.append(index[frame])
        sample_list.append(ids)
        weights.append(count)
    return json.dumps({
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": frames},
        "profiles": [{
            "type": "sampled", "name": " ".join(meta.get("command", [])) or "perftramp",
            "unit": "none", "startValue": 0, "endValue": sum(weights),
            "samples": sample_list, "weights": weights,
        }],
        "name": "perftramp", "exporter": "perftramp",
    })


def tree(stacks):
    root = {"n": "all", "v": 0, "c": {}}
    for stack, count in stacks.items():
        node = root
        node["v"] += count
        for frame in stack.split(";"):
            node = node["c"].setdefault(frame, {"n": frame, "v": 0, "c": {}})
            node["v"] += count

    def pack(node):
        return [node["n"], node["v"], [pack(c) for c in
                                      sorted(node["c"].values(), key=lambda c: c["n"])]]
    return pack(root)


HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>perftramp flame graph</title>
<style>
body { font: 12px sans-serif; margin: 8px; }
#chart { position: relative; width: 100%%; }
.f { position: absolute; height: 17px; overflow: hidden; white-space: nowrap;
     box-sizing: border-box; border: 1px solid #fff; padding-left: 2px; cursor: pointer;
     line-height: 15px; }
#info { height: 18px; margin: 4px 0; }
</style></head><body>
<div><b>perftramp</b> &mdash; %(title)s &mdash; click a frame to zoom, click the bottom
bar to reset</div><div id="info"></div><div id="chart"></div>
<script>
var DATA = %(data)s;
var chart = document.getElementById('chart'), info = document.getElementById('info');
function colour(name) {
  if (name.indexOf('py::') === 0) return 'hsl(' + (30 + hash(name) %% 30) + ',85%%,65%%)';
  return 'hsl(' + (200 + hash(name) %% 40) + ',40%%,75%%)';
}
function hash(s) { var h = 0; for (var i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0; return Math.abs(h); }
function depth(n) { var d = 0; n[2].forEach(function (c) { d = Math.max(d, depth(c)); }); return d + 1; }
function draw(focus) {
  chart.innerHTML = '';
  var total = focus[1], width = chart.clientWidth, levels = depth(focus);
  chart.style.height = (levels * 18) + 'px';
  (function place(node, x, level) {
    var w = node[1] / total * width;
    if (w < 1) return;
    var d = document.createElement('div');
    d.className = 'f'; d.style.left = x + 'px'; d.style.width = w + 'px';
    d.style.top = ((levels - level - 1) * 18) + 'px';
    d.style.background = colour(node[0]);
    d.textContent = node[0];
    var pct = (100 * node[1] / DATA[1]).toFixed(2);
    d.title = node[0] + ' (' + node[1] + ' samples, ' + pct + '%%)';
    d.onmouseover = function () { info.textContent = d.title; };
    d.onclick = function () { draw(node === focus ? DATA : node); };
    chart.appendChild(d);
    var cx = x;
    node[2].forEach(function (c) { place(c, cx, level + 1); cx += c[1] / total * width; });
  })(focus, 0, 0);
}
draw(DATA);
window.onresize = function () { draw(DATA); };
</script></body></html>
"""


def html(stacks, samples, meta):
    title = "%d samples%s" % (samples, (" of " + " ".join(meta["command"]))
                              if meta.get("command") else "")
    data = json.dumps(tree(stacks)).replace("</", "<\\/")
    return HTML % {"title": title.replace("&", "&amp;").replace("<", "&lt;"), "data": data}


def main(args):
    directory = args.directory or newest_recording()
    if directory is None:
        say("report: no perftramp-* directory here; give one, or run perftramp record")
        return 2
    stacks, samples, meta = fold(os.path.abspath(directory), args.keep_internal)
    if args.format == "text":
        out = text_report(stacks, samples, meta, args.top)
    elif args.format == "collapsed":
        out = collapsed(stacks)
    elif args.format == "html":
        out = html(stacks, samples, meta)
    else:
        out = speedscope(stacks, samples, meta)
    if args.output:
        with open(args.output, "w") as f:
            f.write(out)
        say("wrote %s" % args.output)
    else:
        sys.stdout.write(out)
    return 0
