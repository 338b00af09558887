import type { PublishedCount } from "../../wire/index.js";
import { gateCells, gateTable } from "./disclosure-gate.js";
import type { TableRows } from "./table-rows.js";

/** The level that stands for every level held by fewer than min_count rows on the node. */
export const OTHER_LEVEL = "(other)";

/**
 * Counts per level of `rows` (and of `cols`: a two-way table), levels sorted, through the node's gate.
 * A level held by fewer than minCount rows is not named (its name alone would say someone has it):
 * it counts as OTHER_LEVEL. Rows with a missing cell in either column are left out.
 */
export function tableCounts(
  data: TableRows,
  rows: string,
  cols: string,
  minCount: number,
): { rowLevels: string[]; colLevels: string[]; cells: PublishedCount[]; rows: number; excluded: number } {
  const ri = data.columns.indexOf(rows);
  const ci = cols ? data.columns.indexOf(cols) : -1;
  const pairs: [string, string][] = [];
  for (const row of data.cells) {
    const r = row[ri];
    const c = ci >= 0 ? row[ci] : "";
    if (r !== undefined && c !== undefined) pairs.push([r, c]);
  }
  for (const k of [0, 1] as const) {
    const held = new Map<string, number>();
    for (const p of pairs) held.set(p[k], (held.get(p[k]) ?? 0) + 1);
    for (const p of pairs) if (held.get(p[k])! < minCount) p[k] = OTHER_LEVEL;
  }
  const rowLevels = [...new Set(pairs.map((p) => p[0]))].sort();
  const colLevels = ci >= 0 ? [...new Set(pairs.map((p) => p[1]))].sort() : [];
  const width = Math.max(colLevels.length, 1);
  const counts = new Array(rowLevels.length * width).fill(0);
  const rowAt = new Map(rowLevels.map((k, i) => [k, i]));
  const colAt = new Map(colLevels.map((k, i) => [k, i]));
  for (const [r, c] of pairs) counts[rowAt.get(r)! * width + (ci >= 0 ? colAt.get(c)! : 0)]++;
  const cells = ci >= 0 ? gateTable(counts, rowLevels.length, colLevels.length, minCount) : gateCells(counts, minCount);
  return { rowLevels, colLevels, cells, rows: pairs.length, excluded: data.cells.length - pairs.length };
}
