// The attention heatmap component's frontend (see components/attention_redraw.py).
//
// Streamlit's component protocol, spoken directly (no streamlit-component-lib): we post
// "streamlit:componentReady" to the parent, receive "streamlit:render" messages with the arguments (bytes
// arguments arrive as Uint8Array), and post "streamlit:setComponentValue" / "streamlit:setFrameHeight".
//
// Everything from the page is data: labels and titles go into Plotly (escaped in Python, drawn as SVG text)
// or into textContent; nothing is ever parsed as HTML or run.
//
// Numbering (models/numbering.py): the arguments and the reported value use 0-based (layer, head) INDICES;
// people see NUMBERS, layers 1..L (layer 0 is the embeddings) and heads 1..H: the sliders, their values, the
// title and the loading text show index + 1 (shown()).
(function () {
  "use strict";

  var plot = document.getElementById("plot");
  var inputs = { layer: document.getElementById("layer"), head: document.getElementById("head") };
  var outputs = { layer: document.getElementById("layer-value"), head: document.getElementById("head-value") };
  var labels = { layer: document.getElementById("layer-label"), head: document.getElementById("head-label") };
  var status = document.getElementById("status");

  var args = null; // the latest arguments
  var dataId = null; // identity of the decoded weights
  var weights = null; // Float32Array [layers, heads, T, T], masked cells set to NaN
  var maskRows = null; // rows of the grey mask layer: 1 where masked, NaN elsewhere
  var selectionKey = null; // the selection the page last sent ("layer,head")
  var current = { layer: 0, head: 0 }; // the indices the sliders show (as numbers: index + 1)
  var shownFigureKey = null; // the figure template that is drawn (a new one needs a full Plotly.react)
  var reported = null; // "layer,head" last sent to the page
  var reportTimer = null;
  var seq = 0; // reports are numbered: the page takes only a newer one than it has (last write wins)
  var source = Math.random().toString(36).slice(2); // this frame (a new frame numbers its reports from 1 again)
  var overrideSince = 0; // when the address was first found naming another view (since the last render or move)
  var fixes = 0; // re-reports since the last move (bounded: never a loop with the page)
  var frameHeight = 0;

  function send(type, data) {
    var msg = { isStreamlitMessage: true, type: type };
    for (var k in data) { msg[k] = data[k]; }
    window.parent.postMessage(msg, "*");
  }

  function decode(a) {
    var bytes = a.data; // Uint8Array, possibly at an unaligned offset: copy into an aligned buffer
    var f32 = new Float32Array(bytes.byteLength / 4);
    new Uint8Array(f32.buffer).set(bytes);
    var T = a.n_tokens, cells = T * T;
    maskRows = null;
    if (a.mask) {
      var mask = a.mask;
      for (var off = 0; off < f32.length; off += cells) {
        for (var i = 0; i < cells; i++) { if (mask[i]) { f32[off + i] = NaN; } }
      }
      var ones = new Float32Array(cells);
      for (var j = 0; j < cells; j++) { ones[j] = mask[j] ? 1 : NaN; }
      maskRows = rows(ones, 0, T);
    }
    weights = f32;
    dataId = a.data_id;
  }

  function rows(buffer, offset, T) {
    var out = new Array(T);
    for (var i = 0; i < T; i++) { out[i] = buffer.subarray(offset + i * T, offset + (i + 1) * T); }
    return out;
  }

  function offsetOf(layer, head) {
    for (var i = 0; i < args.pairs.length; i++) { // at most layers x heads entries
      if (args.pairs[i][0] === layer && args.pairs[i][1] === head) { return i * args.n_tokens * args.n_tokens; }
    }
    return -1;
  }

  function shown(index) { return index + 1; } // a 0-based layer/head index -> the number people see

  function titleFor(layer, head) {
    return args.title.split("{layer}").join(String(shown(layer))).split("{head}").join(String(shown(head)));
  }

  function fill(template, values) {
    var s = template;
    for (var k in values) { s = s.split("{" + k + "}").join(String(values[k])); }
    return s;
  }

  function syncControls() {
    var s = args.strings || {};
    labels.layer.textContent = s.layer || "Layer";
    labels.head.textContent = s.head || "Head";
    labels.layer.title = inputs.layer.title = s.layer_help || "";
    labels.head.title = inputs.head.title = s.head_help || "";
    inputs.layer.min = inputs.head.min = "1";
    inputs.layer.max = String(args.n_layers);
    inputs.head.max = String(args.n_heads);
    inputs.layer.value = String(shown(current.layer));
    inputs.head.value = String(shown(current.head));
    outputs.layer.textContent = String(shown(current.layer));
    outputs.head.textContent = args.head_labels[current.head] || String(shown(current.head));
    inputs.head.setAttribute("aria-valuetext", outputs.head.textContent);
  }

  function report(now) {
    var key = current.layer + "," + current.head;
    if (reportTimer) { clearTimeout(reportTimer); reportTimer = null; }
    if (key === reported) { return; }
    var go = function () {
      reportTimer = null;
      reported = key;
      seq += 1;
      send("streamlit:setComponentValue",
           { value: { layer: current.layer, head: current.head, seq: seq, src: source }, dataType: "json" });
    };
    if (now) { go(); } else { reportTimer = setTimeout(go, 150); }
  }

  // The address bar: with args.address ({layer: [param, default number], head: [...]}) the numbers on screen are
  // written into the app's URL at every redraw (history.replaceState on the parent window: the component is
  // served by the same server, same origin), so a share link copied at any moment is the view on screen, even
  // while the page's rerun for the last move is still on its way. A default number is left out, as the page's
  // state.write_back does.
  var renderedPath = null; // the app page this component was drawn on (a stale frame during a page switch: hands off)

  function addressParams() {
    try {
      if (window.parent.location.pathname !== renderedPath) { return null; }
      return new URLSearchParams(window.parent.location.search);
    } catch (e) { return null; }
  }

  function wanted() {
    var out = {};
    var a = (args && args.address) || {};
    for (var which in a) { out[a[which][0]] = shown(current[which]) === a[which][1] ? null : String(shown(current[which])); }
    return out;
  }

  function addressAgrees(q) {
    var w = wanted();
    for (var name in w) { if (q.get(name) !== w[name]) { return false; } }
    return true;
  }

  function writeAddress() {
    var q = addressParams();
    if (!q || !args || !args.address || addressAgrees(q)) { return; }
    var w = wanted();
    for (var name in w) { if (w[name] === null) { q.delete(name); } else { q.set(name, w[name]); } }
    try {
      var loc = window.parent.location, search = q.toString();
      window.parent.history.replaceState(window.parent.history.state, "",
                                         loc.pathname + (search ? "?" + search : "") + loc.hash);
    } catch (e) { /* not the same origin: the page's own rerun writes the URL */ }
  }

  // A rerun that started before the last move writes older numbers into the address when it ends (measured: the
  // address said layer 4 while the chart showed layer 3). Checked every frame: other numbers than the view are
  // put back at once (the address is stale for one frame at most). If the page keeps writing other numbers for
  // over 0.6 s with no report pending and no render from it, it missed the last report: report the view again
  // (at most 3 times per move, never a loop). A render resets this: the page may have moved the view itself.
  function watchAddress() {
    var q = addressParams();
    if (q && args && args.address && !addressAgrees(q)) {
      writeAddress();
      var now = performance.now();
      if (!overrideSince) {
        overrideSince = now;
      } else if (now - overrideSince > 600 && !reportTimer && fixes < 3) {
        fixes += 1;
        overrideSince = 0;
        reported = null;
        report(true);
      }
    }
    window.requestAnimationFrame(watchAddress);
  }
  window.requestAnimationFrame(watchAddress);

  function setHeight() {
    var h = Math.ceil(document.body.getBoundingClientRect().height) + 4;
    if (h !== frameHeight) { frameHeight = h; send("streamlit:setFrameHeight", { height: h }); }
  }

  function draw() {
    writeAddress();
    var off = offsetOf(current.layer, current.head);
    if (off < 0) { // not sent: ask the page for it (one round trip) and show the old map dimmed meanwhile
      plot.classList.add("waiting");
      status.textContent = fill((args.strings || {}).loading || "…",
                                { layer: shown(current.layer), head: shown(current.head) });
      report(true);
      return;
    }
    plot.classList.remove("waiting");
    status.textContent = "";
    var z = rows(weights, off, args.n_tokens);
    var title = titleFor(current.layer, current.head);
    var figureKey = JSON.stringify([args.figure, args.title, args.config, args.plot_height]);
    var done;
    if (figureKey !== shownFigureKey || !plot.data) {
      var data = args.figure.data.map(function (t) { return Object.assign({}, t); });
      data[0].z = z;
      if (data.length > 1 && maskRows) { data[1].z = maskRows; }
      var layout = Object.assign({}, args.figure.layout);
      layout.title = Object.assign({}, layout.title || {}, { text: title });
      layout.height = args.plot_height;
      var config = Object.assign({ responsive: true }, args.config);
      done = Plotly.react(plot, data, layout, config);
      shownFigureKey = figureKey;
    } else {
      done = Plotly.update(plot, { z: [z] }, { "title.text": title }, [0]);
    }
    plot.dataset.layer = String(shown(current.layer)); // the numbers shown, like the sliders
    plot.dataset.head = String(shown(current.head));
    return done.then(setHeight);
  }

  function onInput(which) {
    return function () {
      current[which] = parseInt(inputs[which].value, 10) - 1; // the slider shows numbers, 1..n
      fixes = 0;
      overrideSince = 0;
      syncControls();
      draw();
      report(false);
    };
  }
  inputs.layer.addEventListener("input", onInput("layer"));
  inputs.head.addEventListener("input", onInput("head"));

  function onRender(a) {
    args = a;
    try { renderedPath = window.parent.location.pathname; } catch (e) { renderedPath = null; }
    overrideSince = 0;
    plot.dataset.scope = a.scope;
    if (a.data_id !== dataId) { decode(a); }
    var key = a.selection[0] + "," + a.selection[1];
    if (key !== selectionKey) { // a new selection from the page (a link, another view): follow it
      selectionKey = key;
      current = { layer: a.selection[0], head: a.selection[1] };
      reported = key;
    }
    syncControls();
    draw();
  }

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent) { return; }
    var msg = event.data;
    if (msg && msg.type === "streamlit:render") { onRender(msg.args); }
  });
  window.addEventListener("resize", setHeight);
  send("streamlit:componentReady", { apiVersion: 1 });
})();
