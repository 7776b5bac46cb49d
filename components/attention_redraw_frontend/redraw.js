// The attention heatmap component's frontend (see components/attention_redraw.py).
//
// Streamlit's component protocol, spoken directly (no streamlit-component-lib): we post
// "streamlit:componentReady" to the parent, receive "streamlit:render" messages with the arguments (bytes
// arguments arrive as Uint8Array), and post "streamlit:setComponentValue" / "streamlit:setFrameHeight".
//
// Everything from the page is data: labels and titles go into Plotly (escaped in Python, drawn as SVG text)
// or into textContent; nothing is ever parsed as HTML or run.
//
// Who draws what: Plotly draws the frame of the page's figure (title, category axes with the token labels, colour
// bar, zoom and pan, the modebar), and this file draws the cells, on a canvas laid over Plotly's plot area, with
// its own hover label. The rule and its reason: Plotly's heatmap checks, copies and colours every cell in
// JavaScript objects on every redraw (a 512-token head is 262,144 cells: tens of ms per slider step); here a
// head's Float32Array is coloured into one ImageData (the figure's own colour scale, interpolated as Plotly does)
// and scaled onto the plot area by the canvas, nearest cell, as Plotly's pixelated heatmap is. The camera button
// exports the figure as Plotly would have drawn it (a real heatmap, built only then).
//
// Numbering (models/numbering.py): the arguments and the reported value use 0-based (layer, head) INDICES;
// people see NUMBERS, layers 1..L (layer 0 is the embeddings) and heads 1..H: the sliders, their values, the
// title and the loading text show index + 1 (shown()).
(function () {
  "use strict";

  var plot = document.getElementById("plot");
  // the cells: a canvas put between Plotly's two SVG layers (above its plot, below its zoom box and modebar), with
  // pointer-events off so a drag still zooms and pans
  var overlay = document.getElementById("cells");
  var tip = document.getElementById("tip"); // the hover label of a cell
  var cellImage = document.createElement("canvas"); // one pixel per cell: the head on screen, coloured
  var shownCells = null; // what the cells show: {buf, off, T} (the weights, NaN where masked)
  var colours = null; // the colour scale of the figure on screen, as numbers (see colourScale)
  var pointer = null; // the last pointer position over the plot ({clientX, clientY}), for a hover label that follows
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
    var title = titleFor(current.layer, current.head);
    var done;
    if (figureKey !== shownFigureKey || !plot.data) {
      colours = colourScale(args.figure.data[0]);
      var look = frameFigure(title);
      done = Plotly.react(plot, look.data, look.layout, look.config);
      shownFigureKey = figureKey;
    } else {
      done = Plotly.relayout(plot, { "title.text": title });
    }
    paintCells(at.buf, at.off, args.n_tokens);
    drawCells();
    plot.dataset.layer = String(shown(current.layer)); // the numbers shown, like the sliders
    plot.dataset.head = String(shown(current.head));
    drawnKey = viewKey;
    return done.then(function () {
      // zoom, pan, a resize, this step's new title: Plotly redrew its frame, and its "afterplot" redraws the cells
      // (listened to from the first plot on; that first plot's cells are drawn here)
      if (!plot._txListening && plot.on) {
        plot.on("plotly_afterplot", function () { drawCells(); });
        plot.on("plotly_relayouting", function (ranges) { drawCells(ranges); }); // during a pan or zoom drag
        plot._txListening = true;
        drawCells();
      }
      setHeight();
      prefetch();
    });
  }

  // ---- the frame: the page's figure without its heatmaps --------------------------------------------------------
  // Two invisible scatter traces give the axes the figure's categories in its order (x: every key label, y: every
  // query label), a third the colour bar (the heatmap's own scale, range and colour bar settings).
  function frameFigure(title) {
    var hm = args.figure.data[0], xs = hm.x, ys = hm.y;
    var ghost = { type: "scatter", mode: "markers", marker: { opacity: 0 }, hoverinfo: "skip", showlegend: false };
    var data = [
      Object.assign({}, ghost, { x: xs, y: xs.map(function () { return ys[0]; }) }),
      Object.assign({}, ghost, { x: ys.map(function () { return xs[0]; }), y: ys }),
      Object.assign({}, ghost, {
        x: [xs[0]], y: [ys[0]],
        marker: { opacity: 0, color: [hm.zmin], colorscale: hm.colorscale, cmin: hm.zmin, cmax: hm.zmax,
                  showscale: hm.showscale !== false, colorbar: hm.colorbar },
      }),
    ];
    var layout = Object.assign({}, args.figure.layout);
    layout.title = Object.assign({}, layout.title || {}, { text: title });
    layout.height = args.plot_height;
    layout.hovermode = "closest";
    // the axes span the cells exactly, as a heatmap's do (markers would add padding): cell i from i - 0.5 to i + 0.5
    var reversed = (layout.yaxis || {}).autorange === "reversed";
    layout.xaxis = Object.assign({}, layout.xaxis, { autorange: false, range: [-0.5, xs.length - 0.5] });
    layout.yaxis = Object.assign({}, layout.yaxis, {
      autorange: false, range: reversed ? [ys.length - 0.5, -0.5] : [-0.5, ys.length - 0.5] });
    var config = Object.assign({ responsive: true }, args.config);
    // a double-click goes back to the ranges above; autoscale would fit the invisible markers (with padding)
    config.doubleClick = "reset";
    config.modeBarButtonsToRemove = (config.modeBarButtonsToRemove || []).concat(["toImage", "autoScale2d"]);
    config.modeBarButtonsToAdd = [{ name: "toImage", title: (args.strings || {}).download || "Download plot",
                                    icon: Plotly.Icons.camera,
                                    click: exportImage }];
    return { data: data, layout: layout, config: config };
  }

  // The camera button: the figure as Plotly draws it (the page's template with this head's cells), at the zoom on
  // screen, with the page's download options (PNG or SVG, size, scale).
  function exportImage(gd) {
    if (!shownCells) { return; }
    var data = args.figure.data.map(function (t) { return Object.assign({}, t); });
    data[0].z = rows(shownCells.buf, shownCells.off, shownCells.T);
    if (data.length > 1 && maskRows) { data[1].z = maskRows; }
    var layout = JSON.parse(JSON.stringify(gd.layout));
    var options = Object.assign({ format: "png", filename: "attention" }, (args.config || {}).toImageButtonOptions);
    var strings = args.strings || {};
    status.textContent = strings.preparing || "…";
    Plotly.downloadImage({ data: data, layout: layout, config: {} }, options).then(function () {
      status.textContent = "";
    }, function () {
      status.textContent = strings.download_failed || "The image could not be made.";
    });
  }

  // ---- the cells ------------------------------------------------------------------------------------------------
  // A Plotly colour scale ([[position, "rgb(r, g, b)" | "#rrggbb"], ...] over zmin..zmax) as numbers.
  function colourScale(hm) {
    var stops = hm.colorscale.map(function (s) { return { at: +s[0], rgb: parseColour(s[1]) }; });
    var grey = null;
    var maskTrace = args.figure.data[1];
    if (maskTrace && maskTrace.colorscale) { grey = parseColour(maskTrace.colorscale[0][1]); }
    return { stops: stops, zmin: +hm.zmin, zmax: +hm.zmax, grey: grey };
  }

  function parseColour(c) {
    var m = /^rgba?\(([^)]*)\)$/.exec(String(c).trim());
    if (m) { return m[1].split(",").slice(0, 3).map(function (v) { return parseFloat(v); }); }
    var h = String(c).trim().replace("#", "");
    if (h.length === 3) { h = h[0] + h[0] + h[1] + h[1] + h[2] + h[2]; }
    return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
  }

  // The colour of value v, [r, g, b] rounded: linear in RGB between the two stops around v's place in zmin..zmax,
  // clamped to the ends (Plotly's heatmap colouring).
  function colourOf(v, out) {
    var c = colours, stops = c.stops, n = stops.length;
    var t = c.zmax > c.zmin ? (v - c.zmin) / (c.zmax - c.zmin) : 0;
    if (!(t > stops[0].at)) { t = stops[0].at; }
    if (t > stops[n - 1].at) { t = stops[n - 1].at; }
    var k = 0;
    while (k < n - 2 && t > stops[k + 1].at) { k++; }
    var a = stops[k], b = stops[k + 1] || a, span = b.at - a.at, f = span > 0 ? (t - a.at) / span : 0;
    out[0] = Math.round(a.rgb[0] + (b.rgb[0] - a.rgb[0]) * f);
    out[1] = Math.round(a.rgb[1] + (b.rgb[1] - a.rgb[1]) * f);
    out[2] = Math.round(a.rgb[2] + (b.rgb[2] - a.rgb[2]) * f);
    return out;
  }

  // One head's [T, T] weights (buf from off) into the one-pixel-per-cell image: coloured; a masked cell grey;
  // any other NaN left transparent (a gap, as Plotly leaves it).
  function paintCells(buf, off, T) {
    shownCells = { buf: buf, off: off, T: T };
    if (cellImage.width !== T || cellImage.height !== T) { cellImage.width = T; cellImage.height = T; }
    var ctx = cellImage.getContext("2d");
    var img = ctx.createImageData(T, T), px = img.data, rgb = [0, 0, 0], mask = args.mask, grey = colours.grey;
    for (var i = 0, n = T * T; i < n; i++) {
      var v = buf[off + i], p = 4 * i;
      if (v === v) {
        colourOf(v, rgb);
        px[p] = rgb[0]; px[p + 1] = rgb[1]; px[p + 2] = rgb[2]; px[p + 3] = 255;
      } else if (mask && mask[i] && grey) {
        px[p] = grey[0]; px[p + 1] = grey[1]; px[p + 2] = grey[2]; px[p + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  // The axes' ranges now ({x: [a, b], y: [c, d]} in cell units: cell i spans i - 0.5 .. i + 0.5), from Plotly's
  // layout or, during a drag, from the ranges Plotly reports as it goes ("plotly_relayouting").
  function rangesOf(fl, moving) {
    var m = moving || {}, xr = fl.xaxis.range, yr = fl.yaxis.range;
    var x0 = m["xaxis.range[0]"], x1 = m["xaxis.range[1]"], y0 = m["yaxis.range[0]"], y1 = m["yaxis.range[1]"];
    if (m["xaxis.range"]) { x0 = m["xaxis.range"][0]; x1 = m["xaxis.range"][1]; }
    if (m["yaxis.range"]) { y0 = m["yaxis.range"][0]; y1 = m["yaxis.range"][1]; }
    return { x: [x0 === undefined ? xr[0] : +x0, x1 === undefined ? xr[1] : +x1],
             y: [y0 === undefined ? yr[0] : +y0, y1 === undefined ? yr[1] : +y1] };
  }

  // where value v of an axis is, in px from the plot area's left (x) or top (y) edge
  function xPixel(r, s, v) { return (v - r.x[0]) / (r.x[1] - r.x[0]) * s.w; }
  function yPixel(r, s, v) { return (r.y[1] - v) / (r.y[1] - r.y[0]) * s.h; }

  // The image onto the overlay, cell i from axis value i - 0.5 to i + 0.5 on both axes (zoom, pan and the reversed
  // query axis included), clipped to the plot area. The overlay lives in Plotly's container, which a new plot
  // rebuilds: it is put back there when missing.
  function drawCells(moving) {
    var fl = plot._fullLayout;
    if (!fl || !fl.xaxis || !fl.yaxis || !fl._size || !shownCells) { return; }
    var layers = plot.querySelectorAll(".svg-container > .main-svg");
    if (layers.length > 1 && overlay.nextSibling !== layers[1]) { layers[0].parentNode.insertBefore(overlay, layers[1]); }
    var dpr = window.devicePixelRatio || 1, w = plot.clientWidth, h = plot.clientHeight;
    if (overlay.width !== Math.round(w * dpr) || overlay.height !== Math.round(h * dpr)) {
      overlay.width = Math.round(w * dpr);
      overlay.height = Math.round(h * dpr);
      overlay.style.width = w + "px";
      overlay.style.height = h + "px";
    }
    var ctx = overlay.getContext("2d"), s = fl._size, r = rangesOf(fl, moving), T = shownCells.T;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.save();
    ctx.beginPath();
    ctx.rect(s.l, s.t, s.w, s.h);
    ctx.clip();
    var x0 = s.l + xPixel(r, s, -0.5), x1 = s.l + xPixel(r, s, T - 0.5);
    var y0 = s.t + yPixel(r, s, -0.5), y1 = s.t + yPixel(r, s, T - 0.5);
    ctx.translate(x0, y0);
    ctx.scale((x1 - x0) / T, (y1 - y0) / T);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(cellImage, 0, 0);
    ctx.restore();
    if (pointer && !tip.hidden) { showTip(pointer); } // the cell under a resting pointer now has another weight
  }

  // ---- hover: the figure's own hover texts, filled in for the cell under the pointer -----------------------------
  function decodeEntities(s) {
    return s.replace(/&(#(\d+)|#x([0-9a-f]+)|amp|lt|gt|quot|apos|nbsp);/gi, function (m, name, dec, hex) {
      if (dec) { return String.fromCodePoint(parseInt(dec, 10)); }
      if (hex) { return String.fromCodePoint(parseInt(hex, 16)); }
      return { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" }[name.toLowerCase()];
    });
  }

  function hoverLines(template, x, y, z) {
    var text = String(template || "").replace(/<extra>[\s\S]*?<\/extra>/g, "");
    text = text.replace(/%\{([xyz])(?::\.(\d+)f)?\}/g, function (m, which, digits) {
      if (which === "x") { return x; }
      if (which === "y") { return y; }
      return digits === undefined ? String(z) : z.toFixed(parseInt(digits, 10));
    });
    return text.split(/<br\s*\/?>/i).map(decodeEntities);
  }

  // the cell under the pointer: {row, col} or null
  function cellAt(event) {
    var fl = plot._fullLayout;
    if (!fl || !fl._size || !shownCells) { return null; }
    var box = plot.getBoundingClientRect(), s = fl._size;
    var px = event.clientX - box.left - s.l, py = event.clientY - box.top - s.t;
    if (px < 0 || py < 0 || px > s.w || py > s.h) { return null; }
    var r = rangesOf(fl), T = shownCells.T;
    var col = Math.round(r.x[0] + px / s.w * (r.x[1] - r.x[0])), row = Math.round(r.y[1] - py / s.h * (r.y[1] - r.y[0]));
    return col >= 0 && col < T && row >= 0 && row < T ? { row: row, col: col } : null;
  }

  function showTip(event) {
    pointer = { clientX: event.clientX, clientY: event.clientY };
    var at = cellAt(event);
    if (!at) { tip.hidden = true; return; }
    var T = shownCells.T, i = at.row * T + at.col, v = shownCells.buf[shownCells.off + i];
    var hm = args.figure.data[0], template;
    if (v === v) {
      template = hm.hovertemplate;
    } else if (args.mask && args.mask[i] && args.figure.data[1]) {
      template = args.figure.data[1].hovertemplate;
    } else {
      tip.hidden = true; // a gap: no hover (hoverongaps is off)
      return;
    }
    var lines = hoverLines(template, hm.x[at.col], hm.y[at.row], v);
    tip.textContent = "";
    lines.forEach(function (line, k) {
      if (k) { tip.appendChild(document.createElement("br")); }
      tip.appendChild(document.createTextNode(line));
    });
    tip.hidden = false;
    var box = plot.getBoundingClientRect(), left = event.clientX - box.left + 14, top = event.clientY - box.top + 14;
    if (left + tip.offsetWidth > plot.clientWidth) { left = Math.max(0, left - tip.offsetWidth - 28); }
    if (top + tip.offsetHeight > plot.clientHeight) { top = Math.max(0, top - tip.offsetHeight - 28); }
    tip.style.left = left + "px";
    tip.style.top = top + "px";
  }
  plot.addEventListener("mousemove", showTip);
  plot.addEventListener("mouseleave", function () { tip.hidden = true; pointer = null; });

  // For tests: the weights the cells show now ({z: [T][T] numbers, NaN where masked; x, y: the figure's labels}).
  plot.txShown = function () {
    if (!shownCells) { return null; }
    var hm = args.figure.data[0];
    return { z: rows(shownCells.buf, shownCells.off, shownCells.T).map(function (r) { return Array.from(r); }),
             x: hm.x, y: hm.y };
  };

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
