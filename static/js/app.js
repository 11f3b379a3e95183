// Mangrove batch generation dashboard: small progressive enhancements.
//
// Every page works without this file. It is CSP-safe: no eval, no inline
// handlers, no HTML strings; it only sets textContent, titles, values and
// disabled flags. It also copes with content that htmx swaps in later
// (the task status over server-sent events): the timers re-query the
// document on every tick.
//
//   time[data-relative]         relative text ("3 min ago", "in 2 h"), absolute UTC title; every 30 s
//   time[data-relative-title]   absolute text kept, relative time as the title; every 30 s
//   [data-elapsed-since]        elapsed time ("1 min 05 s") every second while data-running="true"
//   form[data-once]             submit buttons disabled after the first submit
//   button[data-quick-start][data-quick-end]
//                               fills the form's start_time / end_time instead of submitting
(function () {
  "use strict";

  var SECOND = 1000;
  var MINUTE = 60 * SECOND;
  var HOUR = 60 * MINUTE;
  var DAY = 24 * HOUR;

  function pad2(n) {
    return n < 10 ? "0" + n : String(n);
  }

  // "2025-03-31 23:59:59 UTC"
  function absoluteUTC(d) {
    return (
      d.getUTCFullYear() + "-" + pad2(d.getUTCMonth() + 1) + "-" + pad2(d.getUTCDate()) + " " +
      pad2(d.getUTCHours()) + ":" + pad2(d.getUTCMinutes()) + ":" + pad2(d.getUTCSeconds()) + " UTC"
    );
  }

  function parseTime(s) {
    if (!s) {
      return null;
    }
    var t = Date.parse(s);
    return isNaN(t) ? null : new Date(t);
  }

  // relative(-180000) === "3 min ago"; relative(7200000) === "in 2 h".
  function relative(deltaMs) {
    var abs = Math.abs(deltaMs);
    var text;
    if (abs < 10 * SECOND) {
      return "just now";
    } else if (abs < MINUTE) {
      text = Math.floor(abs / SECOND) + " s";
    } else if (abs < HOUR) {
      text = Math.floor(abs / MINUTE) + " min";
    } else if (abs < 2 * DAY) {
      text = Math.floor(abs / HOUR) + " h";
    } else if (abs < 60 * DAY) {
      text = Math.floor(abs / DAY) + " days";
    } else if (abs < 730 * DAY) {
      text = Math.floor(abs / (30.44 * DAY)) + " months";
    } else {
      text = Math.floor(abs / (365.25 * DAY)) + " years";
    }
    return deltaMs < 0 ? text + " ago" : "in " + text;
  }

  // elapsed(65000) === "1 min 05 s"; elapsed(3725000) === "1 h 02 min 05 s";
  // from a day on, seconds are dropped: "2 d 03 h 04 min".
  function elapsed(ms) {
    var total = Math.max(0, Math.floor(ms / SECOND));
    var d = Math.floor(total / 86400);
    if (d > 0) {
      return d + " d " + pad2(Math.floor((total % 86400) / 3600)) + " h " + pad2(Math.floor((total % 3600) / 60)) + " min";
    }
    var h = Math.floor(total / 3600);
    var m = Math.floor((total % 3600) / 60);
    var s = total % 60;
    if (h > 0) {
      return h + " h " + pad2(m) + " min " + pad2(s) + " s";
    }
    if (m > 0) {
      return m + " min " + pad2(s) + " s";
    }
    return s + " s";
  }

  function setText(el, text) {
    if (el.textContent !== text) {
      el.textContent = text;
    }
  }

  // (1) Relative times.
  function updateRelativeTimes(root) {
    var now = Date.now();
    var els = (root || document).querySelectorAll("time[data-relative]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var d = parseTime(el.getAttribute("datetime"));
      if (!d) {
        continue;
      }
      var abs = absoluteUTC(d);
      if (el.title !== abs) {
        el.title = abs;
      }
      setText(el, relative(d.getTime() - now));
    }
    els = (root || document).querySelectorAll("time[data-relative-title]");
    for (var j = 0; j < els.length; j++) {
      var t = parseTime(els[j].getAttribute("datetime"));
      if (t) {
        els[j].title = relative(t.getTime() - now);
      }
    }
  }

  // (2) Running elapsed counters.
  function updateElapsed(root) {
    var now = Date.now();
    var els = (root || document).querySelectorAll("[data-elapsed-since]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if (el.getAttribute("data-running") !== "true") {
        continue;
      }
      var since = parseTime(el.getAttribute("data-elapsed-since"));
      if (since) {
        setText(el, elapsed(now - since.getTime()));
      }
    }
  }

  // (3) Forms submitted once. The server's one-time key is the real guard;
  // this only stops an accidental double click from sending twice.
  function submitButtons(form) {
    var out = [];
    var els = form.elements;
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var type = (el.getAttribute("type") || "").toLowerCase();
      if ((el.tagName === "BUTTON" && (type === "" || type === "submit")) ||
          (el.tagName === "INPUT" && (type === "submit" || type === "image"))) {
        out.push(el);
      }
    }
    return out;
  }

  function onSubmit(event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-once")) {
      return;
    }
    if (form.getAttribute("data-submitted") === "true") {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-submitted", "true");
    form.setAttribute("aria-busy", "true");
    // Disable after the browser has built the form data: a button disabled
    // during the submit event would drop its own name=value from it.
    window.setTimeout(function () {
      var buttons = submitButtons(form);
      for (var i = 0; i < buttons.length; i++) {
        buttons[i].disabled = true;
      }
    }, 0);
  }

  // Back/forward cache: a page restored after navigating away must not keep
  // its forms locked.
  function onPageShow(event) {
    if (!event.persisted) {
      return;
    }
    var forms = document.querySelectorAll("form[data-once][data-submitted]");
    for (var i = 0; i < forms.length; i++) {
      var form = forms[i];
      form.removeAttribute("data-submitted");
      form.removeAttribute("aria-busy");
      var buttons = submitButtons(form);
      for (var j = 0; j < buttons.length; j++) {
        buttons[j].disabled = false;
      }
    }
  }

  // (4) Quick ranges: fill the range fields instead of a round trip.
  function onClick(event) {
    var target = event.target;
    if (!(target instanceof Element)) {
      return;
    }
    var button = target.closest("button[data-quick-start][data-quick-end]");
    if (!button) {
      return;
    }
    // The buttons belong to the small quick-range form (so that Enter
    // previews); the fields they fill are in the form around them.
    var form = button.closest("form") || button.form;
    if (!form) {
      return;
    }
    var start = form.elements.namedItem("start_time");
    var end = form.elements.namedItem("end_time");
    if (!(start instanceof HTMLInputElement) || !(end instanceof HTMLInputElement)) {
      return; // let the button submit: the server fills the range
    }
    event.preventDefault();
    setField(start, button.getAttribute("data-quick-start"));
    setField(end, button.getAttribute("data-quick-end"));
    button.setAttribute("aria-pressed", "true");
    var siblings = form.querySelectorAll("button[data-quick-start][aria-pressed]");
    for (var i = 0; i < siblings.length; i++) {
      if (siblings[i] !== button) {
        siblings[i].removeAttribute("aria-pressed");
      }
    }
  }

  function setField(input, value) {
    input.value = value || "";
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function refresh(root) {
    updateRelativeTimes(root);
    updateElapsed(root);
  }

  function start() {
    refresh(document);
    window.setInterval(function () { updateRelativeTimes(document); }, 30 * SECOND);
    window.setInterval(function () { updateElapsed(document); }, SECOND);
    // Content swapped in by htmx (SSE status updates) is updated at once,
    // not only on the next tick.
    document.addEventListener("htmx:load", function (event) {
      var el = event.target instanceof Element ? event.target : document;
      refresh(el.parentNode || el);
    });
  }

  document.addEventListener("submit", onSubmit);
  document.addEventListener("click", onClick);
  window.addEventListener("pageshow", onPageShow);

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }

  // Exposed for tests in a browser console or e2e; not used by the pages.
  window.dashboardFormat = { relative: relative, elapsed: elapsed, absoluteUTC: absoluteUTC };
})();
