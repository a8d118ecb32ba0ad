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
  function lead(seconds) {
    return Math.min(120, Math.max(20, seconds / 4));
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
    box.style.cssText = 'all:initial;display:block;font:inherit;color:#fff;padding:4px 0';
    var p = document.createElement('span');
    p.textContent = text + ' ';
    p.style.cssText = 'all:initial;font:inherit;color:#fff';
    box.appendChild(p);
    if (action) box.appendChild(action);
    strip.appendChild(box);
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
    stay.focus();
    timer = setTimeout(ended, lead(idle) * 1000);
  }

  function ended() {
    var again = document.createElement('a');
    again.href = '/';
    again.target = '_blank';
    again.rel = 'noopener';
    again.textContent = d.loginNewTab;
    again.style.cssText = 'all:initial;font:inherit;color:#fff;text-decoration:underline;cursor:pointer';
    show(d.ended, again);
  }

  function schedule(seconds) {
    clearTimeout(timer);
    timer = setTimeout(warn, Math.max(0, seconds - lead(seconds)) * 1000);
  }

  function extend() {
    fetch(d.keepAlive, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        clearTimeout(timer);
        if (!answer.authenticated) {
          ended();
          return;
        }
        clear();
        if (returnFocus && document.contains(returnFocus)) returnFocus.focus();
        schedule(Math.min(idle, Number(answer.expires_in) || idle));
      })
      .catch(function () {
        clearTimeout(timer);
        ended();
      });
  }

  schedule(idle);
})();
