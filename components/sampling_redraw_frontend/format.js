// Python's str.format, as far as the component's texts use it ({n}, {V:,}, {mass:.1%}, {T:g}, {bits:+.2f}), and a
// small Markdown subset (**bold**, `code`, links to app pages) turned into DOM nodes. The texts are translated in
// Python (components/sampling_redraw.py: strings()) and filled with the browser's numbers here; the tests compare
// this with Python's own format() in Chromium.
(function (root) {
  "use strict";

  // ------------------------------------------------------------------------ Python's format mini-language
  function group(intPart) { return intPart.replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

  function pyG(x, prec) { // format(x, ".{prec}g")
    if (!isFinite(x)) { return isNaN(x) ? "nan" : (x > 0 ? "inf" : "-inf"); }
    if (x === 0) { return (1 / x < 0 ? "-" : "") + "0"; }
    prec = prec === 0 ? 1 : prec;
    var e = parseInt(x.toExponential(prec - 1).split("e")[1], 10);
    var s;
    if (e >= -4 && e < prec) {
      s = x.toFixed(prec - 1 - e);
      if (s.indexOf(".") >= 0) { s = s.replace(/0+$/, "").replace(/\.$/, ""); }
    } else {
      var parts = x.toExponential(prec - 1).split("e");
      var m = parts[0];
      if (m.indexOf(".") >= 0) { m = m.replace(/0+$/, "").replace(/\.$/, ""); }
      var n = parseInt(parts[1], 10);
      s = m + "e" + (n < 0 ? "-" : "+") + (Math.abs(n) < 10 ? "0" : "") + Math.abs(n);
    }
    return s;
  }

  // The exact decimal expansion of |x| (a double's binary value: toFixed(100) is exact for |x| >= 2^-47 or so),
  // its point moved `shift` places right (x 100 for "%"), rounded to `prec` decimals half to even: Python's
  // format() rounds the exact binary value the same way (JS's toFixed rounds an exact half up).
  function fixed(x, prec, shift) {
    var s = Math.abs(x).toFixed(100), dot = s.indexOf(".");
    var digits = s.slice(0, dot) + s.slice(dot + 1), point = dot + (shift || 0);
    var intPart = digits.slice(0, point).replace(/^0+(?=\d)/, "") || "0", frac = digits.slice(point);
    var keep = frac.slice(0, prec), rest = frac.slice(prec);
    var up = rest.charAt(0) > "5" || (rest.charAt(0) === "5" && (/[1-9]/.test(rest.slice(1)) ||
             ((prec ? keep.charAt(prec - 1) : intPart.charAt(intPart.length - 1)) % 2 === 1)));
    var all = (intPart + keep).split("").map(Number);
    if (up) {
      var i = all.length - 1;
      while (i >= 0 && all[i] === 9) { all[i] = 0; i--; }
      if (i < 0) { all.unshift(1); } else { all[i] += 1; }
    }
    var text = all.join(""), n = text.length - prec;
    return prec ? text.slice(0, n) + "." + text.slice(n) : text;
  }

  function pyFormat(value, spec) {
    if (typeof value !== "number") { return String(value); }
    if (!spec) { return Number.isInteger(value) ? String(value) : pyG(value, 16).replace(/^(-?\d+)$/, "$1.0"); }
    var m = /^(\+)?(,)?(?:\.(\d+))?([fgd%])?$/.exec(spec);
    if (!m) { return String(value); }
    var plus = !!m[1], comma = !!m[2], prec = m[3] === undefined ? null : parseInt(m[3], 10), type = m[4] || "";
    var neg = value < 0 || (value === 0 && 1 / value < 0), a = Math.abs(value), s;
    if (type === "f") { s = fixed(a, prec === null ? 6 : prec, 0); }
    else if (type === "%") { s = fixed(a, prec === null ? 6 : prec, 2); }
    else if (type === "g") { s = pyG(a, prec === null ? 6 : prec); }
    else { s = Number.isInteger(a) ? String(a) : pyG(a, 16); } // "d", "," on integers
    if (comma) { var dot = s.indexOf("."); s = dot < 0 ? group(s) : group(s.slice(0, dot)) + s.slice(dot); }
    if (type === "%") { s += "%"; }
    return (neg ? "-" : (plus ? "+" : "")) + s;
  }

  // "{n:,} of {V:,}" with values -> text (placeholders not in values are left as they are)
  function fill(template, values) {
    return String(template).replace(/\{(\w+)(?::([^{}]*))?\}/g, function (whole, name, spec) {
      return Object.prototype.hasOwnProperty.call(values, name) ? pyFormat(values[name], spec) : whole;
    });
  }

  // ------------------------------------------------------------------------------- Markdown, as DOM nodes
  var MD = "\\*\\*(.+?)\\*\\*|`([^`]+)`|\\[([^\\]]+)\\]\\(([^)\\s]+)\\)";

  function inline(el, text) {
    var md = new RegExp(MD, "g"); // one per call: bold text is read recursively
    var last = 0, m;
    while ((m = md.exec(text)) !== null) {
      if (m.index > last) { el.appendChild(document.createTextNode(text.slice(last, m.index))); }
      if (m[1] !== undefined) {
        var b = document.createElement("strong"); inline(b, m[1]); el.appendChild(b);
      } else if (m[2] !== undefined) {
        var c = document.createElement("code"); c.textContent = m[2]; el.appendChild(c);
      } else {
        var href = m[4];
        if (href.charAt(0) === "/" && href.charAt(1) !== "/") { // app pages only
          var a = document.createElement("a"); a.href = href; a.target = "_top"; a.textContent = m[3];
          el.appendChild(a);
        } else {
          el.appendChild(document.createTextNode(m[3]));
        }
      }
      last = md.lastIndex;
    }
    if (last < text.length) { el.appendChild(document.createTextNode(text.slice(last))); }
  }

  function markdown(el, text) {
    el.textContent = "";
    inline(el, text);
  }

  root.TxFormat = { pyG: pyG, pyFormat: pyFormat, fill: fill, markdown: markdown };

})(typeof window !== "undefined" ? window : this);
