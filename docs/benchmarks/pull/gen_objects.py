#!/usr/bin/env python3
"""Generates the origin's files for docs/benchmarks/pull.sh (deterministic, no network).

usage: gen_objects.py ORIGIN_ROOT N STORM_NAME...

ORIGIN_ROOT gets:
  assets/{css,js,img}/...   N objects, CSS / JS / SVG / PNG-like in turn,
                            log-uniform 1-100 KB            (scenario a)
  storm-<NAME>.css          one ~20 KB stylesheet per STORM_NAME (scenario b:
                            each is requested cold exactly once per storm)
and, beside ORIGIN_ROOT (in its parent directory), objects.paths: the URL
path of every assets/ object, one a line.
"""
import math
import os
import random
import struct
import sys
import zlib

root, count, storms = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rng = random.Random(20261127)

WORDS = ("header nav menu item card btn primary footer modal grid row col list "
         "table form input label icon badge alert tab panel sidebar hero banner").split()


def css(target):
    out, size = ["/*! generated */"], 16
    while size < target:
        sel = ".%s-%s%s" % (rng.choice(WORDS), rng.choice(WORDS),
                            rng.choice(["", ":hover", " > a", "::before"]))
        decl = "".join("  %s: #%06x;\n" % (p, rng.randrange(1 << 24))
                       for p in rng.sample(["color", "background-color", "border-color",
                                            "outline-color", "fill", "stroke"], rng.randint(1, 4)))
        decl += "  margin: %dpx %dpx;\n  padding: %dpx;\n" % (
            rng.randrange(0, 40, 2), rng.randrange(0, 40, 2), rng.randrange(0, 24, 2))
        rule = "%s {\n%s}\n" % (sel, decl)
        out.append(rule)
        size += len(rule) + 1
    return "\n".join(out) + "\n"


def js(target):
    out, size, n = ['"use strict";'], 13, 0
    while size < target:
        n += 1
        chunk = ("export function %s%s%d(el, opts = {}) {\n"
                 "  const items = opts.items || [];\n"
                 "  for (let i = 0; i < Math.min(items.length, %d); i++) {\n"
                 "    const node = document.createElement(%r);\n"
                 "    node.className = %r;\n"
                 "    el.appendChild(node);\n"
                 "  }\n"
                 "  return 0x%x;\n"
                 "}\n") % (rng.choice(["render", "update", "init"]), rng.choice(WORDS).capitalize(), n,
                           rng.randint(4, 256), rng.choice(["div", "span", "li"]),
                           "%s-%s" % (rng.choice(WORDS), rng.choice(WORDS)), rng.randrange(1 << 32))
        out.append(chunk)
        size += len(chunk) + 1
    return "\n".join(out) + "\n"


def svg(target):
    out = ['<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512">']
    size = len(out[0])
    while size < target:
        pts = " ".join("%s%.1f %.1f" % ("L" if k else "M", rng.uniform(0, 512), rng.uniform(0, 512))
                       for k in range(rng.randint(3, 10)))
        el = '  <path d="%s Z" fill="#%06x"/>' % (pts, rng.randrange(1 << 24))
        out.append(el)
        size += len(el) + 1
    out.append("</svg>")
    return "\n".join(out) + "\n"


def png(target):
    """A valid PNG header + IHDR, then an incompressible IDAT-sized blob."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 256, 256, 8, 6, 0, 0, 0))
    body = rng.randbytes(max(0, target - len(head) - 24))
    return head + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


kinds = [("css", "css", css), ("js", "js", js), ("img", "svg", svg), ("img", "png", png)]
paths = []
for i in range(count):
    folder, ext, gen = kinds[i % len(kinds)]
    size = int(1024 * math.exp(rng.uniform(0, math.log(100))))  # log-uniform 1..100 KB
    rel = "assets/%s/%s-%s-%03d.%s" % (folder, rng.choice(WORDS), rng.choice(WORDS), i, ext)
    write(os.path.join(root, rel), gen(size))
    paths.append("/" + rel)

for name in storms:
    write(os.path.join(root, "storm-%s.css" % name), css(20 * 1024))

parent = os.path.dirname(os.path.abspath(root))
write(os.path.join(parent, "objects.paths"), "\n".join(paths) + "\n")
