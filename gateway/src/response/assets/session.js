// The session warning on a signed-in service's pages (WCAG 2.2.1 Timing Adjustable).
//
// A citizen filling a long legacy form makes no request for half an hour, and her session
// ends for inactivity: what she then sends is lost. This script, linked by the portal strip
// of signed-in pages, warns her before the session ends (at least 20 seconds before, as
// WCAG asks) and offers to stay signed in with one button, which asks the gateway's
// keep-alive address (the request itself moves the session's idle clock on). Once the
// session has ended it says how to keep what she typed: log in again in a new tab, then come
// back and send the form (the new session's cookie is the browser's, for every tab).
//
// Before it warns, and when the time is up, it asks how long the session really has
// (`?peek`, which moves nothing on): another tab may have kept it alive, and the gateway
// notes activity only now and then, so a page's own clock is only an estimate.
//
// Everything it says comes from the strip's data attributes, in the page's language; it
// asks nothing of the legacy page and touches nothing of it but the strip.
(function () {
  'use strict';
  var strip = document.getElementById('egov-strip');
  if (!strip || !strip.dataset.keepAlive) return;
  var d = strip.dataset;
  var idle = Number(d.idle);
  if (!(idle > 0)) return;
  var timer = null;
  var box = null;
  var returnFocus = null;

  // The warning comes this many seconds before the end: two minutes, or a quarter of the
  // idle time if that is longer than 20 seconds and shorter than two minutes.
  var lead = Math.min(120, Math.max(20, idle / 4));
  // How much earlier than this page's load the session may have been last noted active.
  var slack = Math.min(60, idle / 10);

  function after(seconds, then) {
    clearTimeout(timer);
    timer = setTimeout(then, Math.max(0, seconds) * 1000);
  }

  function clear() {
    if (box) {
      box.remove();
      box = null;
    }
  }

  function show(text, action) {
    clear();
    box = document.createElement('div');
    box.id = 'egov-session';
    box.setAttribute('role', 'alert');
    // At the bottom of the window, wherever the citizen has scrolled to (the strip is at the
    // top of the page).
    box.style.cssText =
      'all:initial;display:block;position:fixed;left:0;right:0;bottom:0;z-index:2147483647;' +
      'box-sizing:border-box;font:14px/1.6 system-ui,sans-serif;color:#fff;' +
      'background:#0b5394;padding:8px 12px;border-top:2px solid #fff';
    var p = document.createElement('span');
    p.textContent = text + ' ';
    p.style.cssText = 'all:initial;font:inherit;color:#fff';
    box.appendChild(p);
    if (action) box.appendChild(action);
    strip.appendChild(box);
  }

  // How long the session has: `{authenticated, expires_in}`, or null if the gateway could
  // not say (it is then asked again a little later).
  function ask(peek) {
    var url = d.keepAlive + (peek ? '?peek' : '');
    return fetch(url, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; });
  }

  function check() {
    ask(true).then(function (answer) {
      if (!answer) return after(10, check);
      if (!answer.authenticated) return ended();
      var left = Number(answer.expires_in) || 0;
      if (left > lead + 2) {
        clear();
        return after(left - lead, check);
      }
      if (!box) warn();
      after(Math.max(left, 1), check);
    });
  }

  function warn() {
    returnFocus = document.activeElement;
    var stay = document.createElement('button');
    stay.type = 'button';
    stay.textContent = d.stay;
    stay.style.cssText =
      'all:initial;font:inherit;font-weight:700;color:#0b5394;background:#fff;' +
      'padding:2px 10px;border-radius:4px;cursor:pointer';
    stay.addEventListener('click', extend);
    show(d.ending, stay);
    // Not while she types: her next keys would go to the button, and the page would jump to
    // it (found in review). She hears the alert and sees it; otherwise the keyboard goes to
    // the button, the page left where it is.
    if (!typing(returnFocus)) stay.focus({ preventScroll: true });
  }

  function typing(el) {
    return !!el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function ended() {
    clearTimeout(timer);
    var hadFocus = box && box.contains(document.activeElement);
    var again = document.createElement('a');
    again.href = '/';
    again.target = '_blank';
    again.rel = 'noopener';
    again.textContent = d.loginNewTab;
    again.style.cssText = 'all:initial;font:inherit;color:#fff;text-decoration:underline;cursor:pointer';
    show(d.ended, again);
    if (hadFocus) again.focus({ preventScroll: true });
  }

  function extend() {
    ask(false).then(function (answer) {
      // Not heard: the warning stays, and its button may be pressed again.
      if (!answer) return;
      if (!answer.authenticated) return ended();
      clear();
      if (returnFocus && document.contains(returnFocus)) returnFocus.focus();
      var left = Math.min(idle, Number(answer.expires_in) || idle);
      after(left - lead, check);
    });
  }

  after(idle - lead - slack, check);
})();
