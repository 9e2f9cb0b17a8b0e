#!/usr/bin/env python3
"""whylive.py: why is this code in the binary? Reads the linker's
reachability dump (go build -ldflags=-dumpdep, one "from -> to" line per
symbol the first time the dead code pass marks it) and prints, for each
symbol asked about, the path of references that first reached it from the
program's entry point.

  whylive.py DUMP --reflect      reflective method calls that are linked
                                 (reflect.Value.Method / MethodByName with a
                                 name not known at compile time); the first
                                 one turned off the removal of unused
                                 exported methods for the whole program.
                                 Exit status 1 when there is one.
  whylive.py DUMP REGEXP...      the path to the first symbols matching each
                                 regular expression (at most 3 each).

The path shown is one path, the first the linker took; the symbol may be
reachable by others too. Symbols marked only because method removal was
already off show the type that owns them as their parent.
"""
import re
import sys

FLAGS = re.compile(r"( <[A-Za-z]+>)+$")


def load(path):
    parent, order, reflective = {}, [], []
    with open(path, errors="replace") as f:
        for line in f:
            if " -> " not in line:
                continue
            src, dst = line.rstrip("\n").split(" -> ", 1)
            if "<ReflectMethod>" in dst:
                reflective.append(FLAGS.sub("", dst))
            src, dst = FLAGS.sub("", src), FLAGS.sub("", dst)
            if dst not in parent:
                parent[dst] = src
                order.append(dst)
    return parent, order, reflective


def path_to(parent, sym):
    chain = [sym]
    while parent.get(chain[-1], "_") != "_" and len(chain) < 500:
        chain.append(parent[chain[-1]])
    return list(reversed(chain))


def show(parent, sym):
    print(sym)
    for s in path_to(parent, sym):
        print("    " + s)


def main(argv):
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) > 1 and argv[1] in ("-h", "--help") else 2
    parent, order, reflective = load(argv[1])
    if not parent:
        print(f"whylive: no 'from -> to' lines in {argv[1]}: was it built with -ldflags=-dumpdep?", file=sys.stderr)
        return 2
    if argv[2] == "--reflect":
        if not reflective:
            print(f"no reflective method call is linked ({len(order)} symbols reachable)")
            return 0
        print("reflective method calls linked (the first turned off the removal of unused methods):")
        show(parent, reflective[0])
        for sym in reflective[1:]:
            print("  also: " + sym)
        return 1
    for expr in argv[2:]:
        rx = re.compile(expr)
        hits = [s for s in order if rx.search(s)][:3]
        if not hits:
            print(f"{expr}: not reachable")
        for sym in hits:
            show(parent, sym)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
