import type { PublishedCount } from "../../wire/index.js";

/** What the researcher knows of a count a node published: it lies in [lo, hi] (hi may be Infinity). */
export type Bounds = [lo: number, hi: number];

/**
 * Bounds of counts one node published for cells that add up to `total` (when known): exact counts are
 * themselves, "below" is 0 … minCount − 1, "hidden" is any count (a node hides small cells and, with
 * secondary suppression, others); the total then caps each cell at what the others leave.
 */
export function cellBounds(cells: PublishedCount[], minCount: number, total?: number): Bounds[] {
  const bounds: Bounds[] = cells.map((c) =>
    c === "below" ? [0, minCount - 1] : c === "hidden" ? [0, Infinity] : [c, c],
  );
  if (total === undefined) return bounds;
  const sumLo = bounds.reduce((s, [lo]) => s + lo, 0);
  return bounds.map(([lo, hi]) => [lo, Math.min(hi, total - (sumLo - lo))]);
}

/** Adds bounds cell by cell (cells from several nodes). */
export function addBounds(a: Bounds, b: Bounds): Bounds {
  return [a[0] + b[0], a[1] + b[1]];
}

/** A count as printed: exact as a number, else `"<10"`, `">=10"` or `"12-30"`. */
export function formatCount([lo, hi]: Bounds): number | string {
  if (lo === hi) return lo;
  if (hi === Infinity) return lo > 0 ? `>=${lo}` : "hidden";
  if (lo <= 1) return `<${hi + 1}`;
  return `${lo}-${hi}`;
}

/** One node's published count as printed, by its own min_count: `"<10"`, or `"hidden"` (any count). */
export function formatPublished(count: PublishedCount, minCount: number): number | string {
  return count === "below" ? `<${minCount}` : count === "hidden" ? "hidden" : count;
}
