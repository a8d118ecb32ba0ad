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
//                   "evaluate": "<JS expression>",   // run in the page at the end (awaited)
//                   "search": "text",              // type it into the page's box (#q) and submit
//                   "clicks": ["css selector"],    // then click each, waiting for its page
//                   "back": true,                  // then press Back once
//                   "keyboard": true,              // then Tab through the page (see below)
//                   "audit": true,                 // then run axe-core (WCAG 2.1 A and AA)
//                   "screenshot": "/path.png" } ] }  // then save the whole page as PNG
// A visit goes to its URL and then, while the page is on the provider, answers the provider's
// dev-interaction forms (login if `login` is given, consent always, logout if
// `confirm_logout`); it stops on the first page it has nothing to do on.
//
// Prints exactly one line to stdout:
//   RESULT {"visits":[{start,url,status,navigations,actions,title,charset,text,links,
//                      document_cookie,cookies}],"console_errors":[...],"offsite_requests":[...]}
// `audit` the axe-core violations ([{id, impact, help, targets}], null without an audit),
// `keyboard` every element Tab reached ({tag, name, href, outline}) and the links and buttons
// it never reached (`unreached`), null without a walk,
// where `status` is the HTTP status of the page finally shown, `navigations` every main-frame
// request of the visit (each redirect hop included), `links` the raw `href` attributes,
// `document_cookie` what page scripts read, `cookies` what the browser holds (HttpOnly too),
// `evaluated` what the visit's script returned (null without one), and `offsite_requests`
// every request that tried to leave 127.0.0.1 and *.localhost.
// and its errors to stderr (exit status 1).

import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/// axe-core's source, injected into a page over DevTools (not as a <script>: the portal's
/// Content-Security-Policy stays in force while it is audited).
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/// Runs axe-core's WCAG 2.1 A and AA rules on the page; the violations, briefly.
async function audit(page) {
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
    }));
  });
}

/// Tabs through the page from the top: what got focus (and whether its focus is visible),
/// and which links and buttons Tab never reached.
async function keyboardWalk(page, limit = 400) {
  await page.evaluate(() => { document.activeElement?.blur(); window.scrollTo(0, 0); });
  const reached = [];
  const seen = new Set();
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    const info = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      if (!el.dataset.egovWalk) el.dataset.egovWalk = String(Math.random());
      const style = getComputedStyle(el);
      const visible = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)
        || style.boxShadow !== 'none';
      return {
        key: el.dataset.egovWalk, tag: el.tagName.toLowerCase(),
        name: (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 60),
        href: el.getAttribute('href'), outline: visible,
      };
    });
    if (info === null) break;
    if (seen.has(info.key)) break;
    seen.add(info.key);
    const { key, ...rest } = info;
    reached.push(rest);
  }
  const unreached = await page.evaluate(() => [...document.querySelectorAll('a[href], button, input, select')]
    .filter((el) => !el.dataset.egovWalk && el.type !== 'hidden' && el.offsetParent !== null)
    .map((el) => el.outerHTML.slice(0, 120)));
  return { reached, unreached };
}

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
  for (const [index, visit] of (scenario.visits ?? []).entries()) {
    try {
      visits.push(await runVisit(visit));
    } catch (err) {
      throw new Error(`visit ${index} (${visit.url}, at ${page.url()}): ${err?.message ?? err}`);
    }
  }
  async function runVisit(visit) {
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
    if (visit.search !== undefined && visit.search !== null) {
      await page.locator('#q').fill(visit.search, { timeout });
      await submit(page, page.locator('form[role="search"] button[type="submit"]'), timeout);
      actions.push('search');
    }
    for (const selector of visit.clicks ?? []) {
      await submit(page, page.locator(selector).first(), timeout);
      actions.push(`click ${selector}`);
      while (new URL(page.url()).origin === provider && actions.length < MAX_ACTIONS + 8) {
        const done = await answerProvider(page, visit, timeout);
        if (done === null) break;
        actions.push(done);
      }
    }
    if (visit.back) {
      // A page restored from the back/forward cache fires no new `load`: wait for its
      // document instead.
      await page.goBack({ waitUntil: 'commit', timeout });
      await page.waitForFunction(() => document.readyState === 'complete', null, { timeout });
      actions.push('back');
    }
    const keyboard = visit.keyboard ? await keyboardWalk(page) : null;
    const violations = visit.audit ? await audit(page) : null;
    if (visit.screenshot) await page.screenshot({ path: visit.screenshot, fullPage: true });
    let evaluated = null;
    if (visit.evaluate) {
      try {
        evaluated = await page.evaluate(visit.evaluate);
      } catch (err) {
        evaluated = { evaluate_error: String(err) };
      }
    }
    const seen = await snapshot(page, context);
    return {
      start: visit.url, status, navigations, actions, evaluated, audit: violations, keyboard, ...seen,
    };
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
