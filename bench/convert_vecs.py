#!/usr/bin/python3
"""Converts a .dvecs file (int32 dim + float64 values per row) for the hierarchy benchmark.

  convert_vecs.py f32 SRC.dvecs DST.fvecs       the same rows as float32 (for the peers)
  convert_vecs.py lorentz SRC.dvecs DST.dvecs   Poincare-ball rows p to the hyperboloid:
                                                x0 = (1+|p|^2)/(1-|p|^2), xi = 2 pi/(1-|p|^2)
Python standard library only.
"""
import struct
import sys


def rows(path):
    with open(path, "rb") as f:
        while (head := f.read(4)):
            d = struct.unpack("<i", head)[0]
            yield struct.unpack("<%dd" % d, f.read(8 * d))


def main():
    mode, src, dst = sys.argv[1:4]
    with open(dst, "wb") as g:
        for p in rows(src):
            if mode == "f32":
                g.write(struct.pack("<i%df" % len(p), len(p), *p))
            elif mode == "lorentz":
                s = sum(x * x for x in p)
                x = [(1.0 + s) / (1.0 - s)] + [2.0 * v / (1.0 - s) for v in p]
                g.write(struct.pack("<i%dd" % len(x), len(x), *x))
            else:
                sys.exit("unknown mode %s (f32 or lorentz)" % mode)


if __name__ == "__main__":
    main()
