#!/usr/bin/env python3
"""Logs a test citizen in through `egov-gateway demo` (its development identity provider) and
prints the portal's session cookie (`name=value`), for load tests of signed-in pages.

    tests/bench/login.py http://127.0.0.1:8080 /s/criminal-record-extract/
"""
import html.parser
import http.cookiejar
import sys
import urllib.error
import urllib.parse
import urllib.request


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
    portal, page = sys.argv[1].rstrip("/"), sys.argv[2]
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())

    def get(url, data=None):
        try:
            return opener.open(url, data=data)
        except urllib.error.HTTPError as e:
            return e

    r = get(portal + page)
    r = get(urllib.parse.urljoin(portal + page, r.headers["Location"]))
    authorize = r.headers["Location"]
    form = Hidden()
    form.feed(get(authorize).read().decode())
    data = urllib.parse.urlencode(form.fields + [("citizen", form.citizen)]).encode()
    r = get(urllib.parse.urljoin(authorize, "authorize"), data)
    get(r.headers["Location"])
    for c in jar:
        if c.name in ("egov_session", "__Host-egov_session"):
            print(f"{c.name}={c.value}")
            return
    sys.exit("login failed: no session cookie")


main()
