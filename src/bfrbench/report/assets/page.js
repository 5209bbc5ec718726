/* bfrbench leaderboard page: inlined into reports/leaderboard.html (no external resource, no library).
   Sortable leaderboard tables, the full-resolution zoom overlay, the side-by-side comparison and the worst-faces
   metric choice. */
(function () {
  "use strict";

  /* ---- sortable tables (table.board) ---- */

  var NUMBER = /[-+\u2212]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?/;
  var INF = /(^|[^A-Za-z])([-+\u2212]?)inf\b/i;

  // The number a cell shows ("25.0000 †" -> 25, "inf" -> Infinity), or null ("missing", "unavailable", "n/a").
  function cellNumber(text) {
    var m = NUMBER.exec(text);
    if (m) {
      var v = parseFloat(m[0].replace("\u2212", "-"));
      if (!isNaN(v)) return v;
    }
    var inf = INF.exec(text);
    if (inf) return inf[2] === "" || inf[2] === "+" ? Infinity : -Infinity;
    return null;
  }

  function cellText(cell) {
    return (cell ? cell.textContent : "").trim();
  }

  // For each column, the header cell naming it: top-down, the first single-column header cell with text (pandas'
  // Styler puts the index name "method" in a second header row, under a blank cell).
  function headerCells(table, ncols) {
    var rows = table.tHead ? Array.prototype.slice.call(table.tHead.rows) : [];
    var grid = [];
    rows.forEach(function (tr, r) {
      grid[r] = grid[r] || [];
      var col = 0;
      Array.prototype.forEach.call(tr.cells, function (cell) {
        while (grid[r][col]) col++;
        var span = cell.colSpan || 1, down = cell.rowSpan || 1;
        for (var dr = 0; dr < down; dr++) {
          grid[r + dr] = grid[r + dr] || [];
          for (var dc = 0; dc < span; dc++) grid[r + dr][col + dc] = { cell: cell, single: span === 1 };
        }
        col += span;
      });
    });
    var out = [];
    for (var c = 0; c < ncols; c++) {
      var chosen = null, last = null;
      for (var r = 0; r < grid.length; r++) {
        var slot = grid[r] && grid[r][c];
        if (!slot || !slot.single) continue;
        last = slot.cell;
        if (!chosen && cellText(slot.cell) !== "") chosen = slot.cell;
      }
      out.push(chosen || last);
    }
    return out;
  }

  function makeSortable(table) {
    var body = table.tBodies[0];
    if (!body || !body.rows.length) return;
    var ncols = 0;
    Array.prototype.forEach.call(body.rows, function (tr) { ncols = Math.max(ncols, tr.cells.length); });
    Array.prototype.forEach.call(body.rows, function (tr, i) { tr.setAttribute("data-order", String(i)); });
    var heads = headerCells(table, ncols);
    var state = { col: -1, dir: 0 };
    heads.forEach(function (th, c) {
      if (!th || th.classList.contains("sortable")) return;
      th.classList.add("sortable");
      th.setAttribute("tabindex", "0");
      th.setAttribute("role", "button");
      th.title = "Sort by this column (click again to reverse)";
      function go() {
        var dir;
        if (state.col === c) {
          dir = -state.dir;
        } else {
          // first click: best first when the header says which way is better (↑ higher, ↓ lower)
          dir = c > 0 && cellText(th).indexOf("\u2191") >= 0 ? -1 : 1;
        }
        state.col = c;
        state.dir = dir;
        sortRows(body, c, dir);
        heads.forEach(function (h) { if (h) h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      }
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); go(); }
      });
    });
  }

  // Rows by column c (dir 1 ascending, -1 descending): the first column by name, the others by the number in the
  // cell; cells without a number always last; ties keep the table's first order.
  function sortRows(body, c, dir) {
    var rows = Array.prototype.slice.call(body.rows).map(function (tr) {
      var text = cellText(tr.cells[c]);
      return { tr: tr, text: text, num: c === 0 ? null : cellNumber(text),
               order: parseInt(tr.getAttribute("data-order"), 10) };
    });
    rows.sort(function (a, b) {
      var d;
      if (c === 0) {
        d = a.text.localeCompare(b.text, "en", { numeric: true, sensitivity: "base" }) * dir;
      } else if (a.num === null || b.num === null) {
        d = (a.num === null ? 1 : 0) - (b.num === null ? 1 : 0);
      } else {
        d = a.num === b.num ? 0 : (a.num < b.num ? -dir : dir);
      }
      return d || a.order - b.order;
    });
    rows.forEach(function (r) { body.appendChild(r.tr); });
  }

  /* ---- zoom overlay: the image at full resolution ---- */

  var zoom = document.getElementById("zoom");
  var zoomImg = zoom ? zoom.querySelector(".zoom-img") : null;
  var zoomCap = zoom ? zoom.querySelector(".zoom-cap") : null;
  var lastFocus = null;

  function openZoom(img) {
    if (!zoom) return;
    lastFocus = document.activeElement;
    zoomImg.setAttribute("src", img.getAttribute("src"));
    zoomImg.setAttribute("alt", img.getAttribute("alt") || "");
    zoomCap.textContent = img.getAttribute("alt") || "";
    zoom.hidden = false;
    zoom.setAttribute("tabindex", "-1");
    zoom.focus();
  }

  function closeZoom() {
    if (!zoom || zoom.hidden) return;
    zoom.hidden = true;
    zoomImg.removeAttribute("src");
    if (lastFocus && lastFocus.focus) lastFocus.focus();
  }

  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (zoom && !zoom.hidden && zoom.contains(t)) { closeZoom(); return; }
    if (t && t.tagName === "IMG" && t.classList.contains("zoomable")) openZoom(t);
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" || ev.key === "Esc") closeZoom();
  });

  /* ---- two grid columns side by side ---- */

  function setupCompare(box) {
    var grid = document.getElementById(box.getAttribute("data-grid"));
    var selA = box.querySelector(".cmp-a"), selB = box.querySelector(".cmp-b"), selF = box.querySelector(".cmp-face");
    var panes = box.querySelectorAll(".cmp-pane");
    if (!grid || !selA || !selB || !selF || panes.length < 2) return;
    function show(pane, sel) {
      var img = pane.querySelector("img"), cap = pane.querySelector("figcaption");
      var label = sel.options[sel.selectedIndex] ? sel.options[sel.selectedIndex].text : "";
      var face = selF.options[selF.selectedIndex] ? selF.options[selF.selectedIndex].text : "";
      var tile = grid.querySelector('img[data-c="' + sel.value + '"][data-s="' + selF.value + '"]');
      if (tile) {
        img.setAttribute("src", tile.getAttribute("src"));
        img.setAttribute("alt", label + ": " + face);
        img.hidden = false;
        cap.textContent = label;
      } else {
        img.removeAttribute("src");
        img.hidden = true;
        cap.textContent = label + ": no image of " + face;
      }
    }
    function update() { show(panes[0], selA); show(panes[1], selB); }
    [selA, selB, selF].forEach(function (s) { s.addEventListener("change", update); });
    update();
  }

  /* ---- worst faces: one metric's set at a time ---- */

  function setupWorst(box) {
    var sel = box.querySelector(".worst-metric");
    var sets = box.querySelectorAll(".worst-set");
    if (!sel) return;
    function update() {
      Array.prototype.forEach.call(sets, function (s, i) { s.hidden = String(i) !== sel.value; });
    }
    sel.addEventListener("change", update);
    update();
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.board"), makeSortable);
  Array.prototype.forEach.call(document.querySelectorAll(".compare"), setupCompare);
  Array.prototype.forEach.call(document.querySelectorAll(".worst"), setupWorst);
})();
