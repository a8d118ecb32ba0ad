#!/usr/bin/env python3
"""Logs a test citizen in through `egov-gateway demo` (its development identity provider) and
prints the session cookie (`name=value`) the browser then holds for the protected page's
host, for load tests of signed-in pages.

    tests/bench/login.py http://criminal-record-extract.localhost:8080/     (own origin)
    tests/bench/login.py http://127.0.0.1:8080 /s/criminal-record-extract/  (shared origin)

Every redirect is followed (the portal's hop to a service's own origin included) until the
provider's page, whose form picks the first test citizen; then again until the page.
`*.localhost` is resolved to 127.0.0.1, as browsers do.
"""
import html.parser
import http.cookiejar
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

_getaddrinfo = socket.getaddrinfo


def _loopback_localhost(host, *args, **kwargs):
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback_localhost


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Hidden(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields = []
        self.citizen = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("type") == "hidden":
            self.fields.append((a.get("name"), a.get("value", "")))
        if tag == "input" and a.get("name") == "citizen" and self.citizen is None:
            self.citizen = a.get("value")


def main():
    page = sys.argv[1].rstrip("/") + sys.argv[2] if len(sys.argv) > 2 else sys.argv[1]
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())

    def get(url, data=None):
        try:
            return opener.open(url, data=data)
        except urllib.error.HTTPError as e:
            return e

    def follow(url, until=None):
        for _ in range(12):
            r = get(url)
            if r.status not in (301, 302, 303, 307, 308):
                return url, r
            url = urllib.parse.urljoin(url, r.headers["Location"])
            if until and until(url):
                return url, get(url)
        sys.exit(f"too many redirects from {url}")

    host = urllib.parse.urlsplit(page).hostname
    authorize, r = follow(page, until=lambda u: "/authorize" in u)
    form = Hidden()
    form.feed(r.read().decode())
    data = urllib.parse.urlencode(form.fields + [("citizen", form.citizen)]).encode()
    r = get(urllib.parse.urljoin(authorize, "authorize"), data)
    landed, r = follow(urllib.parse.urljoin(authorize, r.headers["Location"]))
    if r.status != 200:
        sys.exit(f"login failed: {landed} answered {r.status}")
    for c in jar:
        if c.name in ("egov_session", "__Host-egov_session") and c.domain.lstrip(".") == host:
            print(f"{c.name}={c.value}")
            return
    sys.exit(f"login failed: no session cookie for {host}")


main()
