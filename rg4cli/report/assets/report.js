/* rg4 report: the study browser. Data is inline (#rg4-data, #rg4-images); the list is virtual
   (only the rows in view exist), and a study's text, diff and marks are built when it is shown,
   so thousands of studies open as fast as a few. */
(function () {
  "use strict";
  var ROW = 44;
  var OBS = JSON.parse(document.getElementById("rg4-observations").textContent);
  var CATS = { pc: "prior comparison", pp: "prior procedure", view: "view / projection", comm: "communication" };
  var LABEL = { "1": "positive", "0": "negative", u: "uncertain", ".": "–" };
  var studies = JSON.parse(document.getElementById("rg4-data").textContent);
  var images = null; // parsed on first use: the thumbnails are most of the page's bytes
  var $ = function (id) { return document.getElementById(id); };
  var list = $("list"), spacer = $("list-spacer"), detail = $("detail"), count = $("count");
  var fSetting = $("f-setting"), fMismatch = $("f-mismatch"), fHall = $("f-hall"), fSearch = $("f-search"), fSort = $("f-sort");
  var view = [], selected = 0, haystack = null, pending = false;

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; });
  }
  function flagged(s) { return !!(s.h && s.h.flag); }

  function apply() {
    var setting = fSetting.value, mm = fMismatch.checked, hall = fHall.checked;
    var q = fSearch.value.trim().toLowerCase();
    if (q && !haystack) {
      haystack = studies.map(function (s) { return (s.id + "\n" + s.gen + "\n" + (s.ref || "")).toLowerCase(); });
    }
    var keep = [];
    for (var i = 0; i < studies.length; i++) {
      var s = studies[i];
      if (setting && s.setting !== setting) continue;
      if (mm && !(s.mm && s.mm.length)) continue;
      if (hall && !flagged(s)) continue;
      if (q && haystack[i].indexOf(q) < 0) continue;
      keep.push(i);
    }
    var sort = fSort.value;
    if (sort === "id") keep.sort(function (a, b) { return studies[a].id < studies[b].id ? -1 : studies[a].id > studies[b].id ? 1 : 0; });
    else if (sort === "mismatch") keep.sort(function (a, b) { return (studies[b].mm || []).length - (studies[a].mm || []).length || a - b; });
    else if (sort === "hall") keep.sort(function (a, b) { return flagged(studies[b]) - flagged(studies[a]) || a - b; });
    else if (sort === "length") keep.sort(function (a, b) { return studies[b].gen.length - studies[a].gen.length || a - b; });
    view = keep;
    selected = 0;
    spacer.style.height = view.length * ROW + "px";
    count.textContent = view.length + " of " + studies.length + " studies";
    list.scrollTop = 0;
    renderRows(true);
    show();
  }

  function renderRows(force) {
    var top = list.scrollTop, h = list.clientHeight || 600;
    var first = Math.max(0, Math.floor(top / ROW) - 5), last = Math.min(view.length, Math.ceil((top + h) / ROW) + 5);
    if (!force && list.dataset.first == first && list.dataset.last == last) return;
    list.dataset.first = first; list.dataset.last = last;
    var html = "";
    for (var k = first; k < last; k++) {
      var s = studies[view[k]];
      var marks = (flagged(s) ? '<span class="badge" title="hallucination flagged">hall.</span>' : "") +
        (s.mm && s.mm.length ? '<span class="badge" title="label disagreements">≠' + s.mm.length + "</span>" : "");
      html += '<div class="row" role="option" id="row-' + k + '" data-k="' + k + '" aria-selected="' + (k === selected) +
        '" style="top:' + k * ROW + 'px">' + esc(s.id) + ' <span class="badge">' + esc(s.setting) + "</span>" + marks +
        '<span class="sub">' + esc(s.gen.slice(0, 80)) + "</span></div>";
    }
    var rows = list.querySelectorAll(".row");
    for (var r = 0; r < rows.length; r++) rows[r].remove();
    list.insertAdjacentHTML("beforeend", html);
    if (view.length) list.setAttribute("aria-activedescendant", "row-" + selected);
  }

  function words(text) {
    var out = [], re = /\S+/g, m;
    while ((m = re.exec(text))) out.push({ s: m.index, e: m.index + m[0].length, w: m[0].toLowerCase().replace(/[.,;:]+$/, "") });
    return out;
  }

  // Word-level LCS: words of each side not in the common subsequence are marked.
  function diff(a, b) {
    var n = a.length, m = b.length;
    if (!n || !m || n * m > 4000000) { a.forEach(function (x) { x.d = true; }); b.forEach(function (x) { x.d = true; }); return; }
    var t = new Uint16Array((n + 1) * (m + 1));
    for (var i = n - 1; i >= 0; i--) for (var j = m - 1; j >= 0; j--)
      t[i * (m + 1) + j] = a[i].w === b[j].w ? t[(i + 1) * (m + 1) + j + 1] + 1 : Math.max(t[(i + 1) * (m + 1) + j], t[i * (m + 1) + j + 1]);
    i = 0; j = 0;
    a.forEach(function (x) { x.d = true; }); b.forEach(function (x) { x.d = true; });
    while (i < n && j < m) {
      if (a[i].w === b[j].w) { a[i].d = b[j].d = false; i++; j++; }
      else if (t[(i + 1) * (m + 1) + j] >= t[i * (m + 1) + j + 1]) i++;
      else j++;
    }
  }

  // Text with its words marked: `spans` are [start, end, class, title, style] regions (sentences);
  // runs of words missing from the other text share one mark.
  function marked(text, toks, spans) {
    var html = "", pos = 0, open = -1, inDiff = false;
    function region(at) {
      for (var i = 0; i < spans.length; i++) if (at >= spans[i][0] && at < spans[i][1]) return i;
      return -1;
    }
    toks.forEach(function (t) {
      var r = region(t.s);
      if (r !== open || (inDiff && !t.d)) {
        if (inDiff) { html += "</span>"; inDiff = false; }
        html += esc(text.slice(pos, t.s)); pos = t.s;
      }
      if (r !== open) {
        if (open >= 0) html += "</span>";
        if (r >= 0) html += '<span class="' + spans[r][2] + '" title="' + esc(spans[r][3]) + '"' + (spans[r][4] ? ' style="' + spans[r][4] + '"' : "") + ">";
        open = r;
      }
      if (t.d && !inDiff) { html += esc(text.slice(pos, t.s)); pos = t.s; html += '<span class="dw">'; inDiff = true; }
      html += esc(text.slice(pos, t.e));
      pos = t.e;
    });
    if (inDiff) html += "</span>";
    if (open >= 0) html += "</span>";
    return html + esc(text.slice(pos));
  }

  function thumb(s, name) {
    var label = (name === "f" ? "Frontal" : "Lateral") + (name === "f" && s.view ? " (" + s.view + ")" : "");
    var key = s[name];
    if (key) {
      if (!images) images = JSON.parse(document.getElementById("rg4-images").textContent);
      return '<figure><img src="' + images[key] + '" alt="' + esc(label + " radiograph of study " + s.id + ", thumbnail") +
        '"><figcaption>' + esc(label) + "</figcaption></figure>";
    }
    var missing = s.missing && s.missing.indexOf(name === "f" ? "frontal" : "lateral") >= 0;
    if (!missing) return "";
    return '<div class="missing" role="img" aria-label="' + esc(label + " image missing") + '">' + esc(label) + " image could not be read</div>";
  }

  function show() {
    if (!view.length) { detail.innerHTML = '<p class="empty">No study matches these filters.</p>'; return; }
    var s = studies[view[selected]];
    var g = words(s.gen), r = words(s.ref || "");
    if (s.ref != null) diff(g, r);
    var hs = ((s.h && s.h.s) || []).map(function (x) {
      var cat = x[2][0] || "pc", unsup = x[3].length > 0;
      return [x[0], x[1], "hall hall-" + cat + (unsup ? " unsup" : ""),
        x[2].map(function (c) { return CATS[c] || c; }).join(", ") + (unsup ? " (not supported by this study's inputs)" : " (supported by the inputs)")];
    });
    var ws = (s.w || []).map(function (x) {
      var a = Math.min(0.55, Math.max(0, x[3]) * 0.55);
      return [x[0], x[1], "heat", "TLW score " + x[3] + ", weight " + x[2], "background: rgba(213, 94, 0, " + a.toFixed(3) + ")"];
    });
    var ctx = "";
    [["Indication", s.ind], ["History", s.hist], ["Prior report", s.prior]].forEach(function (p) {
      if (p[1]) ctx += "<dt>" + p[0] + "</dt><dd>" + esc(p[1]) + "</dd>";
    });
    var labels = "";
    if (s.lg || s.lr) {
      var rows = "";
      OBS.forEach(function (o, i) {
        var a = s.lg ? s.lg[i] : ".", b = s.lr ? s.lr[i] : ".";
        if (a === "." && b === ".") return;
        var mm = s.mm && s.mm.indexOf(i) >= 0;
        rows += '<tr class="' + (mm ? "mm" : "") + '"><th scope="row">' + esc(o) + "</th><td>" + LABEL[a] + "</td><td>" + LABEL[b] + "</td></tr>";
      });
      labels = '<table class="labels"><caption>Labels (≠: positive on one side only, uncertain counted positive)</caption>' +
        '<thead><tr><th scope="col">observation</th><th scope="col">generated</th><th scope="col">reference</th></tr></thead><tbody>' +
        (rows || '<tr><td colspan="3">no observation mentioned</td></tr>') + "</tbody></table>";
    }
    var hallNote = s.h ? (s.h.flag ? "<strong>Hallucination flagged:</strong> " + s.h.unsup.map(function (c) { return esc(CATS[c] || c); }).join(", ") : "No input-agnostic content flagged.") : "Not judged (no `hallucination` of this text).";
    detail.innerHTML =
      "<h3>" + esc(s.id) + ' <span class="badge">' + esc(s.setting) + "</span></h3>" +
      '<div class="thumbs">' + thumb(s, "f") + thumb(s, "l") + "</div>" +
      (ctx ? '<dl class="context">' + ctx + "</dl>" : "") +
      '<p class="legend-row">Marks: <span class="dw">word not in the other text</span>' +
      Object.keys(CATS).map(function (c) { return '<span class="hall hall-' + c + '">' + CATS[c] + "</span>"; }).join("") +
      '<span style="background: rgba(213, 94, 0, 0.4)">TLW weight heat</span></p>' +
      '<div class="pair"><section><h4>Generated</h4><p>' + hallNote + '</p><div class="text">' + (s.gen ? marked(s.gen, g, hs) : '<span class="empty">no generated text</span>') + "</div></section>" +
      "<section><h4>Reference</h4>" + (s.w ? "<p>Shaded by token-level loss weight.</p>" : "<p>&nbsp;</p>") +
      '<div class="text">' + (s.ref != null ? marked(s.ref, r, ws) : '<span class="empty">no reference for this study</span>') + "</div></section></div>" +
      labels;
    var rows2 = list.querySelectorAll(".row");
    for (var i = 0; i < rows2.length; i++) rows2[i].setAttribute("aria-selected", String(+rows2[i].dataset.k === selected));
    list.setAttribute("aria-activedescendant", "row-" + selected);
  }

  function select(k) {
    if (!view.length) return;
    selected = Math.max(0, Math.min(view.length - 1, k));
    var y = selected * ROW;
    if (y < list.scrollTop) list.scrollTop = y;
    else if (y + ROW > list.scrollTop + list.clientHeight) list.scrollTop = y + ROW - list.clientHeight;
    renderRows(true);
    show();
  }

  list.addEventListener("scroll", function () {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; renderRows(false); });
  });
  list.addEventListener("click", function (e) {
    var row = e.target.closest(".row");
    if (row) { select(+row.dataset.k); list.focus(); }
  });
  document.addEventListener("keydown", function (e) {
    var typing = /^(INPUT|SELECT|TEXTAREA)$/.test(e.target.tagName);
    if (e.key === "/" && !typing) { e.preventDefault(); fSearch.focus(); return; }
    if (typing && e.target !== fSearch) return;
    if (typing && !/^(ArrowDown|ArrowUp)$/.test(e.key)) return;
    var page = Math.max(1, Math.floor(list.clientHeight / ROW) - 1);
    var moves = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1, PageDown: page, PageUp: -page };
    if (e.key in moves) { e.preventDefault(); select(selected + moves[e.key]); }
    else if (e.key === "Home" && !typing) { e.preventDefault(); select(0); }
    else if (e.key === "End" && !typing) { e.preventDefault(); select(view.length - 1); }
  });
  [fSetting, fMismatch, fHall, fSort].forEach(function (el) { el.addEventListener("change", apply); });
  var timer = null;
  fSearch.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(apply, 150); });

  // What tests and scripts read: the ids in view, in order.
  window.rg4Report = {
    shown: function () { return view.map(function (i) { return studies[i].id; }); },
    flagged: function () { return studies.filter(flagged).map(function (s) { return s.id; }); },
    apply: apply, select: select
  };
  apply();
  document.documentElement.setAttribute("data-ready", "1");
  if (window.performance && performance.mark) performance.mark("rg4-ready");
})();
