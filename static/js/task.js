// Task page: tell the user when a running generation finishes while the
// tab is in the background. The tab title shows the progress and then
// "✓ Complete · Task 12" (or "✗ Failed · Task 12"); with the user's
// permission a desktop notification says the same. The button
// "Notify me when it finishes" asks for that permission
// (Notification.requestPermission needs a user gesture).
//
// It watches #task-status, which htmx's SSE extension swaps on every status
// event, for the data-state of .task-status. While the event stream is
// down (refused at a cap, or the connection lost) #live-status says the
// progress shown may be old; the extension retries, and the note goes when
// the stream is back. CSP-safe: no inline code, no
// HTML strings. Without JavaScript the button stays hidden.
(function () {
  "use strict";


  var PAUSED = "Live progress is paused: the connection for updates was refused or lost, so what is shown may be out of date. " +
    "Retrying; reload the page to see the latest state.";

  var status, wrap, button, note, live;
  var taskID = "";
  var ledger = "";
  var originalTitle = document.title;
  var lastState = "";
  var finished = false;

  function currentState() {
    var el = status && status.querySelector("[data-state]");
    return el ? el.getAttribute("data-state") || "" : "";
  }

  // The server marks a task that has ended, in any state, data-finished.
  function finishedNow() {
    var el = status && status.querySelector("[data-state]");
    return !!el && el.hasAttribute("data-finished");
  }

  function currentPercent() {
    var el = status && status.querySelector("#task-percent");
    return el ? el.textContent.trim() : "";
  }

  function canNotify() {
    return typeof window.Notification === "function";
  }

  // In the background: another tab is shown, or another window has focus.
  function inBackground() {
    return document.hidden || (typeof document.hasFocus === "function" && !document.hasFocus());
  }

  function setNote(text) {
    if (note && note.textContent !== text) {
      note.textContent = text;
    }
  }

  function showPermission() {
    if (!canNotify()) {
      return;
    }
    var p = window.Notification.permission;
    if (p === "granted") {
      button.hidden = true;
      setNote("You will get a desktop notification when it finishes.");
    } else if (p === "denied") {
      button.hidden = true;
      setNote("Desktop notifications are blocked for this site; the tab title will show when it finishes.");
    } else {
      button.hidden = false;
    }
  }

  function askPermission() {
    if (!canNotify()) {
      return;
    }
    var done = function () { showPermission(); };
    try {
      var pr = window.Notification.requestPermission(done);
      if (pr && typeof pr.then === "function") {
        pr.then(done, done);
      }
    } catch (e) {
      done();
    }
  }

  function label(state) {
    if (state === "complete") {
      return "✓ Complete";
    }
    return state === "failed" ? "✗ Failed" : "Ended: " + state;
  }

  function setLive(text) {
    if (live && live.textContent !== text) {
      live.textContent = text;
    }
  }

  function onStreamDown() {
    if (!finished && !finishedNow()) {
      setLive(PAUSED);
    }
  }

  // News the finished state overtakes ("Generation started") goes.
  function dropWhileRunning() {
    var els = document.querySelectorAll("[data-while-running]");
    for (var i = 0; i < els.length; i++) {
      els[i].remove();
    }
  }

  function onFinish(state) {
    finished = true;
    dropWhileRunning();
    setLive("");
    if (wrap) {
      wrap.hidden = true;
    }
    if (!inBackground()) {
      document.title = originalTitle;
      return;
    }
    document.title = label(state) + " · Task " + taskID;
    if (canNotify() && window.Notification.permission === "granted") {
      var body = "Generation task " + taskID + (ledger ? " on " + ledger : "") +
        (state === "complete" ? " finished." : state === "failed" ? " failed." : " ended: " + state + ".");
      try {
        var n = new window.Notification(label(state) + " · Task " + taskID, { body: body, tag: "mangrove-task-" + taskID });
        n.onclick = function () {
          window.focus();
          n.close();
        };
      } catch (e) {
        // Some browsers only allow notifications from a service worker.
      }
    }
  }

  function onChange() {
    var state = currentState();
    if (!state || finished) {
      return;
    }
    if (finishedNow()) {
      if (lastState) {
        onFinish(state);
      }
      lastState = state;
      return;
    }
    lastState = state;
    if (inBackground()) {
      var pct = currentPercent();
      document.title = (pct ? pct + " · " : "") + "Task " + taskID + " running";
    }
  }

  // Back in front: the title goes back to normal, except that a finished
  // task keeps saying so until the user has seen it.
  function onVisible() {
    if (document.hidden) {
      return;
    }
    if (!finished) {
      document.title = originalTitle;
    } else {
      window.setTimeout(function () { document.title = originalTitle; }, 4000);
    }
  }

  function start() {
    status = document.getElementById("task-status");
    wrap = document.getElementById("task-notify");
    live = document.getElementById("live-status");
    if (!status) {
      return;
    }
    if (wrap) {
      taskID = wrap.getAttribute("data-task-id") || "";
      ledger = wrap.getAttribute("data-ledger") || "";
      button = document.getElementById("notify-button");
      note = document.getElementById("notify-status");
    }
    lastState = currentState();
    if (finishedNow()) {
      dropWhileRunning();
      return; // already finished when the page loaded
    }
    if (wrap && button && canNotify()) {
      wrap.hidden = false;
      button.addEventListener("click", askPermission);
      showPermission();
    }
    document.addEventListener("htmx:sseError", onStreamDown);
    document.addEventListener("htmx:sseOpen", function () { setLive(""); });
    new MutationObserver(onChange).observe(status, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-state"] });
    document.addEventListener("visibilitychange", onVisible);
    window.addEventListener("focus", onVisible);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
