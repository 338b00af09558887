import type { PublishedCount } from "../../wire/index.js";
import { publishCells, publishCount } from "../analytics/disclosure.js";

/**
 * The node's disclosure gate as clinical statistics use it: a local adapter over
 * src/node/analytics/disclosure.ts, so the gate behind it can change in one place.
 */

/** One count under min_count. */
export function gateCount(n: number, minCount: number): PublishedCount {
  return publishCount(n, minCount);
}

/** Counts that add up to a published total (a one-way table): small ones withheld, a lone one covered. */
export function gateCells(cells: number[], minCount: number): PublishedCount[] {
  return publishCells(cells, minCount);
}

/**
 * A two-way table (row-major, rows × cols) whose margins can be known: small cells withheld, then
 * secondary suppression until no row or column holds exactly one withheld cell (its margin minus the
 * others would give it away): the smallest other non-zero cell of that line is hidden too, as
 * publishCells does for one line.
 */
export function gateTable(cells: number[], rows: number, cols: number, minCount: number): PublishedCount[] {
  const out: PublishedCount[] = cells.map((n) => gateCount(n, minCount));
  const lines: number[][] = [
    ...Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => r * cols + c)),
    ...Array.from({ length: cols }, (_, c) => Array.from({ length: rows }, (_, r) => r * cols + c)),
  ];
  for (let changed = true; changed; ) {
    changed = false;
    for (const line of lines) {
      if (line.filter((i) => typeof out[i] !== "number").length !== 1) continue;
      const pick = line
        .filter((i) => typeof out[i] === "number" && cells[i] > 0)
        .reduce((best, i) => (best < 0 || cells[i] < cells[best] ? i : best), -1);
      if (pick >= 0) {
        out[pick] = "hidden";
        changed = true;
      }
    }
  }
  return out;
}
