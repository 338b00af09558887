import type { PublishedCount } from "../../wire/index.js";
import { discloseCounts, publishCount } from "../analytics/disclosure.js";

/**
 * The node's disclosure gate as clinical statistics use it: a local adapter over
 * src/node/analytics/disclosure.ts, so the gate behind it can change in one place.
 */

/** One count under min_count. */
export function gateCount(n: number, minCount: number): PublishedCount {
  return publishCount(n, minCount);
}

/** Counts that add up to a published total (a one-way table): the gate's discloseCounts. */
export function gateCells(cells: number[], minCount: number): PublishedCount[] {
  return discloseCounts(cells, minCount);
}

/**
 * A two-way table (row-major, rows × cols) whose margins can be known: every cell under min_count
 * (zero included) withheld, then secondary suppression line by line: while a row or column holds
 * exactly one withheld cell (its margin minus the published cells would give it, and through it the
 * crossing line's) or withheld cells adding up to less than min_count, its smallest published cell is
 * withheld too (Hundepool et al. 2012, ch. 5.2). Withheld cells are all "hidden".
 */
export function gateTable(cells: number[], rows: number, cols: number, minCount: number): PublishedCount[] {
  const hidden = cells.map((n) => n < minCount);
  const lines: number[][] = [
    ...Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => r * cols + c)),
    ...Array.from({ length: cols }, (_, c) => Array.from({ length: rows }, (_, r) => r * cols + c)),
  ];
  for (let changed = true; changed; ) {
    changed = false;
    for (const line of lines) {
      if (!line.some((i) => hidden[i])) continue;
      let held = line.reduce((sum, i) => sum + (hidden[i] ? cells[i] : 0), 0);
      let count = line.filter((i) => hidden[i]).length;
      while (held < minCount || count === 1) {
        const pick = line
          .filter((i) => !hidden[i])
          .reduce((best, i) => (best < 0 || cells[i] < cells[best] ? i : best), -1);
        if (pick < 0) break;
        hidden[pick] = true;
        held += cells[pick];
        count++;
        changed = true;
      }
    }
  }
  return cells.map((n, i) => (hidden[i] ? "hidden" : n));
}
