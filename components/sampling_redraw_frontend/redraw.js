// The temperature / top-k / top-p component's frontend (see components/sampling_redraw.py).
//
// Streamlit's component protocol, spoken directly (no streamlit-component-lib): we post
// "streamlit:componentReady" to the parent, receive "streamlit:render" messages with the arguments (bytes
// arguments arrive as Uint8Array), and post "streamlit:setComponentValue" / "streamlit:setFrameHeight".
//
// Everything from the page is data. Token labels arrive unescaped: they go into textContent (the metric, the
// table); the figures' labels were escaped once, for Plotly, by the Python figure builders. Texts this file puts
// into Plotly (the adjusted title, "n kept") are templates escaped in Python and filled with numbers here. The
// Markdown of the explanations is a small subset (**bold**, `code`, links to app pages) turned into DOM nodes,
// never parsed as HTML.
(function () {
  "use strict";

  var S = window.TxSampling;
  var $ = function (id) { return document.getElementById(id); };
  var inputs = { temperature: $("temperature"), top_k: $("top_k"), top_p: $("top_p") };
  var outputs = { temperature: $("temperature-value"), top_k: $("top_k-value"), top_p: $("top_p-value") };

  var args = null; // the latest arguments
  var ctx = null; // TxSampling.prepare() of the decoded logits
  var dataId = null;
  var selectionKey = null; // the setting the page last sent
  var current = { temperature: 1, top_k: 0, top_p: 1 };
  var reported = null; // the setting last sent to the page (JSON)
  var reportTimer = null;
  var frameHeight = 0;
  var figureKeys = {}; // which figure template each plot shows (a new one needs a full Plotly.react)
  var drawn = null; // the setting on screen (JSON), set once every figure has been redrawn
  var pendingInput = null; // timeStamp of the input event whose redraw is under way
  var view = { timings: [], draws: 0 }; // read by the tests and the bench

  function send(type, data) {
    var msg = { isStreamlitMessage: true, type: type };
    for (var k in data) { msg[k] = data[k]; }
    window.parent.postMessage(msg, "*");
  }

  var pyG = window.TxFormat.pyG, pyFormat = window.TxFormat.pyFormat, fill = window.TxFormat.fill;
  var markdown = window.TxFormat.markdown;

  function show(el, on) { el.classList.toggle("hidden", !on); }

  // ---------------------------------------------------------------------------------------- controls
  function decimals(step) { var s = String(step); return s.indexOf(".") < 0 ? 0 : s.length - s.indexOf(".") - 1; }

  function shownValue(name, v) {
    if (name === "top_k") { return v === 0 ? "0 (" + args.strings.off + ")" : String(v); }
    var d = decimals(name === "temperature" ? args.limits.t_step : args.limits.p_step);
    var fixed = v.toFixed(d);
    return parseFloat(fixed) === v ? fixed : pyG(v, 6); // a value from a link, between two steps: as it is
  }

  function syncControls() {
    var s = args.strings, l = args.limits;
    [["temperature", 0, l.t_max, l.t_step], ["top_k", 0, l.k_max, 1], ["top_p", 0, 1, l.p_step]].forEach(function (c) {
      var name = c[0], input = inputs[name];
      $(name + "-label").textContent = s[name];
      $(name + "-help").title = s[name + "_help"];
      input.title = s[name + "_help"];
      input.min = String(c[1]); input.max = String(c[2]); input.step = String(c[3]);
      input.value = String(current[name]);
      outputs[name].textContent = shownValue(name, current[name]);
      input.setAttribute("aria-valuetext", outputs[name].textContent);
      fillTrack(input);
    });
  }

  function fillTrack(input) { // the red part of the track, up to the thumb
    var lo = parseFloat(input.min), hi = parseFloat(input.max), v = parseFloat(input.value);
    input.style.setProperty("--fill", (hi > lo ? (100 * (v - lo) / (hi - lo)) : 0) + "%");
  }

  // --------------------------------------------------------------------------------------------- draw
  function settingText(res) {
    if (res.greedy) { return args.strings.greedy_setting; }
    var parts = ["T = " + pyG(current.temperature, 6)];
    if (current.top_k) { parts.push("top-k = " + current.top_k); }
    if (current.top_p < 1) { parts.push("top-p = " + pyG(current.top_p, 6)); }
    return parts.join(", ");
  }

  function pick(arr, ids) { var out = new Array(ids.length); for (var i = 0; i < ids.length; i++) { out[i] = arr[ids[i]]; } return out; }

  function pct1(v) { return pyFormat(v, ".1%"); }

  // ------------------------------------------------------------------------------------------ the bars
  // The two bar charts are drawn as plain DOM (a row per token, a bar per panel, widths in %), not by Plotly: a
  // Plotly figure is redrawn whole on every change (~40 ms here for this one: the whole budget of a move), while
  // setting 40 widths takes well under a millisecond. The look follows components.sampling_plots.probability_bars
  // (its colours are passed in); labels go in as text (textContent: never parsed, nothing to escape).
  // A tick every 1, 2, 2.5 or 5 x 10^n, at most ``most`` of them: ``most`` comes from the panel's width in pixels, so
  // the percentages never run together on a phone ("80%0%").
  function niceStep(top, most) {
    var steps = [0.001, 0.002, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1];
    for (var i = 0; i < steps.length; i++) { if (top / steps[i] <= most) { return steps[i]; } }
    return 1;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function rowLabel(i) { return fill(args.strings.row, { rank: i + 1, token: args.labels[i], id: args.ids[i] }); }

  function buildBars() { // once per payload and look: rows, labels, panels (drawBars puts the numbers in)
    var box = $("bars"), s = args.strings, c = args.colors;
    box.textContent = "";
    box.appendChild(el("div", "bars-title", args.title));
    // grid areas (index.html): b = the blank corner, h = a panel's title, l = the token labels, p = the panel
    var grid = el("div", "bars-grid");
    var built = { rows: [[], []], heads: [], lines: [], axes: [] };
    [0, 1].forEach(function (k) {
      grid.appendChild(el("div", "b" + k));
      var head = el("div", "bars-head h" + k, k ? "" : s.model_title);
      grid.appendChild(head);
      var labels = el("div", "bars-labels l" + k); // the second copy shows only when the panels are stacked
      if (k) { labels.setAttribute("aria-hidden", "true"); }
      args.ids.forEach(function (id, i) { labels.appendChild(el("div", "bars-label", rowLabel(i))); });
      grid.appendChild(labels);
      var panel = el("div", "bars-panel p" + k);
      var area = el("div", "bars-area"), lines = el("div", "bars-gridlines");
      area.appendChild(lines);
      args.ids.forEach(function () {
        var row = el("div", "bars-row"), bar = el("div", "bar"), val = el("span", "bar-value");
        bar.style.background = k ? c.adjusted : c.original;
        row.appendChild(bar); row.appendChild(val);
        if (k) { var cut = el("span", "bar-cut", "\u2716 " + s.cut); cut.style.color = c.cut; row.appendChild(cut); }
        area.appendChild(row);
        built.rows[k].push(row);
      });
      var axis = el("div", "bars-axis");
      panel.appendChild(area); panel.appendChild(axis); panel.appendChild(el("div", "bars-axis-title", s.probability));
      grid.appendChild(panel);
      built.heads.push(head); built.lines.push(lines); built.axes.push(axis);
    });
    box.appendChild(grid);
    view.bars = built;
  }

  function drawTicks(k, top) { // the axis of panel k: as many ticks as its width holds (>= 3.5 em apart)
    var lines = view.bars.lines[k], axis = view.bars.axes[k];
    var width = axis.getBoundingClientRect().width;
    var em = parseFloat(getComputedStyle(axis).fontSize) || 13;
    var step = niceStep(top, Math.max(1, Math.floor(width / (3.5 * em)))), tickSpec = step < 0.01 ? ".1%" : ".0%";
    lines.textContent = ""; axis.textContent = "";
    var last = Math.floor(top / step + 1e-9);
    for (var n = 0; n <= last; n++) {
      var at = (100 * n * step / top) + "%";
      var line = el("div", "gridline"); line.style.left = at; lines.appendChild(line);
      var tick = el("span", "tick", pyFormat(n * step, tickSpec)); tick.style.left = at;
      if (n === 0) { tick.classList.add("first"); } else if (n * step / top > 0.9) { tick.classList.add("last"); }
      axis.appendChild(tick);
    }
  }

  function drawBars(res) {
    var ids = args.ids, s = args.strings, b = view.bars;
    var orig = pick(res.probsOriginal, ids), adj = pick(res.probs, ids), kept = pick(res.kept, ids);
    var top = Math.max(Math.max.apply(null, orig.concat([0])), Math.max.apply(null, adj.concat([0])), 1e-9) * 1.08;
    b.heads[1].textContent = fill(s.adjusted, { setting: settingText(res) });
    b.top = top;
    [0, 1].forEach(function (k) {
      var values = k ? adj : orig;
      drawTicks(k, top);
      b.rows[k].forEach(function (row, i) {
        var v = values[i], w = 100 * v / top, cut = k && !kept[i], inside = w > 80;
        var val = row.children[1];
        row.firstChild.style.width = w + "%";
        val.textContent = cut ? "" : pct1(v);
        val.className = "bar-value" + (inside ? " inside" : "");
        val.style.left = inside ? "" : w + "%";
        val.style.right = inside ? (100 - w) + "%" : "";
        row.title = rowLabel(i) + " \u00b7 " + s.probability + " " + pyFormat(v, ".6f") + (cut ? " \u00b7 " + s.cut_by : "");
        if (k) { row.classList.toggle("is-cut", !!cut); }
      });
    });
  }

  // The top-p curve: a Plotly figure (components.sampling_plots.nucleus_curve's template).
  function nucleusFigure(res) {
    var tpl = args.figures.nucleus, V = res.V, p = current.top_p;
    var keptAt = Math.max(res.nKept, 1);
    // the curve depends on T and top-k only: the same trace object while only top-p moves, so Plotly.react
    // only moves the lines and the notes
    var curveKey = [dataId, view.figKey, res.greedy ? 0 : current.temperature, res.greedy ? 0 : current.top_k].join("|");
    if (!view.curve || view.curve.key !== curveKey) {
      var cum = S.nucleus(ctx, res), points = 400, seen = {}, ranks = [], logV = Math.log10(V);
      for (var i = 0; i < points; i++) { // np.geomspace(1, V, 400).round(), unique, sorted (1-based ranks)
        seen[i === points - 1 ? V : Math.round(Math.pow(10, logV * i / (points - 1)))] = true;
      }
      for (var key in seen) { ranks.push(parseInt(key, 10)); }
      ranks.sort(function (a, b) { return a - b; });
      view.curve = { key: curveKey, trace: Object.assign({}, tpl.data[0], {
        x: ranks, y: ranks.map(function (k) { return cum[k - 1]; }) }) };
    }
    var layout = Object.assign({}, tpl.layout);
    var shapes = tpl.layout.shapes, notes = tpl.layout.annotations;
    layout.shapes = [Object.assign({}, shapes[0], { x0: keptAt, x1: keptAt })];
    layout.annotations = [Object.assign({}, notes[0], { x: Math.log10(keptAt), text: fill(args.strings.kept_plot, { n: res.nKept }) })];
    if (p < 1) {
      layout.shapes.push(Object.assign({}, shapes[1], { y0: p, y1: p }));
      layout.annotations.push(Object.assign({}, notes[1], { y: p, text: "top-p = " + pyG(p, 6) }));
    }
    return { data: [view.curve.trace], layout: layout };
  }

  function react(el, name, fig) {
    var config = Object.assign({ responsive: true }, args.config);
    figureKeys[name] = true;
    return Plotly.react(el, fig.data, fig.layout, config);
  }

  function metric(id, label, value, delta) {
    var el = $(id);
    el.querySelector(".m-label").textContent = label;
    el.querySelector(".m-value").textContent = value;
    var d = el.querySelector(".m-delta");
    if (d) { d.textContent = delta || ""; show(d, !!delta); }
  }

  function sentences(parts) { return parts.filter(Boolean).join(args.sep); }

  function onOff(v) { return v === null ? args.strings.off : v; }

  function drawText(res) {
    var s = args.strings, V = res.V, T = current.temperature, k = current.top_k, p = current.top_p, ids = args.ids;
    var top = ids[0];
    metric("m-eligible", fill(s.eligible, { V: V }), pyFormat(res.nKept, ","));
    metric("m-h0", s.entropy_model, fill(s.bits, { bits: res.entropyOriginal }));
    metric("m-h1", s.entropy_adjusted, fill(s.bits, { bits: res.entropyFinal }),
           fill(s.bits_delta, { bits: res.entropyFinal - res.entropyOriginal }));
    metric("m-top", s.most_likely, args.labels[0] + " · " + pct1(res.probs[top]));
    $("m-top").title = fill(s.most_likely_help, { p: res.probsOriginal[top] });
    markdown($("greedy"), s.greedy_info);
    show($("greedy"), res.greedy);
    var nz = !res.greedy && res.nNonzero < res.nKept;
    if (nz) { markdown($("nonzero"), fill(s.nonzero, { T: T, nonzero: res.nNonzero, kept: res.nKept })); }
    show($("nonzero"), nz);
    var n = ids.length, massO = 0, massA = 0;
    for (var i = 0; i < n; i++) { massO += res.probsOriginal[ids[i]]; massA += res.probs[ids[i]]; }
    markdown($("bars-caption"), fill(s.bars_caption, { n: n, V: V, mass: massO, adjusted: massA }));
    if (args.mode !== "full") { return; }
    markdown($("explain"), sentences([
      fill(k ? s.how_p_k : s.how_p, { p: p }), fill(k ? s.how_k : s.how_k_off, { k: k }),
      fill(s.left, { after_k: res.nKeptTopK, kept: res.nKept, mass: res.keptMass, h0: res.entropyOriginal,
                     h1: res.entropyFinal, hmax: Math.log2(V), V: V })]));
    $("math-title").textContent = s.math;
    var lines = [fill(s.math_1, { V: V })];
    if (res.greedy) {
      lines.push(s.math_greedy);
    } else {
      lines.push(fill(s.math_2, { T: T }), fill(s.math_3, { V: V }),
                 fill(s.math_4, { k: onOff(k ? String(k) : null), p: onOff(p < 1 ? pyG(p, 6) : null), kept: res.nKept }),
                 fill(s.math_5, { mass: res.keptMass }));
    }
    var box = $("math-lines");
    box.textContent = "";
    lines.forEach(function (line) { var el = document.createElement("p"); markdown(el, line); box.appendChild(el); });
    drawTable(res);
  }

  function drawTable(res) {
    var s = args.strings, ids = args.ids.slice(0, args.n_math);
    var cols = [s.col_token, s.col_id, "logit z", "z / T", "softmax(z / T)", s.col_after_k, s.col_sees,
                s.col_cumulative, s.col_after_p, s.col_final];
    var head = $("steps").tHead, body = $("steps").tBodies[0];
    head.textContent = ""; body.textContent = "";
    var tr = head.insertRow();
    cols.forEach(function (c) { var th = document.createElement("th"); th.textContent = c; tr.appendChild(th); });
    var cum = 0;
    ids.forEach(function (id, i) {
      cum += res.probsTopPSees[id];
      var z = ctx.logits[id], zt = res.greedy ? z : res.scaled[id];
      var cells = [[args.labels[i], "tx-text"], [String(id), ""], [pyFormat(z, ".4f"), ""], [pyFormat(zt, ".4f"), ""],
                   [pyFormat(res.probsScaled[id], ".6f"), ""],
                   [res.keptTopK[id] ? s.kept : s.cut, res.keptTopK[id] ? "" : "tx-cut"],
                   [pyFormat(res.probsTopPSees[id], ".6f"), ""], [pyFormat(cum, ".6f"), ""],
                   [res.kept[id] ? s.kept : s.cut, res.kept[id] ? "" : "tx-cut"], [pyFormat(res.probs[id], ".6f"), ""]];
      var row = body.insertRow();
      cells.forEach(function (c) { var td = row.insertCell(); td.textContent = c[0]; if (c[1]) { td.className = c[1]; } });
    });
  }

  function compute() {
    var res = S.adjust(ctx, current.temperature, current.top_k, current.top_p);
    var warn = $("too-small");
    if (res.tooSmall) { // a temperature from a link too small for float32: greedy is its limit (as the server does)
      warn.textContent = sentences([fill(args.strings.too_small, { value: current.temperature }),
                                    args.strings.showing_greedy]);
      res = S.adjust(ctx, 0, current.top_k, current.top_p);
      res.tooSmall = true;
    }
    show(warn, !!res.tooSmall);
    return res;
  }

  function draw() {
    var started = pendingInput;
    pendingInput = null;
    var res = compute();
    view.last = res;
    drawText(res);
    if (!view.bars || view.bars.key !== dataId + "|" + view.figKey) {
      buildBars();
      view.bars.key = dataId + "|" + view.figKey;
    }
    drawBars(res);
    var jobs = args.mode === "full" ? [react($("nucleus"), "nucleus", nucleusFigure(res))] : [];
    var setting = JSON.stringify([current.temperature, current.top_k, current.top_p]);
    return Promise.all(jobs).then(function () {
      // the next frame shows every figure: record the setting drawn (and, for a slider move, how long it took)
      return new Promise(function (resolve) { requestAnimationFrame(function () { setTimeout(resolve, 0); }); });
    }).then(function () {
      drawn = setting;
      view.draws += 1;
      document.body.dataset.setting = setting;
      document.body.dataset.draws = String(view.draws);
      if (started !== null) { view.timings.push(performance.now() - started); }
      setHeight();
    });
  }

  // One redraw at a time: moves that arrive while the figures are being drawn are drawn together right after
  // (the slider never waits behind a backlog of settings already passed).
  var busy = false, dirty = false;

  function requestDraw() {
    if (busy) { dirty = true; return; }
    busy = true;
    var done = function () {
      busy = false;
      if (dirty) { dirty = false; requestDraw(); }
    };
    draw().then(done, done);
  }

  function report(now) {
    var value = { temperature: current.temperature, top_k: current.top_k, top_p: current.top_p };
    var key = JSON.stringify(value);
    if (reportTimer) { clearTimeout(reportTimer); reportTimer = null; }
    if (key === reported) { return; }
    var go = function () {
      reportTimer = null;
      reported = key;
      send("streamlit:setComponentValue", { value: value, dataType: "json" });
    };
    if (now) { go(); } else { reportTimer = setTimeout(go, args.report_ms || 200); }
  }

  function setHeight() {
    var h = Math.ceil(document.body.getBoundingClientRect().height) + 8;
    if (h !== frameHeight) { frameHeight = h; send("streamlit:setFrameHeight", { height: h }); }
  }

  function onInput(name) {
    return function (ev) {
      var v = parseFloat(inputs[name].value);
      if (name === "top_k") { v = Math.round(v); }
      else { v = parseFloat(v.toFixed(decimals(name === "temperature" ? args.limits.t_step : args.limits.p_step))); }
      current[name] = v;
      outputs[name].textContent = shownValue(name, v);
      inputs[name].setAttribute("aria-valuetext", outputs[name].textContent);
      fillTrack(inputs[name]);
      if (pendingInput === null) { pendingInput = ev.timeStamp; } // timed from the first move not yet drawn
      requestDraw();
      report(false);
    };
  }
  Object.keys(inputs).forEach(function (name) { inputs[name].addEventListener("input", onInput(name)); });

  function onRender(a) {
    var first = args === null;
    args = a;
    if (first) {
      // the sliders stay disabled until the logits are here: a move made before would be redrawn by nothing and
      // then reset by this first render
      Object.keys(inputs).forEach(function (name) { inputs[name].disabled = false; });
      document.body.classList.toggle("compact", a.mode !== "full");
      document.body.classList.toggle("present", !!a.present);
    }
    var changed = first;
    if (a.data_id !== dataId) { // the logits: decoded once per position
      var bytes = a.data; // Uint8Array, possibly at an unaligned offset: copy into an aligned buffer
      var logits = new Float32Array(bytes.byteLength / 4);
      new Uint8Array(logits.buffer).set(bytes);
      ctx = S.prepare(logits, a.layout);
      dataId = a.data_id;
      changed = true;
    }
    var key = JSON.stringify(a.selection);
    if (key !== selectionKey) { // a new setting from the page (a link, the server-side sliders): follow it
      selectionKey = key;
      current = { temperature: a.selection[0], top_k: a.selection[1], top_p: a.selection[2] };
      reported = JSON.stringify({ temperature: current.temperature, top_k: current.top_k, top_p: current.top_p });
      changed = true;
    }
    var figKey = JSON.stringify([a.figures, a.strings, a.config, a.labels, a.ids, a.mode, a.title, a.colors]);
    if (figKey !== view.figKey) { view.figKey = figKey; changed = true; }
    if (changed) {
      syncControls();
      requestDraw();
    }
  }

  view.state = function () { return { current: current, drawn: drawn, reported: reported }; };
  view.ctx = function () { return ctx; };
  window.txView = view;

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent) { return; }
    var msg = event.data;
    if (msg && msg.type === "streamlit:render") { onRender(msg.args); }
  });
  window.addEventListener("resize", function () { // the panels' widths (and so their ticks) follow the frame
    if (view.bars && view.bars.top) { drawTicks(0, view.bars.top); drawTicks(1, view.bars.top); }
    setHeight();
  });
  send("streamlit:componentReady", { apiVersion: 1 });
})();
