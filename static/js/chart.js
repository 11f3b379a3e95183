// Ledger page chart: primary output per period (bars) and the cumulative
// output of the chart's batches (line), added up by the server from the
// chart's first period (the API has no running total: a batch's
// ledger_balance is its own unallocated amount), drawn with the vendored
// uPlot from the JSON block <script type="application/json" id="chart-data">
// the server embeds.
//
// CSP-safe: no eval, no inline handlers, no HTML strings. uPlot sizes its
// elements through el.style (the CSSOM), which style-src 'self' allows.
// The chart is decoration for sighted users: its container is aria-hidden
// and the batches table below holds the same figures. Without JavaScript
// (or without data) the section stays hidden.
(function () {
  "use strict";

  var HEIGHT = 280;
  var OUTPUT = "#0a58ca"; // --primary, 6.6:1 on white
  var CUMULATIVE = "#7d4e00"; // --warn-text, 6.5:1 on white

  var numberFormat = new Intl.NumberFormat("en", { maximumFractionDigits: 3 });

  function fmtNumber(v) {
    return v == null ? "—" : numberFormat.format(v);
  }

  function pad2(n) {
    return n < 10 ? "0" + n : String(n);
  }

  // Batch periods are UTC, as everywhere in the dashboard.
  function fmtDate(secs) {
    if (secs == null) {
      return "—";
    }
    var d = new Date(secs * 1000);
    return d.getUTCFullYear() + "-" + pad2(d.getUTCMonth() + 1) + "-" + pad2(d.getUTCDate());
  }

  // xRange pads the time axis by most of a period on each side, so the
  // first and last bars are not cut in half at the edges.
  function xRange(xs) {
    var step = 0;
    for (var i = 1; i < xs.length; i++) {
      var d = xs[i] - xs[i - 1];
      if (d > 0 && (step === 0 || d < step)) {
        step = d;
      }
    }
    if (step === 0) {
      step = 86400;
    }
    return function (u, min, max) {
      return [min - step * 0.6, max + step * 0.6];
    };
  }

  function readData() {
    var el = document.getElementById("chart-data");
    if (!el) {
      return null;
    }
    try {
      var d = JSON.parse(el.textContent);
      if (!d || !d.x || d.x.length === 0) {
        return null;
      }
      return d;
    } catch (e) {
      return null;
    }
  }

  function draw() {
    var section = document.getElementById("chart-section");
    var box = document.getElementById("ledger-chart");
    var data = readData();
    if (!section || !box || !data || typeof window.uPlot !== "function") {
      return;
    }
    section.hidden = false; // before measuring: hidden elements have no width
    var unit = data.unit || "";
    var suffix = unit ? " " + unit : "";
    var bars = window.uPlot.paths && window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [0.6, 48] }) : null;

    var batches = data.batches || [];
    var since = "Cumulative output since " + fmtDate(data.x[0]);
    var axis = { stroke: "#57606a", grid: { stroke: "#eaeef2" }, ticks: { stroke: "#d0d7de" } };
    var opts = {
      width: Math.max(box.clientWidth, 280),
      height: HEIGHT,
      tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      scales: { x: { time: true, range: xRange(data.x) }, out: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } }, cum: { range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.1 : 1]; } } },
      series: [
        {
          label: "Period (UTC)",
          value: function (u, v, si, i) {
            if (v == null) {
              return "—";
            }
            var n = i != null ? batches[i] : 0;
            return fmtDate(v) + (n > 1 ? " (" + n + " batches)" : "");
          }
        },
        {
          label: "Primary output",
          scale: "out",
          stroke: OUTPUT,
          fill: "rgba(10, 88, 202, 0.35)",
          width: 1,
          paths: bars || undefined,
          points: { show: false },
          value: function (u, v) { return v == null ? "—" : fmtNumber(v) + suffix; }
        },
        {
          label: since,
          scale: "cum",
          stroke: CUMULATIVE,
          width: 2,
          dash: [6, 4],
          spanGaps: true,
          points: { show: true, size: 5, fill: CUMULATIVE },
          value: function (u, v) { return v == null ? "—" : fmtNumber(v) + suffix; }
        }
      ],
      axes: [
        axis,
        Object.assign({}, axis, { scale: "out", label: "Primary output" + suffix, size: 64, values: function (u, vals) { return vals.map(fmtNumber); } }),
        Object.assign({}, axis, { scale: "cum", side: 1, grid: { show: false }, label: "Cumulative output" + suffix, size: 72, values: function (u, vals) { return vals.map(fmtNumber); } })
      ],
      cursor: { drag: { x: false, y: false } },
      legend: { live: true }
    };
    var plot = new window.uPlot(opts, [data.x, data.output, data.cumulative || []], box);
    box.setAttribute("data-drawn", "true");

    if (typeof window.ResizeObserver === "function") {
      var last = box.clientWidth;
      new window.ResizeObserver(function () {
        var w = box.clientWidth;
        if (w > 0 && w !== last) {
          last = w;
          plot.setSize({ width: Math.max(w, 280), height: HEIGHT });
        }
      }).observe(box);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
