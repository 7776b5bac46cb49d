// Temperature, top-k and top-p on one logit vector, in the browser: the same numbers as models/sampling.py's
// adjust() (transformers' TemperatureLogitsWarper -> TopKLogitsWarper -> TopPLogitsWarper, the order generate()
// uses), computed the way torch computes them in float32 on the server's CPU:
//
// * division by T: float32 / float32, correctly rounded (Math.fround of the double quotient is exactly that);
// * softmax: max, exp(x - max) in float32, the sum accumulated in float32 in `lanes` vector lanes and reduced
//   as torch's reduce_all does (a tree over the lanes for AVX2/AVX-512, else lane by lane), then multiplied by
//   float32(1 / sum). The server tells us its layout (components/sampling_redraw.py: torch_softmax_layout()):
//   a float32 sum of 49,152 terms is off by ~1e-5 of itself, so the order of the additions matters at 1e-6;
// * cumulative sums (top-p): accumulated in double, each output rounded to float32 (torch's CPU cumsum);
// * top-p threshold: float32(1 - p), compared with the float32 cumulative sums (numpy's rule for a Python float);
// * exact ties across the top-p cut: which of the tied ids go is decided by torch.sort's order, i.e. libstdc++'s
//   std::sort (introsort: median of three, Hoare partition, insertion sort under 16, heap sort past the depth
//   limit), which is reproduced here (stdSortAscending) and checked against torch.sort in the tests.
//
// No DOM here: redraw.js draws, the tests call TxSampling directly in Chromium.
(function (root) {
  "use strict";

  var f32 = Math.fround;

  // ids sorted by logit, largest first; equal logits in id order (models.sampling.ranking)
  function descending(logits) {
    var V = logits.length;
    var order = new Int32Array(V);
    for (var i = 0; i < V; i++) { order[i] = i; }
    order.sort(function (a, b) {
      var x = logits[a], y = logits[b];
      return x > y ? -1 : (x < y ? 1 : a - b);
    });
    return order;
  }

  // torch's reduce_all(+) of float32 values: `lanes` float32 accumulators, then the lanes reduced.
  function laneSum(e, layout) {
    var n = e.length, L = layout.lanes, i, j;
    if (n < L) { // vec_reduce_all(op, loadu(data, n), n): lane 0 adds the others one by one
      var s0 = n ? e[0] : 0;
      for (i = 1; i < n; i++) { s0 = f32(s0 + e[i]); }
      return s0;
    }
    var acc = new Float32Array(L);
    for (j = 0; j < L; j++) { acc[j] = e[j]; }
    var d = L, full = n - (n % L);
    for (; d < full; d += L) {
      for (j = 0; j < L; j++) { acc[j] = f32(acc[j] + e[d + j]); }
    }
    for (j = 0; d + j < n; j++) { acc[j] = f32(acc[j] + e[d + j]); } // the partial last vector
    if (layout.tree) { // shuffles: lane i + lane (i xor half), halving down to one
      for (var k = L >> 1; k >= 1; k >>= 1) {
        var next = new Float32Array(L);
        for (j = 0; j < L; j++) { next[j] = f32(acc[j] + acc[j ^ k]); }
        acc = next;
      }
      return acc[0];
    }
    var s = acc[0];
    for (j = 1; j < L; j++) { s = f32(s + acc[j]); }
    return s;
  }

  // exp(x - max(x)) in float32 [V]: the numerators of a softmax (torch: (x - max).exp() in float32)
  function exps(x) {
    var n = x.length, i, m = -Infinity;
    for (i = 0; i < n; i++) { if (x[i] > m) { m = x[i]; } }
    var e = new Float32Array(n);
    for (i = 0; i < n; i++) { e[i] = Math.exp(f32(x[i] - m)); } // stored as float32
    return e;
  }

  // numerators -> probabilities: e * float32(1 / sum), the sum added in torch's order (the array's order)
  function normalise(e, layout, into) {
    var inv = f32(1 / laneSum(e, layout)), p = into || new Float32Array(e.length);
    for (var i = 0; i < e.length; i++) { p[i] = e[i] * inv; }
    return p;
  }

  // softmax over `x` (Float32Array, in the order given: the order of the additions is torch's) -> Float32Array
  function softmax(x, layout) { return normalise(exps(x), layout); }

  // A cut keeps the maximum, so softmax(x with some entries at -inf) has the same numerators, 0 where cut.
  function masked(e, keep, into) {
    var out = into || new Float32Array(e.length);
    for (var i = 0; i < e.length; i++) { out[i] = keep[i] ? e[i] : 0; }
    return out;
  }

  // Working arrays reused from one setting to the next (a slider move would otherwise leave ~2 MB of garbage):
  // an adjust() result is valid until the next call with the same ctx.
  function buf(ctx, name, Type) {
    var pool = ctx.pool || (ctx.pool = {});
    return pool[name] || (pool[name] = new Type(ctx.V));
  }

  function entropyBits(p) { // Shannon entropy in bits (models.sampling.entropy_bits)
    var h = 0;
    for (var i = 0; i < p.length; i++) { if (p[i] > 0) { h -= p[i] * Math.log2(p[i]); } }
    return Math.max(0, h);
  }

  // ---------------------------------------------------------------------------- libstdc++ std::sort
  // Sorts `vals` (a copy of the values, in id order) ascending together with their ids, as torch.sort does on CPU
  // for a float vector (std::sort of (value, index) pairs by value). Returns the ids in sorted order.
  function stdSortAscending(input) {
    var n = input.length;
    var v = Float64Array.from(input), ix = new Int32Array(n);
    for (var q = 0; q < n; q++) { ix[q] = q; }
    function swap(i, j) {
      var t = v[i]; v[i] = v[j]; v[j] = t;
      var u = ix[i]; ix[i] = ix[j]; ix[j] = u;
    }
    function less(i, j) { return v[i] < v[j]; }
    function medianToFirst(r, a, b, c) {
      if (less(a, b)) {
        if (less(b, c)) { swap(r, b); } else if (less(a, c)) { swap(r, c); } else { swap(r, a); }
      } else if (less(a, c)) { swap(r, a); } else if (less(b, c)) { swap(r, c); } else { swap(r, b); }
    }
    function partition(first, last, pivot) {
      for (;;) {
        while (less(first, pivot)) { first++; }
        last--;
        while (less(pivot, last)) { last--; }
        if (!(first < last)) { return first; }
        swap(first, last);
        first++;
      }
    }
    function heapSort(first, last) { // std::__partial_sort(first, last, last): make_heap + sort_heap
      var len = last - first;
      function adjust(hole, length, val, id) {
        var top = hole, second = hole;
        while (second < ((length - 1) >> 1)) {
          second = 2 * (second + 1);
          if (v[first + second] < v[first + second - 1]) { second--; }
          v[first + hole] = v[first + second]; ix[first + hole] = ix[first + second];
          hole = second;
        }
        if ((length & 1) === 0 && second === ((length - 2) >> 1)) {
          second = 2 * (second + 1);
          v[first + hole] = v[first + second - 1]; ix[first + hole] = ix[first + second - 1];
          hole = second - 1;
        }
        var parent = (hole - 1) >> 1;
        while (hole > top && v[first + parent] < val) {
          v[first + hole] = v[first + parent]; ix[first + hole] = ix[first + parent];
          hole = parent;
          parent = (hole - 1) >> 1;
        }
        v[first + hole] = val; ix[first + hole] = id;
      }
      if (len >= 2) {
        for (var parent = (len - 2) >> 1; ; parent--) {
          adjust(parent, len, v[first + parent], ix[first + parent]);
          if (parent === 0) { break; }
        }
      }
      for (var l = len; l > 1;) {
        l--;
        var val = v[first + l], id = ix[first + l];
        v[first + l] = v[first]; ix[first + l] = ix[first];
        adjust(0, l, val, id);
      }
    }
    function introsort(first, last, depth) {
      while (last - first > 16) {
        if (depth === 0) { heapSort(first, last); return; }
        depth--;
        var mid = first + ((last - first) >> 1);
        medianToFirst(first, first + 1, mid, last - 1);
        var cut = partition(first + 1, last, first);
        introsort(cut, last, depth);
        last = cut;
      }
    }
    function linearInsert(i) {
      var val = v[i], id = ix[i], next = i - 1;
      while (val < v[next]) { v[i] = v[next]; ix[i] = ix[next]; i = next; next--; }
      v[i] = val; ix[i] = id;
    }
    function insertionSort(first, last) {
      if (first === last) { return; }
      for (var i = first + 1; i < last; i++) {
        if (v[i] < v[first]) {
          var val = v[i], id = ix[i];
          for (var j = i; j > first; j--) { v[j] = v[j - 1]; ix[j] = ix[j - 1]; }
          v[first] = val; ix[first] = id;
        } else {
          linearInsert(i);
        }
      }
    }
    if (n > 0) {
      introsort(0, n, 2 * (31 - Math.clz32(n)));
      if (n > 16) {
        insertionSort(0, 16);
        for (var i = 16; i < n; i++) { linearInsert(i); }
      } else {
        insertionSort(0, n);
      }
    }
    return ix;
  }

  // ------------------------------------------------------------------------------------------ prepare
  // logits: Float32Array [V]; layout: {lanes, tree} of the server's torch softmax
  function prepare(logits, layout) {
    var V = logits.length;
    return {
      V: V, logits: logits, layout: layout, desc: descending(logits),
      probsOriginal: softmax(logits, layout), // the model's own distribution (T = 1, nothing cut)
    };
  }

  // One setting -> every stage of the recipe (models.sampling.Adjusted). Arrays are in vocabulary order.
  // Returns {tooSmall: true} when logits / T overflow float32 (adjust() refuses it; the page shows greedy).
  function adjust(ctx, temperature, topK, topP) {
    var V = ctx.V, L = ctx.logits, desc = ctx.desc, i;
    var out = { temperature: temperature, topK: topK, topP: topP, V: V, probsOriginal: ctx.probsOriginal };
    if (temperature === 0) { // greedy: all the probability on the arg-max (the first of equal maxima)
      var oneHot = new Float32Array(V), kept0 = new Uint8Array(V);
      oneHot[desc[0]] = 1; kept0[desc[0]] = 1;
      out.greedy = true; out.scaled = L; out.probsScaled = oneHot; out.keptTopK = kept0;
      out.probsTopPSees = oneHot; out.kept = kept0; out.probs = oneHot;
      return finish(ctx, out);
    }
    out.greedy = false;
    var cache = ctx.byTemperature;
    if (!cache || cache.temperature !== temperature) { // moving top-k or top-p alone reuses this
      var scaled = L;
      if (temperature !== 1) { // TemperatureLogitsWarper: float32 division
        var t = f32(temperature);
        scaled = new Float32Array(V);
        for (i = 0; i < V; i++) {
          scaled[i] = L[i] / t;
          if (scaled[i] === Infinity) { return { tooSmall: true }; }
        }
      }
      var e = exps(scaled);
      cache = ctx.byTemperature = { temperature: temperature, scaled: scaled, e: e, probs: normalise(e, ctx.layout) };
    }
    var scaledT = cache.scaled, eT = cache.e;
    out.scaled = scaledT;
    out.probsScaled = cache.probs;
    var keptTopK = buf(ctx, "keptTopK", Uint8Array), cutByK = false;
    if (topK !== 0) { // TopKLogitsWarper: remove every score below the k-th largest (ties with it stay)
      var k = Math.min(Math.max(topK, 1), V);
      var kth = scaledT[desc[k - 1]]; // x / T is monotone in x: the k-th largest logit gives the k-th score
      for (i = 0; i < V; i++) { if (scaledT[i] >= kth) { keptTopK[i] = 1; } else { keptTopK[i] = 0; cutByK = true; } }
    } else {
      keptTopK.fill(1);
    }
    for (i = 0; i < V; i++) { if (scaledT[i] === -Infinity) { keptTopK[i] = 0; } } // a -inf logit never is
    out.keptTopK = keptTopK;
    var eK = cutByK ? masked(eT, keptTopK, buf(ctx, "eK", Float32Array)) : eT;
    out.probsTopPSees = cutByK ? normalise(eK, ctx.layout, buf(ctx, "sees", Float32Array)) : out.probsScaled;
    var kept = keptTopK;
    if (topP < 1) { // TopPLogitsWarper: ascending sort, softmax, cumsum, remove cumulative <= 1 - p
      // ascending order = the logits' order reversed (monotone), the values np.sort gives; same numerators
      var eSorted = buf(ctx, "eSorted", Float32Array);
      for (i = 0; i < V; i++) { eSorted[i] = eK[desc[V - 1 - i]]; }
      var sorted = normalise(eSorted, ctx.layout, buf(ctx, "sorted", Float32Array));
      var threshold = f32(1 - topP), acc = 0, r = V - 1; // the last (most likely) token always stays
      for (i = 0; i < V - 1; i++) {
        acc += sorted[i];
        if (!(f32(acc) <= threshold)) { r = i; break; }
      }
      // r: the first kept position in ascending order (removal is a prefix: the cumulative sum only grows)
      if (r > 0) {
        var score = function (j) { return keptTopK[j] ? scaledT[j] : -Infinity; }; // the scores after top-k
        var atR = score(desc[V - 1 - r]);
        kept = buf(ctx, "kept", Uint8Array);
        kept.set(keptTopK);
        if (score(desc[V - r]) === atR) { // exact ties across the cut: torch.sort's order decides which go
          var afterK = new Float32Array(V);
          for (i = 0; i < V; i++) { afterK[i] = score(i); }
          var ids = stdSortAscending(afterK);
          for (i = 0; i < r; i++) { kept[ids[i]] = 0; }
        } else {
          for (i = 0; i < V; i++) { if (score(i) < atR) { kept[i] = 0; } } // every score below the first kept
        }
      }
    }
    out.kept = kept;
    if (kept === keptTopK) {
      out.probs = out.probsTopPSees;
    } else {
      out.probs = normalise(masked(eT, kept, buf(ctx, "eFinal", Float32Array)), ctx.layout,
                            buf(ctx, "probs", Float32Array));
    }
    return finish(ctx, out);
  }

  function finish(ctx, out) {
    var V = ctx.V, i, nKept = 0, nTopK = 0, nNonzero = 0, mass = 0;
    for (i = 0; i < V; i++) {
      if (out.kept[i]) { nKept++; mass += out.probsScaled[i]; }
      if (out.keptTopK[i]) { nTopK++; }
      if (out.probs[i] > 0) { nNonzero++; }
    }
    out.nKept = nKept; out.nKeptTopK = nTopK; out.nNonzero = nNonzero; out.keptMass = mass;
    out.entropyOriginal = ctx.entropyOriginal === undefined ? (ctx.entropyOriginal = entropyBits(ctx.probsOriginal))
      : ctx.entropyOriginal;
    out.entropyFinal = entropyBits(out.probs);
    return out;
  }

  // Cumulative probability of the distribution top-p sees, most likely first [V] (Adjusted.nucleus_curve)
  function nucleus(ctx, out) {
    var V = ctx.V, c = new Float64Array(V), acc = 0, p = out.probsTopPSees;
    for (var i = 0; i < V; i++) { acc += p[ctx.desc[i]]; c[i] = acc; }
    return c;
  }

  root.TxSampling = {
    prepare: prepare, adjust: adjust, nucleus: nucleus, softmax: softmax, entropyBits: entropyBits,
    stdSortAscending: stdSortAscending, descending: descending,
  };
})(typeof window !== "undefined" ? window : this);
