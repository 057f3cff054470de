// Assay leaderboard site: sortable tables. Each cell may carry data-sort (the raw number,
// or empty for none); an empty value always sorts last. No dependencies, no network.
"use strict";

function cellValue(row, index, numeric) {
  const cell = row.children[index];
  if (!cell) return null;
  const raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
  if (raw === "" || raw === "-") return null;
  if (!numeric) return raw.toLowerCase();
  const number = parseFloat(raw);
  return Number.isNaN(number) ? null : number;
}

function sortTable(table, header) {
  const headers = Array.from(header.parentElement.children);
  const index = headers.indexOf(header);
  const numeric = header.getAttribute("data-type") === "num";
  const ascending = header.getAttribute("aria-sort") !== "ascending";
  headers.forEach((h) => h.setAttribute("aria-sort", "none"));
  header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows).map((row, position) => ({ row, position }));
  rows.sort((a, b) => {
    const x = cellValue(a.row, index, numeric);
    const y = cellValue(b.row, index, numeric);
    if (x === null && y === null) return a.position - b.position;
    if (x === null) return 1;
    if (y === null) return -1;
    if (x < y) return ascending ? -1 : 1;
    if (x > y) return ascending ? 1 : -1;
    return a.position - b.position;
  });
  rows.forEach(({ row }) => body.appendChild(row));
}

document.addEventListener("DOMContentLoaded", () => {
  document.documentElement.dataset.site = "ready";
  document.querySelectorAll("table.sortable").forEach((table) => {
    table.querySelectorAll("thead th").forEach((header) => {
      const button = header.querySelector("button") || header;
      button.addEventListener("click", () => sortTable(table, header));
    });
  });
});
