"""The style sheet and the script inlined into the HTML report: local fonts with generic fallbacks, nothing
fetched from anywhere."""

from __future__ import annotations

STYLE = """
:root { color-scheme: light; }
body.cnnc-page { margin: 0 auto; padding: 1rem 1.5rem 3rem; max-width: 1400px; color: #1f2328; background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
.cnnc-page h1 { font-size: 1.5rem; margin: 0.5rem 0; }
.cnnc-page h2 { font-size: 1.25rem; margin: 2rem 0 0.25rem; padding-top: 0.5rem; border-top: 2px solid #d0d7de;
  overflow-wrap: anywhere; }
.cnnc-page h3 { font-size: 1rem; margin: 1.25rem 0 0.5rem; }
.cnnc-page code, .cnnc-page pre, .cnnc-page td, .cnnc-page th {
  font-family: "DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
.cnnc-page .cnnc-headline { margin: 0; color: #57606a; }
.cnnc-page .cnnc-summary { font-weight: 600; }
.cnnc-page .cnnc-contents { margin: 0.5rem 0; padding-left: 1.25rem; }
.cnnc-page .cnnc-diagram { overflow: auto; width: fit-content; max-width: 100%; max-height: 85vh;
  box-sizing: border-box; border: 1px solid #d0d7de; border-radius: 6px; padding: 0.5rem; background: #fff; }
.cnnc-page .cnnc-diagram > svg { display: block; }
.cnnc-page table { border-collapse: collapse; }
.cnnc-page .cnnc-layers { margin-bottom: 0.5rem; }
.cnnc-page .cnnc-layers th, .cnnc-page .cnnc-layers td { padding: 2px 10px; border-bottom: 1px solid #eaeef2;
  white-space: pre; vertical-align: top; text-align: left; }
.cnnc-page .cnnc-layers thead th { position: sticky; top: 0; background: #f6f8fa; cursor: pointer;
  user-select: none; border-bottom: 2px solid #d0d7de; }
.cnnc-page .cnnc-layers thead th:hover { background: #eaeef2; }
.cnnc-page .cnnc-layers thead th[aria-sort="ascending"]::after { content: " \\25B2"; }
.cnnc-page .cnnc-layers thead th[aria-sort="descending"]::after { content: " \\25BC"; }
.cnnc-page .cnnc-layers tbody tr:hover { background: #f6f8fa; }
.cnnc-page .cnnc-totals th { text-align: left; padding: 1px 12px 1px 0; }
.cnnc-page .cnnc-totals td { padding: 1px 12px 1px 0; }
.cnnc-page .cnnc-totals td:last-child { color: #57606a; font-family: inherit; font-size: inherit; }
.cnnc-page .cnnc-assumptions { color: #57606a; }
.cnnc-page pre.cnnc-diagnostic { margin: 0 0 0.75rem; padding: 0.5rem 0.75rem; background: #f6f8fa;
  border-left: 4px solid #d0d7de; border-radius: 4px; overflow-x: auto; }
.cnnc-page pre.cnnc-diagnostic.error { border-left-color: #cf222e; }
.cnnc-page pre.cnnc-diagnostic.warning { border-left-color: #bf8700; }
.cnnc-page pre.cnnc-diagnostic.info { border-left-color: #0969da; }
.cnnc-page .s-bold { font-weight: 700; }
.cnnc-page .s-dim { opacity: 0.7; }
.cnnc-page .s-red { color: #cf222e; }
.cnnc-page .s-yellow { color: #9a6700; }
.cnnc-page .s-cyan { color: #0969da; }
.cnnc-page .s-blue { color: #57606a; }
.cnnc-page .s-green { color: #1a7f37; }
.cnnc-page .cnnc-none { color: #1a7f37; }
"""

SORT_SCRIPT = """
(function () {
  "use strict";
  var NUMBER = /^[0-9]+(x[0-9]+)*$/;
  function cellText(row, column) { return row.cells[column].textContent.replace(/\\u00a0/g, " ").trim(); }
  function numberKey(text) {
    text = text.replace(/,/g, "");
    if (text === "" || text === "-") return null;
    if (!NUMBER.test(text)) return undefined;
    return text.split("x").reduce(function (product, part) { return product * BigInt(part); }, BigInt(1));
  }
  function sortable(table) {
    var body = table.tBodies[0], headers = table.tHead.rows[0].cells, rows = Array.prototype.slice.call(body.rows);
    rows.forEach(function (row, index) { row.dataset.index = index; });
    Array.prototype.forEach.call(headers, function (header, column) {
      header.tabIndex = 0;
      header.title = "Sort by " + header.textContent;
      header.setAttribute("aria-sort", "none");
      function sort() {
        var next = {none: "ascending", ascending: "descending", descending: "none"}[header.getAttribute("aria-sort")];
        Array.prototype.forEach.call(headers, function (other) { other.setAttribute("aria-sort", "none"); });
        header.setAttribute("aria-sort", next);
        var keys = rows.map(function (row) { return numberKey(cellText(row, column)); });
        var numeric = keys.every(function (key) { return key !== undefined; });
        var order = rows.map(function (row, index) { return index; });
        if (next !== "none") {
          var sign = next === "ascending" ? 1 : -1;
          order.sort(function (a, b) {
            var result;
            if (numeric) {
              var x = keys[a], y = keys[b];
              result = x === y ? 0 : x === null ? -1 : y === null ? 1 : x < y ? -1 : x > y ? 1 : 0;
            } else {
              result = cellText(rows[a], column).localeCompare(cellText(rows[b], column), undefined, {numeric: true});
            }
            return sign * result || a - b;
          });
        }
        order.forEach(function (index) { body.appendChild(rows[index]); });
      }
      header.addEventListener("click", sort);
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.cnnc-layers"), sortable);
})();
"""
"""Clicking a header of a layer table sorts its rows ascending, then descending, then back to execution
order. A column whose cells are all counts or sizes (``1,234``, ``28x28x6``; empty or ``-`` first) sorts by
number, as exact integers (a size by its product), any other by text with digits compared as numbers."""
