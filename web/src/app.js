// OpenIMI JavaScript entry point, bundled by web/build.mjs into
// internal/web/static/dist/app.js.
//
// Every page must work without JavaScript: this file only enhances. The site
// runs under a strict Content-Security-Policy (nonces, no 'unsafe-inline', no
// 'unsafe-eval'), so there are no inline scripts, no inline event handlers,
// no hx-on attributes and no style="" attributes anywhere.
//
// Load it once per page, in <head>, as:
//   <script src="{{ asset "app.js" }}" defer nonce="..."></script>

import { ECL } from '@ecl/preset-ec';
import htmx from 'htmx.org';

const root = document.documentElement;
root.classList.remove('no-js');

// htmx defaults that fit the CSP and the handling of personal data.
Object.assign(htmx.config, {
  // No eval: hx-on, js: values and event filters with code are not allowed.
  allowEval: false,
  // Never execute <script> elements that arrive in swapped content.
  allowScriptTags: false,
  // htmx would insert an inline <style> (blocked by the CSP); app.css ships
  // the indicator rules instead.
  includeIndicatorStyles: false,
  // Do not keep snapshots of pages (which may show personal data) in
  // sessionStorage; on back/forward reload the page from the server.
  historyCacheSize: 0,
  refreshOnHistoryMiss: true,
  // Only talk to our own origin.
  selfRequestsOnly: true,
});
window.htmx = htmx;

// ECL components declare themselves with data-ecl-auto-init="Name".
function initECL() {
  ECL.autoInit();
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', initECL, { once: true });
} else {
  initECL();
}

// Content swapped in by htmx: initialise the ECL components it contains.
// Components already initialised carry data-ecl-auto-initialized="true" and
// are skipped by ECL itself.
document.addEventListener('htmx:load', (event) => {
  const el = event.target;
  if (!(el instanceof Element) || el === document.body) {
    return;
  }
  const name = el.getAttribute('data-ecl-auto-init');
  if (name && el.getAttribute('data-ecl-auto-initialized') !== 'true') {
    const component = ECL[name];
    if (component && typeof component.autoInit === 'function') {
      component.autoInit(el);
    }
  }
  ECL.autoInit({ root: el });
});

// Content removed by htmx: release the listeners of its ECL components.
document.addEventListener('htmx:beforeCleanupElement', (event) => {
  const instance = ECL.components && ECL.components.get(event.target);
  if (instance && typeof instance.destroy === 'function') {
    instance.destroy();
  }
});
