#!/usr/bin/env python3
# check-layers.py: fails when a file of a program calls or includes a file
# of a higher layer than its own (the layers are in DIR/layers.txt: xnsd's
# in xnsd/layers.txt, the gateway's in xnsgw/layers.txt).
#
#   check-layers.py SOURCE_ROOT BUILD_ROOT [DIR...]     (default: xnsd)
#
# Each DIR is checked on its own: its files, and the files of other
# directories its layers.txt names, against each other.
#
# Calls are read from the object files (nm: a symbol one object uses and
# another defines), includes from the sources' #include "..." lines; a
# header belongs to the layer of the .c file of the same name, and headers
# without one (list.h, macro.h, generated protobuf headers) to none: anyone
# may include them.
import os
import subprocess
import sys


def read_layers(path, directory):
    layers, order = {}, []
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, files = line.split(":", 1)
        order.append(name.strip())
        for f in files.split():
            layers[f if "/" in f else directory + "/" + f] = len(order) - 1
    return layers, order


def objects(build, sources):
    """Maps each source (relative path) to its object file in the build tree."""
    found = {}
    walks = [os.walk(os.path.join(build, d)) for d in sorted({os.path.dirname(s) for s in sources})]
    for dirpath, _, names in (entry for walk in walks for entry in walk):
        # Only the part under the build root: the checkout's own path may
        # well contain "test" or "fuzz".
        rel = os.path.relpath(dirpath, build)
        for n in names:
            if not n.endswith(".c.o"):
                continue
            src = n[:-2]
            for s in sources:
                if os.path.basename(s) == src and os.path.dirname(s) in rel:
                    if "test" in rel or "fuzz" in rel:
                        continue
                    found.setdefault(s, os.path.join(dirpath, n))
    return found


def symbols(obj):
    out = subprocess.run(["nm", "-P", obj], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind == "U":
            undefined.add(name)
        elif kind in "TDBRtdbr" and kind.isupper():
            defined.add(name)
    return defined, undefined


def check(src, build, directory):
    """The layers of directory: True when they hold."""
    layers_txt = f"{directory}/layers.txt"
    layers, order = read_layers(os.path.join(src, layers_txt), directory)
    failed = False

    missing = [f for f in layers if not os.path.exists(os.path.join(src, f))]
    for f in missing:
        print(f"check-layers: {layers_txt} names {f}, which does not exist", file=sys.stderr)
        failed = True
    unlisted = [f"{directory}/{n}" for n in os.listdir(os.path.join(src, directory))
                if n.endswith(".c") and f"{directory}/{n}" not in layers]
    for f in unlisted:
        print(f"check-layers: {f} has no layer in {layers_txt}", file=sys.stderr)
        failed = True

    objs = objects(build, [f for f in layers if f not in missing])
    owner = {}
    uses = {}
    for f, obj in objs.items():
        defined, undefined = symbols(obj)
        for s in defined:
            owner[s] = f
        uses[f] = undefined
    for f in layers:
        if f not in objs and f not in missing:
            print(f"check-layers: no object file for {f} under {build}", file=sys.stderr)
            failed = True

    for f, undefined in sorted(uses.items()):
        for s in sorted(undefined):
            g = owner.get(s)
            if g and layers[g] > layers[f]:
                print(f"check-layers: {f} ({order[layers[f]]}) calls {s}() of {g} ({order[layers[g]]})",
                      file=sys.stderr)
                failed = True

    header_layer = {os.path.splitext(f)[0] + ".h": l for f, l in layers.items()}
    for f, l in sorted(layers.items()):
        for path in (f, os.path.splitext(f)[0] + ".h"):
            full = os.path.join(src, path)
            if not os.path.exists(full):
                continue
            for line in open(full):
                if not line.startswith("#include \""):
                    continue
                inc = line.split('"')[1]
                h = os.path.join(os.path.dirname(path), inc)
                if h in header_layer and header_layer[h] > l:
                    print(f"check-layers: {path} ({order[l]}) includes {inc} ({order[header_layer[h]]})",
                          file=sys.stderr)
                    failed = True
    return not failed


def main():
    src, build = sys.argv[1], sys.argv[2]
    directories = sys.argv[3:] or ["xnsd"]
    results = [check(src, build, d) for d in directories]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
