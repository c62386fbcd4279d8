"""Flame graphs of live memory: collapsed stacks and a self-contained SVG.

Both take the aggregate groups `memleak top` computes: objects with
`.bytes`, `.count` and `.frames` (innermost first), each frame with
`.function`, `.file`, `.line`, `.object`, `.pc` and `.inlined`.

`folded_lines` writes the collapsed-stack format that flamegraph.pl,
inferno and speedscope read: `root;caller;...;allocating_function WEIGHT`.
`render_svg` draws the same tree as one SVG file with its own script:
click a frame to zoom into it, click the bottom frame (or press Escape)
to zoom out, Ctrl-F or the Search button to highlight frames by regular
expression; every frame has a tooltip with its function, source lines,
bytes, blocks and share of the total.

No gdb import: the commands call this with plain objects, and so do tests.
"""

import hashlib
import os
from xml.sax.saxutils import escape, quoteattr

WEIGHTS = ("bytes", "count")

# Geometry of the SVG, in pixels. CHAR_WIDTH is the advance of the
# monospace font at FONT_SIZE, used to cut labels to their frame.
WIDTH = 1200
PAD = 10
FRAME_HEIGHT = 17
FONT_SIZE = 12
CHAR_WIDTH = 7.3
TOP = 56
BOTTOM = 34
# Frames narrower than this are not drawn; their weight still counts in
# their parent's width, so the picture never misstates a total.
MIN_WIDTH = 0.1

_SYSTEM_PREFIXES = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/", "/usr/libexec/")


def _weight_of(group, weight):
    if weight not in WEIGHTS:
        raise ValueError("weight must be 'bytes' or 'count', not %r" % (weight,))
    return int(getattr(group, weight))


def frame_name(frame):
    """The name a frame has in the graph: its function, else its object, else its pc."""
    name = getattr(frame, "function", None)
    if not name:
        obj = getattr(frame, "object", None)
        pc = getattr(frame, "pc", None)
        if obj:
            name = "[%s]" % os.path.basename(obj)
        elif pc:
            name = "0x%x" % pc
        else:
            name = "??"
    # `;` separates frames in the folded format and a line holds one stack.
    return " ".join(name.replace(";", ":").split())


def folded_lines(groups, weight="bytes"):
    """Collapsed stacks, root first, one line per distinct path of names.

    Groups whose paths have the same names (different call sites within the
    same functions) are summed into one line; lines come largest first, and
    lines of weight 0 are left out as flame graph tools ignore them.
    """
    totals = {}
    for group in groups:
        value = _weight_of(group, weight)
        path = ";".join(frame_name(frame) for frame in reversed(list(group.frames or ())))
        if not path:
            path = "[no stack]"
        totals[path] = totals.get(path, 0) + value
    ordered = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return ["%s %d" % (path, value) for path, value in ordered if value > 0]


def human_bytes(n):
    """1536 -> '1.5 KiB'; exact below 1 KiB."""
    if n < 1024:
        return "%d B" % n
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024.0
        if value < 1024 or unit == "PiB":
            return "%.1f %s" % (value, unit)
    return "%d B" % n


class _Node:
    __slots__ = ("name", "children", "bytes", "count", "sites", "objects", "inlined", "system")

    def __init__(self, name):
        self.name = name
        self.children = {}
        self.bytes = 0
        self.count = 0
        self.sites = {}
        self.objects = set()
        self.inlined = False
        self.system = False


def _site(frame):
    file = getattr(frame, "file", None)
    line = getattr(frame, "line", None)
    if file:
        return "%s:%d" % (file, line) if line else file
    pc = getattr(frame, "pc", None)
    return "0x%x" % pc if pc else "??"


def build_tree(groups):
    """The merged tree: one node per distinct path of names, root named 'all'."""
    root = _Node("all")
    for group in groups:
        nbytes, ncount = int(group.bytes), int(group.count)
        root.bytes += nbytes
        root.count += ncount
        node = root
        frames = list(group.frames or ())
        if not frames:
            frames = [None]
        for frame in reversed(frames):
            name = frame_name(frame) if frame is not None else "[no stack]"
            child = node.children.get(name)
            if child is None:
                child = node.children[name] = _Node(name)
            child.bytes += nbytes
            child.count += ncount
            if frame is not None:
                site = _site(frame)
                child.sites[site] = child.sites.get(site, 0) + nbytes
                obj = getattr(frame, "object", None)
                if obj:
                    child.objects.add(obj)
                    child.system = obj.startswith(_SYSTEM_PREFIXES)
                child.inlined = child.inlined or bool(getattr(frame, "inlined", False))
            node = child
    return root


def _color(node):
    """A stable fill per name: warm for program code, blue-grey for system libraries."""
    if node.name == "all":
        return "rgb(190,190,190)"
    digest = hashlib.md5(node.name.encode("utf-8", "replace")).digest()
    a, b, c = digest[0] / 255.0, digest[1] / 255.0, digest[2] / 255.0
    if node.system:
        r, g, bl = 110 + int(50 * a), 150 + int(40 * b), 190 + int(40 * c)
    else:
        r, g, bl = 205 + int(50 * c), int(80 + 150 * a), int(40 + 40 * b)
    if node.inlined:
        r, g, bl = (min(255, v + 25) for v in (r, g, bl))
    return "rgb(%d,%d,%d)" % (r, g, bl)


def short_name(name):
    """The name without its parameter list: `ns::f(int, char const*) const` -> `ns::f`."""
    end = len(name)
    if name.endswith(" const"):
        end -= len(" const")
    if end == 0 or name[end - 1] != ")":
        return name
    depth = 0
    for i in range(end - 1, -1, -1):
        if name[i] == ")":
            depth += 1
        elif name[i] == "(":
            depth -= 1
            if depth == 0:
                return name[:i] if i > 0 else name
    return name


def _label(name, width):
    """What fits in a frame: the name, else without parameters, else cut with '..'."""
    chars = int((width - 6) / CHAR_WIDTH)
    if chars < 3:
        return ""
    if len(name) <= chars:
        return name
    name = short_name(name)
    if len(name) <= chars:
        return name
    return name[:chars - 2] + ".."


def _tooltip(node, total_bytes, total_count, weight):
    part, whole = (node.bytes, total_bytes) if weight == "bytes" else (node.count, total_count)
    share = 100.0 * part / whole if whole else 0.0
    lines = [node.name + (" (inlined)" if node.inlined else "")]
    sites = sorted(node.sites.items(), key=lambda item: (-item[1], item[0]))
    for site, _ in sites[:3]:
        lines.append("  at " + site)
    if len(sites) > 3:
        lines.append("  and %d more source lines" % (len(sites) - 3))
    for obj in sorted(node.objects)[:2]:
        lines.append("  in " + obj)
    lines.append("%s (%d bytes) in %d block%s, %.2f%% of %s"
                 % (human_bytes(node.bytes), node.bytes, node.count,
                    "" if node.count == 1 else "s", share,
                    "live bytes" if weight == "bytes" else "live blocks"))
    return "\n".join(lines)


_STYLE = """
text { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: %(font)dpx; fill: #000; }
#title { font-size: 17px; font-weight: bold; }
#subtitle { font-size: 12px; fill: #444; }
.frame rect { stroke: #fff; stroke-width: 0.5; }
.frame text { pointer-events: none; }
.frame:hover rect { stroke: #000; stroke-width: 1; cursor: pointer; }
.frame.parent rect { opacity: 0.55; }
.hidden { display: none; }
.button { fill: #0645ad; cursor: pointer; }
.button:hover { text-decoration: underline; }
#details, #matched { fill: #222; }
""" % {"font": FONT_SIZE}

_SCRIPT = """
(function () {
  "use strict";
  var svg = document.documentElement;
  var PAD = %(pad)s, FULL = %(full)s, CHAR = %(char)s;
  var frames = Array.prototype.slice.call(document.querySelectorAll("g.frame"));
  var details = document.getElementById("details");
  var matched = document.getElementById("matched");
  var unzoom = document.getElementById("unzoom");
  var unit = svg.getAttribute("data-weight");
  var total = +svg.getAttribute("data-total");
  var searching = null;

  function num(g, a) { return +g.getAttribute(a); }
  function label(g, w) {
    var t = g.querySelector("text"), name = g.getAttribute("data-name");
    var n = Math.floor((w - 6) / CHAR);
    if (n < 3) { t.textContent = ""; return; }
    if (name.length > n) name = g.getAttribute("data-short");
    t.textContent = name.length <= n ? name : name.slice(0, n - 2) + "..";
  }
  function place(g, x, w) {
    var r = g.querySelector("rect"), t = g.querySelector("text");
    r.setAttribute("x", x.toFixed(2));
    r.setAttribute("width", Math.max(w, 0).toFixed(2));
    t.setAttribute("x", (x + 3).toFixed(2));
    label(g, w);
  }
  function zoom(z) {
    var zs = num(z, "data-x"), zw = num(z, "data-w"), zd = num(z, "data-d");
    frames.forEach(function (g) {
      var s = num(g, "data-x"), w = num(g, "data-w"), d = num(g, "data-d");
      g.classList.remove("parent");
      g.classList.remove("hidden");
      if (d <= zd && s <= zs && s + w >= zs + zw) {
        place(g, PAD, FULL);
        if (d < zd) g.classList.add("parent");
      } else if (d > zd && s >= zs && s + w <= zs + zw && w * FULL / zw >= %(min)s) {
        place(g, PAD + (s - zs) * FULL / zw, w * FULL / zw);
      } else {
        g.classList.add("hidden");
      }
    });
    unzoom.classList.toggle("hidden", zd === 0);
  }
  function reset() { zoom(frames[0]); }
  function describe(g) {
    var w = num(g, "data-w"), pct = total ? (100 * w / total).toFixed(2) : "0.00";
    return g.getAttribute("data-name") + "  " + g.getAttribute("data-human") + ", " +
           g.getAttribute("data-count") + " blocks, " + pct + "%%";
  }
  function search(re) {
    var top = [], sum = 0;
    frames.forEach(function (g) {
      var r = g.querySelector("rect");
      var hit = re !== null && re.test(g.getAttribute("data-name"));
      r.setAttribute("fill", hit ? "rgb(230,0,230)" : g.getAttribute("data-fill"));
      if (hit) top.push(g);
    });
    // Count each matched span once: skip matches inside another match.
    top.forEach(function (g) {
      var s = num(g, "data-x"), w = num(g, "data-w"), d = num(g, "data-d");
      var inside = top.some(function (o) {
        return o !== g && num(o, "data-d") < d && num(o, "data-x") <= s &&
               num(o, "data-x") + num(o, "data-w") >= s + w;
      });
      if (!inside) sum += w;
    });
    searching = re;
    matched.textContent = re === null ? "" :
      "Matched: " + (total ? (100 * sum / total).toFixed(1) : "0.0") + "%% of " + unit;
  }
  function ask() {
    var term = window.prompt("Highlight frames matching (regular expression):", "");
    if (term === null) return;
    if (term === "") { search(null); return; }
    try { search(new RegExp(term)); } catch (e) { window.alert("Not a regular expression: " + e.message); }
  }
  frames.forEach(function (g) {
    g.addEventListener("click", function () { zoom(g); });
    g.addEventListener("mouseover", function () { details.textContent = describe(g); });
    g.addEventListener("mouseout", function () { details.textContent = " "; });
  });
  unzoom.addEventListener("click", reset);
  document.getElementById("search").addEventListener("click", ask);
  window.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { reset(); if (searching) search(null); }
    if ((e.ctrlKey || e.metaKey) && e.key === "f") { e.preventDefault(); ask(); }
  });
})();
"""


def render_svg(groups, weight="bytes", title="Live memory by allocation stack"):
    """A self-contained interactive flame graph of the groups, as SVG text.

    Frame widths are proportional to `weight` ("bytes" or "count"), the root
    ("all") at the bottom spanning every group, callers below callees.
    """
    if weight not in WEIGHTS:
        raise ValueError("weight must be 'bytes' or 'count', not %r" % (weight,))
    root = build_tree(groups)
    total = root.bytes if weight == "bytes" else root.count
    full = WIDTH - 2 * PAD

    # Lay out depth-first: each node's span [start, start + weight) in
    # weight units; children sorted largest first, so the big holders sit
    # at the left of every level.
    placed = []
    stack = [(root, 0, 0)]
    max_depth = 0
    while stack:
        node, start, depth = stack.pop()
        value = node.bytes if weight == "bytes" else node.count
        width = (value * full / total) if total else (full if depth == 0 else 0)
        if depth > 0 and width < MIN_WIDTH:
            continue
        placed.append((node, start, value, depth))
        max_depth = max(max_depth, depth)
        children = sorted(node.children.values(),
                          key=lambda c: (-(c.bytes if weight == "bytes" else c.count), c.name))
        offset = start
        spans = []
        for child in children:
            spans.append((child, offset, depth + 1))
            offset += child.bytes if weight == "bytes" else child.count
        stack.extend(reversed(spans))

    height = TOP + (max_depth + 1) * FRAME_HEIGHT + BOTTOM
    subtitle = "%s live in %d block%s; width: %s. Click a frame to zoom, Escape to reset." % (
        human_bytes(root.bytes), root.count, "" if root.count == 1 else "s",
        "bytes" if weight == "bytes" else "block count")

    out = []
    out.append('<?xml version="1.0" encoding="UTF-8" standalone="no"?>')
    out.append('<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%d" height="%d" '
               'viewBox="0 0 %d %d" data-weight="%s" data-total="%d" data-bytes="%d" data-count="%d">'
               % (WIDTH, height, WIDTH, height, weight, total, root.bytes, root.count))
    out.append("<title>%s</title>" % escape(title))
    out.append("<style>%s</style>" % _STYLE)
    out.append('<rect x="0" y="0" width="%d" height="%d" fill="#f8f8f4"/>' % (WIDTH, height))
    out.append('<text id="title" x="%d" y="24" text-anchor="middle">%s</text>'
               % (WIDTH // 2, escape(title)))
    out.append('<text id="subtitle" x="%d" y="42" text-anchor="middle">%s</text>'
               % (WIDTH // 2, escape(subtitle)))
    out.append('<text id="unzoom" class="button hidden" x="%d" y="24">Reset zoom</text>' % PAD)
    out.append('<text id="search" class="button" x="%d" y="24" text-anchor="end">Search</text>'
               % (WIDTH - PAD))
    out.append('<text id="details" x="%d" y="%d"> </text>' % (PAD, height - 12))
    out.append('<text id="matched" x="%d" y="%d" text-anchor="end"> </text>'
               % (WIDTH - PAD, height - 12))
    for node, start, value, depth in placed:
        x = PAD + (start * full / total if total else 0)
        width = value * full / total if total else (full if depth == 0 else 0)
        y = height - BOTTOM - (depth + 1) * FRAME_HEIGHT
        fill = _color(node)
        out.append(
            '<g class="frame" data-name=%s data-short=%s data-x="%d" data-w="%d" data-d="%d" '
            'data-bytes="%d" data-count="%d" data-human=%s data-fill="%s">'
            % (quoteattr(node.name), quoteattr(short_name(node.name)), start, value, depth,
               node.bytes, node.count,
               quoteattr(human_bytes(node.bytes)), fill))
        out.append("<title>%s</title>" % escape(_tooltip(node, root.bytes, root.count, weight)))
        out.append('<rect x="%.2f" y="%d" width="%.2f" height="%d" rx="2" fill="%s"/>'
                   % (x, y, width, FRAME_HEIGHT - 1, fill))
        out.append('<text x="%.2f" y="%d">%s</text>'
                   % (x + 3, y + FRAME_HEIGHT - 5, escape(_label(node.name, width))))
        out.append("</g>")
    script = _SCRIPT % {"pad": PAD, "full": full, "char": CHAR_WIDTH, "min": MIN_WIDTH}
    out.append('<script type="text/ecmascript"><![CDATA[%s]]></script>' % script)
    out.append("</svg>")
    return "\n".join(out) + "\n"
