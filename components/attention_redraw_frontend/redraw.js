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
  var drawnKey = null; // the figure, weights and (layer, head) on screen
  var reported = null; // "layer,head" last sent to the page
  var reportTimer = null;
  var seq = 0; // reports are numbered: the page takes only a newer one than it has (last write wins)
  var source = Math.random().toString(36).slice(2); // this frame (a new frame numbers its reports from 1 again)
  var overrideSince = 0; // when the address was first found naming another view (since the last render or move)
  var fixes = 0; // re-reports since the last move (bounded: never a loop with the page)
  var frameHeight = 0;
  // Layers fetched over HTTP (args.fetch: serving/attention_layers.py), for the weights in the arguments: layer ->
  // Float32Array [heads, T, T] (masked cells NaN); the newest FETCH_KEEP are kept, and the requests under way.
  var fetched = {};
  var fetchOrder = [];
  var inflight = {};
  var FETCH_KEEP = 6;
  // A fetch failed (the trace was dropped, a proxy that passes only Streamlit's paths, a stall): from then on this
  // frame asks the page, as without the route (every report says so, and the page sends the weights itself).
  var noFetch = false;
  var FETCH_TIMEOUT_MS = 10000;
  var appBase = window.location.pathname.split("/component/")[0]; // the app's base path (server.baseUrlPath)

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
    fetched = {};
    fetchOrder = [];
    inflight = {};
  }

  function canFetch() {
    return !!(args && args.fetch) && !noFetch && window.location.pathname.indexOf("/component/") >= 0;
  }

  // GET one layer's heads; resolves when it is stored (or rejects: the page then sends it, one round trip)
  function fetchLayer(layer) {
    if (inflight[layer]) { return inflight[layer]; }
    var id = dataId, T = args.n_tokens, H = args.n_heads, mask = args.mask;
    var url = appBase + "/" + args.fetch_route + "/" + args.fetch + "/" + layer;
    var abort = typeof AbortController === "function" ? new AbortController() : null;
    var timer = abort ? setTimeout(function () { abort.abort(); }, FETCH_TIMEOUT_MS) : null;
    var options = { cache: "no-store", credentials: "same-origin", signal: abort ? abort.signal : undefined };
    var p = fetch(url, options).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.arrayBuffer();
    }).then(function (buf) {
      clearTimeout(timer);
      if (id !== dataId) { return; } // other weights arrived meanwhile
      var got = new Float32Array(buf), cells = T * T, f32 = got;
      if (mask) { // only the cells that are not masked were sent, row by row: NaN in the others
        var runs = keptRuns(mask, cells), kept = runs.kept;
        if (got.length !== H * kept) { throw new Error("size"); }
        f32 = new Float32Array(H * cells).fill(NaN);
        for (var h = 0, k = 0; h < H; h++) { // a causal mask: one run per row, copied at once
          for (var r = 0; r < runs.starts.length; r++) {
            f32.set(got.subarray(k, k + runs.lengths[r]), h * cells + runs.starts[r]);
            k += runs.lengths[r];
          }
        }
      } else if (got.length !== H * cells) {
        throw new Error("size");
      }
      fetched[layer] = f32;
      fetchOrder = fetchOrder.filter(function (l) { return l !== layer; }).concat([layer]);
      while (fetchOrder.length > FETCH_KEEP) { delete fetched[fetchOrder.shift()]; }
    });
    inflight[layer] = p;
    var forget = function () { clearTimeout(timer); if (inflight[layer] === p) { delete inflight[layer]; } };
    p.then(forget, forget);
    return p;
  }

  // the runs of cells that are not masked (flat index and length; one per row for a causal mask), once per mask
  var runsOf = null, runsFor = null;
  function keptRuns(mask, cells) {
    if (runsFor === mask) { return runsOf; }
    var starts = [], lengths = [], kept = 0;
    for (var c = 0; c < cells; c++) {
      if (mask[c]) { continue; }
      var row = Math.floor(c / args.n_tokens), start = c;
      while (c < cells && !mask[c] && Math.floor(c / args.n_tokens) === row) { c++; }
      starts.push(start);
      lengths.push(c - start);
      kept += c - start;
      c--;
    }
    runsFor = mask;
    runsOf = { starts: starts, lengths: lengths, kept: kept };
    return runsOf;
  }

  // the layers next to the one on screen, fetched ahead of the slider: two in the direction it last moved, one
  // behind
  var direction = 1;
  function prefetch() {
    if (!canFetch()) { return; }
    [current.layer + direction, current.layer + 2 * direction, current.layer - direction].forEach(function (l) {
      if (l >= 0 && l < args.n_layers && !fetched[l] && offsetOf(l, current.head) < 0) {
        fetchLayer(l).catch(function () { /* fetched again when it is shown */ });
      }
    });
  }

  // where the weights of (layer, head) are: {buf, off} or null
  function lookup(layer, head) {
    var off = offsetOf(layer, head);
    if (off >= 0) { return { buf: weights, off: off }; }
    if (fetched[layer]) { return { buf: fetched[layer], off: head * args.n_tokens * args.n_tokens }; }
    return null;
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
      var value = { layer: current.layer, head: current.head, seq: seq, src: source };
      if (noFetch) { value.nofetch = true; }
      send("streamlit:setComponentValue", { value: value, dataType: "json" });
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
    var at = lookup(current.layer, current.head);
    if (!at) { // not here: fetch its layer, or ask the page for it (one round trip); the old map dimmed meanwhile
      plot.classList.add("waiting");
      status.textContent = fill((args.strings || {}).loading || "…",
                                { layer: shown(current.layer), head: shown(current.head) });
      if (canFetch()) {
        var want = current.layer;
        fetchLayer(want).then(function () {
          if (current.layer === want) { draw(); }
        }, function () {
          noFetch = true; // the page no longer has these weights (or no route): it sends them itself
          reported = null;
          report(true);
        });
      } else {
        report(true);
      }
      return;
    }
    plot.classList.remove("waiting");
    status.textContent = "";
    var figureKey = JSON.stringify([args.figure, args.title, args.config, args.plot_height]);
    var viewKey = figureKey + "|" + dataId + "|" + current.layer + "," + current.head;
    if (viewKey === drawnKey && plot.data) { return Promise.resolve(); } // a rerun that changed nothing on screen
    var z = rows(at.buf, at.off, args.n_tokens);
    var title = titleFor(current.layer, current.head);
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
    drawnKey = viewKey;
    return done.then(function () { setHeight(); prefetch(); });
  }

  function onInput(which) {
    return function () {
      var value = parseInt(inputs[which].value, 10) - 1; // the slider shows numbers, 1..n
      if (which === "layer" && value !== current.layer) { direction = value > current.layer ? 1 : -1; }
      current[which] = value;
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
