#!/usr/bin/env python3
"""Generates the static files for docs/benchmarks/load.sh (deterministic, no network).

usage: gen_assets.py MAIN_ROOT MEM_ROOT

MAIN_ROOT gets:
  app.0123456789abcdef.css   ~30 KB realistic CSS           (scenarios a, c)
  small.js                   ~1 KB JS                       (scenario b)
  big.bin                    1 MiB random bytes             (scenario d)
  assets/{css,js,img}/...    220 CSS/JS/SVG files, 1-100 KB (scenario e)
MEM_ROOT gets 400 x 64 KiB random (incompressible) files    (scenario f)

It prints nothing but writes, beside MAIN_ROOT (in its parent directory),
two path lists (one URL path a line), mixed.paths and mem.paths, and
text.files: every text file to compress (relative to MAIN_ROOT).
"""
import math
import os
import random
import sys

main_root, mem_root = sys.argv[1], sys.argv[2]
rng = random.Random(20240601)

WORDS = ("header nav menu item card btn primary secondary footer modal dialog "
         "grid row col list table form input label icon badge alert toast tab "
         "panel sidebar content hero banner avatar tooltip dropdown spinner").split()
PROPS = [
    ("color", lambda: "#%06x" % rng.randrange(1 << 24)),
    ("background-color", lambda: "#%06x" % rng.randrange(1 << 24)),
    ("margin", lambda: "%dpx %dpx" % (rng.randrange(0, 40, 2), rng.randrange(0, 40, 2))),
    ("padding", lambda: "%dpx %dpx %dpx" % (rng.randrange(0, 24, 2), rng.randrange(0, 32, 4), rng.randrange(0, 24, 2))),
    ("font-size", lambda: "%.3grem" % rng.choice([0.75, 0.875, 1, 1.125, 1.25, 1.5, 2])),
    ("line-height", lambda: "%.2g" % rng.choice([1, 1.2, 1.4, 1.5, 1.6])),
    ("display", lambda: rng.choice(["block", "flex", "inline-flex", "grid", "none", "inline-block"])),
    ("border", lambda: "%dpx solid rgba(0, 0, 0, %.2f)" % (rng.randint(1, 3), rng.random())),
    ("border-radius", lambda: "%dpx" % rng.choice([0, 2, 4, 6, 8, 12, 999])),
    ("transition", lambda: "%s %dms ease-in-out" % (rng.choice(["opacity", "transform", "all"]), rng.randrange(100, 500, 50))),
    ("box-shadow", lambda: "0 %dpx %dpx rgba(0, 0, 0, .%02d)" % (rng.randint(0, 4), rng.randint(2, 24), rng.randint(5, 40))),
    ("justify-content", lambda: rng.choice(["center", "space-between", "flex-start", "flex-end"])),
    ("width", lambda: rng.choice(["100%", "auto", "%dpx" % rng.randrange(16, 640, 8), "calc(100%% - %dpx)" % rng.randrange(8, 80, 8)])),
    ("z-index", lambda: str(rng.randrange(1, 1000))),
    ("transform", lambda: "translate(%dpx, %dpx) rotate(%ddeg)" % (rng.randint(-20, 20), rng.randint(-20, 20), rng.randint(0, 359))),
]


def selector():
    parts = []
    for _ in range(rng.randint(1, 3)):
        s = ".%s-%s" % (rng.choice(WORDS), rng.choice(WORDS))
        if rng.random() < 0.3:
            s += "--%d" % rng.randrange(100)
        if rng.random() < 0.2:
            s += rng.choice([":hover", ":focus", "::before", ":first-child", ":disabled"])
        parts.append(s)
    return rng.choice([" ", " > ", " + "]).join(parts)


def css(target):
    out = ["/*! generated benchmark stylesheet */", ":root { --brand: #%06x; --gap: 8px; }" % rng.randrange(1 << 24)]
    size = sum(len(x) + 1 for x in out)
    while size < target:
        sels = ",\n".join(selector() for _ in range(rng.randint(1, 3)))
        decls = "".join("  %s: %s;\n" % (p, f()) for p, f in rng.sample(PROPS, rng.randint(2, 7)))
        rule = "%s {\n%s}\n" % (sels, decls)
        if rng.random() < 0.08:
            rule = "@media (min-width: %dpx) {\n%s}\n" % (rng.choice([576, 768, 992, 1200]), rule)
        out.append(rule)
        size += len(rule) + 1
    return "\n".join(out) + "\n"


def js(target):
    out = ['"use strict";']
    size = len(out[0])
    n = 0
    while size < target:
        n += 1
        name = "%s%s%d" % (rng.choice(["render", "update", "fetch", "parse", "handle", "init"]),
                           rng.choice(WORDS).capitalize(), n)
        body = [
            "export function %s(el, opts = {}) {" % name,
            "  const items = Array.isArray(opts.items) ? opts.items : [];",
            "  const limit = Math.min(items.length, %d);" % rng.randint(4, 256),
            "  for (let i = 0; i < limit; i++) {",
            "    const node = document.createElement(%r);" % rng.choice(["div", "span", "li", "a", "button"]),
            "    node.className = %r + (i %% %d === 0 ? ' is-active' : '');" % ("%s-%s" % (rng.choice(WORDS), rng.choice(WORDS)), rng.randint(2, 9)),
            "    node.textContent = String(items[i] && items[i].%s || %r);" % (rng.choice(["label", "title", "name", "id"]), rng.choice(WORDS)),
            "    el.appendChild(node);",
            "  }",
            "  if (opts.onDone) setTimeout(() => opts.onDone(%d, 0x%x), %d);" % (n, rng.randrange(1 << 32), rng.randrange(0, 500)),
            "  return limit;",
            "}",
            "",
        ]
        chunk = "\n".join(body)
        out.append(chunk)
        size += len(chunk) + 1
    return "\n".join(out) + "\n"


def svg(target):
    w, h = rng.choice([(24, 24), (64, 64), (512, 256), (1024, 768)])
    out = ['<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d">' % (w, h, w, h)]
    size = len(out[0])
    while size < target:
        if rng.random() < 0.7:
            pts = " ".join("%s%.1f %.1f" % (rng.choice("LLLQ") if k else "M", rng.uniform(0, w), rng.uniform(0, h))
                           for k in range(rng.randint(3, 12)))
            el = '  <path d="%s Z" fill="#%06x" stroke-width="%.1f"/>' % (pts, rng.randrange(1 << 24), rng.uniform(0, 3))
        else:
            el = '  <circle cx="%.1f" cy="%.1f" r="%.1f" fill="#%06x" opacity="%.2f"/>' % (
                rng.uniform(0, w), rng.uniform(0, h), rng.uniform(1, w / 4), rng.randrange(1 << 24), rng.random())
        out.append(el)
        size += len(el) + 1
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


text_files = []
write(os.path.join(main_root, "app.0123456789abcdef.css"), css(30 * 1024))
write(os.path.join(main_root, "small.js"), js(1000)[:1024])
write(os.path.join(main_root, "big.bin"), os.urandom(1 << 20))
text_files += ["app.0123456789abcdef.css", "small.js"]

mixed = []
kinds = [("css", css), ("js", js), ("img", svg)]
for i in range(220):
    kind, gen = kinds[i % 3]
    ext = "svg" if kind == "img" else kind
    size = int(1024 * math.exp(rng.uniform(0, math.log(100))))  # log-uniform 1..100 KB
    rel = "assets/%s/%s-%s-%03d.%s" % (kind, rng.choice(WORDS), rng.choice(WORDS), i, ext)
    write(os.path.join(main_root, rel), gen(size))
    mixed.append("/" + rel)
    text_files.append(rel)

mem = []
for i in range(400):
    rel = "blob-%03d.bin" % i
    write(os.path.join(mem_root, rel), os.urandom(64 * 1024))
    mem.append("/" + rel)

parent = os.path.dirname(os.path.abspath(main_root))
write(os.path.join(parent, "mixed.paths"), "\n".join(mixed) + "\n")
write(os.path.join(parent, "mem.paths"), "\n".join(mem) + "\n")
write(os.path.join(parent, "text.files"), "\n".join(text_files) + "\n")
