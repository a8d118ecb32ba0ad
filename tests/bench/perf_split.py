#!/usr/bin/env python3
"""Where each proxy's CPU time goes, per request, from `perf record -e cpu-clock -g` samples.

    perf_split.py FREQUENCY NAME=PERF_DATA:REQUESTS [NAME=PERF_DATA:REQUESTS ...]

Each sample is one 1/FREQUENCY-second slice of one proxy thread's CPU time, with its stack.
Prints, in microseconds of CPU per request:

- the user-space split: the proxy's own executable, libc, the vDSO (clock reads), the rest;
- the kernel split: waking another process (a stack through `sock_def_readable`: on
  loopback, the proxy's own `sendto` delivers the bytes and wakes their reader, the load
  generator or the legacy site, asleep in epoll), the scheduler (the proxy's own thread going to sleep and coming back), and the
  rest of the kernel (TCP send and receive, epoll, syscall entry);
- then, for the first two names (e.g. gateway and bare-pingora), their user space by crate
  (the gateway's own, pingora, http, tokio, bytes, the allocator, libc...) and the
  user-space functions whose own time differs most between them.
"""

import subprocess
import sys
from collections import Counter


# Where loopback delivery wakes the receiving socket's waiter: the sample lands on the
# `_raw_spin_unlock_irqrestore` that ends the wake-up (its interrupts were off until then).
WAKERS = {"sock_def_readable", "sock_def_write_space", "try_to_wake_up", "__wake_up_common"}


def samples(path):
    """Yields (leaf symbol, leaf dso, stack symbols) for each sample in a perf.data file."""
    out = subprocess.run(
        ["perf", "script", "-i", path, "-F", "ip,sym,dso"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for block in out.split("\n\n"):
        frames = []
        for line in block.strip().splitlines():
            parts = line.strip().split(" ", 1)
            if len(parts) < 2:
                continue
            rest = parts[1]
            sym, _, dso = rest.rpartition(" (")
            frames.append((sym.strip(), dso.rstrip(")")))
        if frames:
            yield frames[0][0], frames[0][1], [s for s, _ in frames]


def short_dso(dso):
    if "kernel" in dso:
        return "kernel"
    name = dso.rsplit("/", 1)[-1]
    if name.startswith("libc.so"):
        return "libc"
    if name == "[vdso]":
        return "vdso"
    return name


def split(path, executable_names):
    kinds = Counter()
    own = Counter()
    for leaf, dso, stack in samples(path):
        d = short_dso(dso)
        if d == "kernel":
            if any(s in WAKERS for s in stack):
                kinds["kernel: waking another process"] += 1
            elif any(s.startswith("__schedule") or s == "schedule" for s in stack):
                kinds["kernel: own thread sleeping and waking"] += 1
            else:
                kinds["kernel: the rest (TCP, epoll, syscalls)"] += 1
        elif d in executable_names:
            kinds["user: the proxy's own code"] += 1
            own[leaf] += 1
        elif d == "libc":
            kinds["user: libc (memcpy, syscall stubs)"] += 1
            own["libc: " + leaf] += 1
        elif d == "vdso":
            kinds["user: vDSO (clock reads)"] += 1
        else:
            kinds["user: other libraries"] += 1
    return kinds, own


def crate_of(symbol):
    """The crate a user-space function belongs to, by its path (`<A as B>::f` is A's)."""
    if symbol.startswith("libc: "):
        return "libc"
    if symbol.startswith("mi_") or symbol.startswith("_mi_"):
        return "mimalloc"
    s = symbol.lstrip("<&*")
    if s.startswith("mut ") or s.startswith("dyn "):
        s = s[4:]
    head = s.split("::", 1)[0]
    if " as " in head:
        # `<T as pingora_core::...>`: a generic impl, the trait's crate.
        head = head.split(" as ", 1)[1]
    if head.startswith("pingora"):
        return "pingora"
    if head.startswith("egov_"):
        return "egov (the gateway's own crates)"
    if head in ("core", "alloc", "std"):
        return "Rust std"
    return head if "::" in s else "other"


def main():
    freq = float(sys.argv[1])
    per_sample_us = 1e6 / freq
    runs = []
    for arg in sys.argv[2:]:
        name, rest = arg.split("=", 1)
        path, requests = rest.rsplit(":", 1)
        runs.append((name, path, int(requests)))
    executables = {"egov-gateway", "bare-pingora", "nginx"}
    results = {}
    for name, path, requests in runs:
        kinds, own = split(path, executables)
        scale = per_sample_us / max(1, requests)
        results[name] = ({k: v * scale for k, v in kinds.items()}, {k: v * scale for k, v in own.items()})
    rows = [
        "user: the proxy's own code",
        "user: libc (memcpy, syscall stubs)",
        "user: vDSO (clock reads)",
        "user: other libraries",
        "kernel: the rest (TCP, epoll, syscalls)",
        "kernel: waking another process",
        "kernel: own thread sleeping and waking",
    ]
    names = [n for n, _, _ in runs]
    print("CPU microseconds per request")
    print(f"{'':42}" + "".join(f"{n:>14}" for n in names))
    for row in rows:
        print(f"{row:42}" + "".join(f"{results[n][0].get(row, 0):14.2f}" for n in names))
    for label, pick in (("user space", "user"), ("kernel", "kernel")):
        print(f"{'total ' + label:42}" + "".join(
            f"{sum(v for k, v in results[n][0].items() if k.startswith(pick)):14.2f}" for n in names))
    print(f"{'total':42}" + "".join(f"{sum(results[n][0].values()):14.2f}" for n in names))
    if len(names) >= 2:
        a, b = names[0], names[1]
        own_a, own_b = results[a][1], results[b][1]
        diff = sorted(((own_a.get(k, 0) - own_b.get(k, 0), k) for k in set(own_a) | set(own_b)), reverse=True)
        crates_a, crates_b = {}, {}
        for own, crates in ((own_a, crates_a), (own_b, crates_b)):
            for k, v in own.items():
                c = crate_of(k)
                crates[c] = crates.get(c, 0) + v
        print(f"\nuser space by crate (own time), microseconds per request")
        print(f"{'':34}{a:>14}{b:>14}{'difference':>14}")
        for c in sorted(set(crates_a) | set(crates_b), key=lambda c: -(crates_a.get(c, 0) - crates_b.get(c, 0))):
            ca, cb = crates_a.get(c, 0), crates_b.get(c, 0)
            if max(ca, cb) >= 0.05:
                print(f"{c:34}{ca:14.2f}{cb:14.2f}{ca - cb:14.2f}")
        print(f"\nuser-space functions (own time), {a} minus {b}, microseconds per request")
        for d, k in diff[:25]:
            print(f"{d:8.3f} {own_a.get(k, 0):8.3f} {own_b.get(k, 0):8.3f}  {k[:110]}")


if __name__ == "__main__":
    main()
