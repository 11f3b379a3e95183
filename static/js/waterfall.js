// Batch page waterfall: carbon stored, each emission taken from it, and the
// net, as horizontal bars drawn with the vendored uPlot from the JSON block
// <script type="application/json" id="waterfall-data"> the server embeds.
//
// CSP-safe like chart.js: no eval, no inline handlers, no HTML strings. The
// chart's container has role="img" and a server-written summary; the
// calculations table holds the same figures. Without JavaScript (or data)
// the section stays hidden.
(function () {
  "use strict";

  var LINE = 15; // px per line of a step's name
  var ROW_PAD = 16; // px around a bar's name
  var ROW_MIN = 40; // px per bar at least
  var AXIS = 48; // px for the value axis and its unit
  var MIN_WIDTH = 280;
  var LABEL_SHARE = 0.36; // of the width, at most, for the step names
  var LABEL_MAX = 240; // px
  var CHAR = 7; // px, about, per character of the 12 px font
  var GAP = 6; // px between a bar and its amount
  var TEXT = "#1f2328"; // --text
  var MUTED = "#57606a"; // --text-muted, 6.3:1 on white
  var STORED = "#0a58ca"; // --primary, 6.6:1 on white (and white on it)
  var EMISSION = "#a40e26"; // --bad-text, 6.9:1 on white
  var NET = "#116329"; // --ok-text, 6.9:1 on white (and white on it)

  var numberFormat = new Intl.NumberFormat("en", { maximumFractionDigits: 2 });

  function readData() {
    var el = document.getElementById("waterfall-data");
    if (!el) {
      return null;
    }
    try {
      var d = JSON.parse(el.textContent);
      return d && d.steps && d.steps.length > 0 ? d : null;
    } catch (e) {
      return null;
    }
  }

  // wrap breaks a step name into lines of at most max characters.
  function wrap(name, max) {
    var lines = [];
    var line = "";
    name.split(" ").forEach(function (word) {
      if (line && (line + " " + word).length > max) {
        lines.push(line);
        line = word;
      } else {
        line = line ? line + " " + word : word;
      }
    });
    lines.push(line);
    return lines;
  }

  function colour(step, i, n) {
    if (step.emission) {
      return EMISSION;
    }
    return i === n - 1 ? NET : STORED;
  }

  function amount(step) {
    return step.emission ? "−" + numberFormat.format(step.from - step.to) : numberFormat.format(step.to);
  }

  function options(data, width) {
    var steps = data.steps;
    var n = steps.length;
    var labelWidth = Math.min(LABEL_MAX, Math.round(width * LABEL_SHARE));
    var names = steps.map(function (s) { return wrap(s.name, Math.floor(labelWidth / CHAR)); });
    var lines = Math.max.apply(null, names.map(function (l) { return l.length; }));
    var row = Math.max(ROW_MIN, lines * LINE + ROW_PAD);
    var lo = 0;
    var hi = 0;
    steps.forEach(function (s) {
      lo = Math.min(lo, s.from, s.to);
      hi = Math.max(hi, s.from, s.to);
    });
    var each = function (pick) {
      return { unit: 3, values: function () { return steps.map(pick); } };
    };
    var grid = { stroke: "#eaeef2" };
    return {
      width: width,
      height: n * row + AXIS,
      legend: { show: false },
      cursor: { show: false },
      scales: {
        x: { time: false, ori: 1, dir: -1, range: function () { return [-0.5, n - 0.5]; } },
        y: { ori: 0, range: function () { return [lo, hi > lo ? hi * 1.08 : 1]; } }
      },
      axes: [
        // The names are drawn by drawNames, centred on their bars.
        { side: 3, size: labelWidth + 12, grid: { show: false }, ticks: { show: false }, values: function (u, splits) { return splits.map(function () { return ""; }); } },
        {
          side: 2,
          stroke: MUTED,
          grid: grid,
          ticks: { stroke: "#d0d7de" },
          label: data.unit || "",
          values: function (u, vals) { return vals.map(function (v) { return numberFormat.format(v); }); }
        }
      ],
      series: [
        {},
        {
          paths: window.uPlot.paths.bars({
            size: [0.7, 32],
            disp: {
              y0: each(function (s) { return s.from; }),
              y1: each(function (s) { return s.to; }),
              fill: each(function (s, i) { return colour(s, i, n); }),
              stroke: each(function (s, i) { return colour(s, i, n); })
            }
          }),
          points: { show: false }
        }
      ],
      hooks: { draw: [function (u) { drawNames(u, names); drawAmounts(u, steps); }] }
    };
  }

  function font(ctx, ratio) {
    ctx.font = Math.round(12 * ratio) + "px system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif";
    ctx.textBaseline = "middle";
  }

  // drawNames writes each step's name left of the plot, centred on its bar.
  function drawNames(u, names) {
    var ctx = u.ctx;
    var ratio = window.devicePixelRatio || 1;
    ctx.save();
    font(ctx, ratio);
    ctx.textAlign = "right";
    ctx.fillStyle = MUTED;
    names.forEach(function (lines, i) {
      var y = u.valToPos(i, "x", true) - (lines.length - 1) * LINE * ratio / 2;
      lines.forEach(function (line, j) {
        ctx.fillText(line, u.bbox.left - GAP * ratio, y + j * LINE * ratio);
      });
    });
    ctx.restore();
  }

  // drawAmounts writes each bar's amount right of it; where that does not
  // fit, inside a bar from zero (white on its colour) or left of a step.
  function drawAmounts(u, steps) {
    var ctx = u.ctx;
    var ratio = window.devicePixelRatio || 1;
    var gap = GAP * ratio;
    ctx.save();
    font(ctx, ratio);
    ctx.textAlign = "left";
    steps.forEach(function (s, i) {
      var text = amount(s);
      var w = ctx.measureText(text).width;
      var y = u.valToPos(i, "x", true);
      var start = u.valToPos(Math.min(s.from, s.to), "y", true);
      var end = u.valToPos(Math.max(s.from, s.to), "y", true);
      var x = end + gap;
      ctx.fillStyle = TEXT;
      if (x + w > u.bbox.left + u.bbox.width) {
        if (!s.emission && end - start > w + 2 * gap) {
          x = end - w - gap;
          ctx.fillStyle = "#ffffff";
        } else {
          x = start - w - gap;
        }
      }
      ctx.fillText(text, x, y);
    });
    ctx.restore();
  }

  function draw() {
    var section = document.getElementById("waterfall-section");
    var box = document.getElementById("waterfall");
    var data = readData();
    if (!section || !box || !data || typeof window.uPlot !== "function" || !window.uPlot.paths || !window.uPlot.paths.bars) {
      return;
    }
    section.hidden = false; // before measuring: hidden elements have no width
    var columns = [data.steps.map(function (s, i) { return i; }), data.steps.map(function (s) { return s.to; })];
    var build = function (w) { return new window.uPlot(options(data, Math.max(w, MIN_WIDTH)), columns, box); };
    var plot = build(box.clientWidth);
    box.setAttribute("data-drawn", "true");

    // The names wrap to the width, so a new width draws the chart anew.
    if (typeof window.ResizeObserver === "function") {
      var last = box.clientWidth;
      new window.ResizeObserver(function () {
        var w = box.clientWidth;
        if (w > 0 && w !== last) {
          last = w;
          plot.destroy();
          plot = build(w);
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
