#!/usr/bin/env python3
"""How many times a callgrind profile calls the allocator.

    callgrind_calls.py CALLGRIND_OUT_FILE...

Prints one number: the calls into mimalloc's allocation entry points (`mi_malloc_aligned`,
`mi_zalloc_aligned`, `mi_realloc_aligned`: what Rust's global allocator calls) made from
outside mimalloc, over the given files (callgrind's dumps of one run). Divided by the
requests counted, it is allocations per request.
"""

import re
import sys

ENTRY_POINTS = {"mi_malloc_aligned", "mi_zalloc_aligned", "mi_realloc_aligned"}


def allocations(path):
    names = {}
    current = ""
    callee = None
    total = 0

    def name_of(spec):
        # "(12) name" defines id 12; "(12)" refers to it; a bare name has no id.
        m = re.match(r"\((\d+)\)(?: (.*))?$", spec)
        if not m:
            return spec
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), "")

    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("fn="):
                current = name_of(line[3:].strip())
            elif line.startswith("cfn="):
                callee = name_of(line[4:].strip())
            elif line.startswith("calls=") and callee is not None:
                if callee in ENTRY_POINTS and not current.startswith(("mi_", "_mi_")):
                    total += int(line[6:].split()[0])
                callee = None
    return total


if __name__ == "__main__":
    print(sum(allocations(p) for p in sys.argv[1:]))
