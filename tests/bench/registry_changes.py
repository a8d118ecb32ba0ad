#!/usr/bin/env python3
"""Registry changes under load, for `tests/bench/run.sh registry`.

Applies N changes through instance A's admin API, spread over a time window: half of them
register a new service, the other half delete it again. After each change it polls instance A
and instance B until the change serves there (the new service answers 200, the deleted one
404) and records how long that took, from the moment the API answered.

    registry_changes.py ADMIN_A PORTAL_A PORTAL_B KEY ESTATE CHANGES WINDOW_SECONDS [--idle]

With --idle it makes the same calls at the same pace without changing anything (reads the
service through the API, then polls A and B for a service that exists), so that a run
without changes carries the same measuring traffic as a run with them.

Prints one JSON object: changes applied, API failures, the API's answer times, and the
change-to-serving times on A and B (p50, p99, max, in ms).
"""

import json
import sys
import time
import urllib.error
import urllib.request


def call(method, url, key, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def status(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def until(url, want, start, deadline=10.0):
    """Seconds from `start` until `GET url` answers `want`, or None."""
    while time.monotonic() - start < deadline:
        if status(url) == want:
            return time.monotonic() - start
        time.sleep(0.005)
    return None


def service(sid, estate):
    return {
        "id": sid,
        "ministry": "interior",
        "category": "identity",
        "access": "public",
        "names": {"ar": f"خدمة للقياس {sid}", "fr": f"Service de mesure {sid}", "en": f"Benchmark service {sid}"},
        "descriptions": {
            "ar": "خدمة تسجل وتحذف أثناء القياس.",
            "fr": "Un service créé puis supprimé pendant la mesure.",
            "en": "A service registered and deleted during the benchmark.",
        },
        "legacy": {"hostname": f"{sid}.legacy.gov.ma"},
        "upstream": {"url": f"http://{estate}/cnie-renewal", "host": "www.cnie.ma"},
    }


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] * 1000, 1)


def main():
    admin_a, portal_a, portal_b, key, estate = sys.argv[1:6]
    changes, window = int(sys.argv[6]), float(sys.argv[7])
    idle = "--idle" in sys.argv[8:]
    gap = window / changes
    on_a, on_b, api, failures, missed = [], [], [], 0, 0
    start = time.monotonic()
    for i in range(changes):
        # Keep the pace even: change i starts at i * gap.
        wait = start + i * gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        sid = f"bench-{i // 2}-{int(start)}"
        page = f"/s/{sid}/"
        asked = time.monotonic()
        if idle:
            sid, page = "cnie-first-application", "/s/cnie-first-application/"
            code = call("GET", f"{admin_a}/api/v1/services/{sid}", key)
            want, ok = 200, code == 200
        elif i % 2 == 0:
            code = call("POST", f"{admin_a}/api/v1/services", key, service(sid, estate))
            want, ok = 200, code == 201
        else:
            code = call("DELETE", f"{admin_a}/api/v1/services/{sid}", key)
            want, ok = 404, code == 204
        answered = time.monotonic()
        api.append(answered - asked)
        if not ok:
            failures += 1
            print(f"change {i}: the API answered {code}", file=sys.stderr)
            continue
        for portal, times in ((portal_a, on_a), (portal_b, on_b)):
            took = until(portal + page, want, answered)
            if took is None:
                missed += 1
            else:
                times.append(took)
    print(
        json.dumps(
            {
                "changes": changes,
                "api_failures": failures,
                "never_served": missed,
                "api_ms": {"p50": pct(api, 50), "p99": pct(api, 99)},
                "a_ms": {"p50": pct(on_a, 50), "p99": pct(on_a, 99), "max": pct(on_a, 100)},
                "b_ms": {"p50": pct(on_b, 50), "p99": pct(on_b, 99), "max": pct(on_b, 100)},
            }
        )
    )


if __name__ == "__main__":
    main()
