// Drives a REAL headless Chromium through a citizen's visits and reports what the citizen saw.
//
// Why: the SSO tests' scripted HTTP "browser" proves the protocol hops; this proves what a real
// browser does with them: follows the redirects, decodes the page's charset, runs its scripts,
// keeps (and hides from scripts) its cookies.
//
// The browser is not launched here: the Rust harness (tests/harness/chromium.rs) starts
// Debian's Chromium on 127.0.0.1 and owns it (kills it on drop); this script attaches to it over
// the DevTools protocol, opens a fresh context (no cookies), and closes that context at the end.
//
// Usage: node visit.mjs '<scenario JSON>', where the scenario is
//   { "cdp": "ws://127.0.0.1:<port>/devtools/browser/<id>",
//     "provider": "http://127.0.0.1:<port>",       // the OpenID provider's origin
//     "timeout_ms": 15000,                         // per navigation or action
//     "visits": [ { "url": "...",                  // typed into the address bar, in order
//                   "login": "amina",              // fill the provider's login form with it
//                   "password": "x",
//                   "confirm_logout": true,        // post the gateway's logout page, then answer
//                                                  // "Yes, sign me out" at the provider
//                   "evaluate": "<JS expression>" } ] }  // run in the page at the end (awaited)
// A visit goes to its URL and then, while the page is on the provider, answers the provider's
// dev-interaction forms (login if `login` is given, consent always, logout if
// `confirm_logout`); it stops on the first page it has nothing to do on.
//
// Prints exactly one line to stdout:
//   RESULT {"visits":[{start,url,status,navigations,actions,title,charset,text,links,
//                      document_cookie,cookies}],"console_errors":[...],"offsite_requests":[...]}
// where `status` is the HTTP status of the page finally shown, `navigations` every main-frame
// request of the visit (each redirect hop included), `links` the raw `href` attributes,
// `document_cookie` what page scripts read, `cookies` what the browser holds (HttpOnly too),
// `evaluated` what the visit's script returned (null without one), and `offsite_requests`
// every request that tried to leave 127.0.0.1 and *.localhost.
// and its errors to stderr (exit status 1).

import { chromium } from 'playwright-core';

/// Longest body text reported per page (characters).
const TEXT_LIMIT = 20000;
/// Most provider forms answered in one visit (login, consent, logout, and slack).
const MAX_ACTIONS = 6;

/// Whether `url` stays on this machine's loopback (or is a browser-internal page).
function onLoopback(url) {
  try {
    const u = new URL(url);
    if (!u.protocol.startsWith('http') && !u.protocol.startsWith('ws')) return true;
    return u.hostname === '127.0.0.1' || u.hostname.endsWith('.localhost');
  } catch {
    return false;
  }
}

/// Clicks `locator` and waits until the navigation it starts has loaded.
async function submit(page, locator, timeout) {
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'load', timeout }),
    locator.click({ timeout }),
  ]);
}

/// Answers the provider form on `page`, if any; returns what it did, or null.
async function answerProvider(page, visit, timeout) {
  const count = (selector) => page.locator(selector).count();
  if (await count('form input[name="prompt"][value="login"]')) {
    if (visit.login === undefined || visit.login === null) return null;
    const form = page.locator('form:has(input[name="prompt"][value="login"])');
    await form.locator('input[name="login"]').fill(visit.login, { timeout });
    await form.locator('input[name="password"]').fill(visit.password ?? 'any-password', { timeout });
    await submit(page, form.locator('[type="submit"]'), timeout);
    return 'login';
  }
  if (await count('form input[name="prompt"][value="consent"]')) {
    const form = page.locator('form:has(input[name="prompt"][value="consent"])');
    await submit(page, form.locator('[type="submit"]'), timeout);
    return 'consent';
  }
  if (await count('button[name="logout"][value="yes"]')) {
    if (!visit.confirm_logout) return null;
    await submit(page, page.locator('button[name="logout"][value="yes"]'), timeout);
    return 'logout';
  }
  return null;
}

/// What the citizen sees on `page` now.
async function snapshot(page, context) {
  const seen = await page.evaluate((limit) => ({
    title: document.title,
    charset: document.characterSet,
    text: (document.body ? document.body.innerText : '').slice(0, limit),
    links: [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href')),
    document_cookie: document.cookie,
  }), TEXT_LIMIT);
  const cookies = (await context.cookies()).map((c) => ({
    name: c.name, domain: c.domain, path: c.path, http_only: c.httpOnly, secure: c.secure,
    same_site: c.sameSite,
  }));
  return { url: page.url(), ...seen, cookies };
}

async function main() {
  const scenario = JSON.parse(process.argv[2] ?? '{}');
  const timeout = scenario.timeout_ms ?? 15000;
  const provider = new URL(scenario.provider).origin;
  const browser = await chromium.connectOverCDP(scenario.cdp, { timeout });
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);

  const consoleErrors = [];
  const offsite = [];
  let navigations = [];
  let status = null;
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: uncaught ${e}`));
  page.on('request', (r) => {
    if (!onLoopback(r.url())) offsite.push(r.url());
    if (r.isNavigationRequest() && r.frame() === page.mainFrame()) navigations.push(r.url());
  });
  page.on('response', (r) => {
    const request = r.request();
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) status = r.status();
  });

  const visits = [];
  for (const visit of scenario.visits ?? []) {
    navigations = [];
    status = null;
    await page.goto(visit.url, { waitUntil: 'load', timeout });
    const actions = [];
    // The gateway's own logout page: one button that posts the logout with its token.
    const portalLogout = page.locator('form[action="/auth/logout"] button[name="logout"][value="yes"]');
    if (visit.confirm_logout && new URL(page.url()).origin !== provider && await portalLogout.count()) {
      await submit(page, portalLogout.first(), timeout);
      actions.push('confirm-logout');
    }
    while (new URL(page.url()).origin === provider && actions.length < MAX_ACTIONS) {
      const done = await answerProvider(page, visit, timeout);
      if (done === null) break;
      actions.push(done);
    }
    let evaluated = null;
    if (visit.evaluate) {
      try {
        evaluated = await page.evaluate(visit.evaluate);
      } catch (err) {
        evaluated = { evaluate_error: String(err) };
      }
    }
    const seen = await snapshot(page, context);
    visits.push({
      start: visit.url, status, navigations, actions, evaluated, ...seen,
    });
  }
  await context.close();
  // Over CDP, close() only disconnects: the harness owns (and kills) the browser.
  await browser.close();
  process.stdout.write(`RESULT ${JSON.stringify({
    visits, console_errors: consoleErrors, offsite_requests: offsite,
  })}\n`);
}

main().catch((err) => {
  process.stderr.write(`visit.mjs: ${err?.stack ?? err}\n`);
  process.exit(1);
});
