import { InputError } from "../common/errors.js";
import { checkDataset, readRowInto, rowWidth } from "./rows.js";
import type { ColumnStats, Dataset, Normalization } from "./types.js";

/**
 * Global input scaling. Each node sends per-column sums (never rows); the researcher combines them into
 * one shift/scale per column that every node and the exported model apply alike.
 */

/**
 * Per-feature-column sums of a dataset; image data (rank > 1) is one pseudo-column "pixels". `skip[c]`
 * holds rows left out of column c (a node leaves out filled cells: their sums would tell the fill's rows).
 */
export function columnStats(data: Dataset, skip: (ReadonlySet<number> | undefined)[] = []): ColumnStats[] {
  checkDataset(data, { labels: "optional" });
  const width = rowWidth(data);
  const names = columnNames(data);
  const stats = names.map((name) => ({ name, count: 0, sum: 0, sumSquares: 0, min: Infinity, max: -Infinity }));
  const perColumn = names.length > 1;
  const row = new Float32Array(width);
  for (let r = 0; r < data.rows; r++) {
    readRowInto(data, r, row, 0);
    for (let c = 0; c < width; c++) {
      if (skip[c]?.has(r)) continue;
      const v = row[c];
      const s = stats[perColumn ? c : 0];
      s.count++;
      s.sum += v;
      s.sumSquares += v * v;
      if (v < s.min) s.min = v;
      if (v > s.max) s.max = v;
    }
  }
  return stats;
}

/** The column names statistics are kept for: features for tabular data, ["pixels"] for images. */
export function columnNames(data: Dataset): string[] {
  if (data.sampleShape.length > 1) return ["pixels"];
  const width = rowWidth(data);
  return data.features ?? Array.from({ length: width }, (_, i) => `x${i}`);
}

/** Combines every node's statistics into one normalization (population std; a zero spread scales by 1). */
export function combineStats(perNode: ColumnStats[][], method: Normalization["method"]): Normalization {
  if (perNode.length === 0) throw new InputError("Cannot combine statistics: no node sent any");
  const columns = perNode[0].map((s) => s.name);
  for (const [i, stats] of perNode.entries()) {
    const names = stats.map((s) => s.name);
    if (names.join("\u0000") !== columns.join("\u0000")) {
      throw new InputError(
        `Cannot combine statistics: node ${i + 1} has columns [${names.join(", ")}], node 1 has [${columns.join(", ")}]`,
      );
    }
  }
  const shift: number[] = [];
  const scale: number[] = [];
  columns.forEach((_, c) => {
    const all = perNode.map((stats) => stats[c]);
    const count = sum(all.map((s) => s.count));
    // A node that withheld a column (fewer than its min_count values) sends count 0 and min = max = 0.
    const counted = all.filter((s) => s.count > 0);
    const min = Math.min(...counted.map((s) => s.min));
    const max = Math.max(...counted.map((s) => s.max));
    if (method === "standard") {
      const mean = count > 0 ? sum(all.map((s) => s.sum)) / count : 0;
      const variance = count > 0 ? sum(all.map((s) => s.sumSquares)) / count - mean * mean : 0;
      // Rounding leaves a tiny positive variance for constant columns: treat it as zero.
      const spread = variance > 1e-12 * Math.max(1, mean * mean) ? Math.sqrt(variance) : 0;
      shift.push(mean);
      scale.push(spread > 0 ? spread : 1);
    } else if (method === "minmax") {
      const finite = count > 0 && Number.isFinite(min) && Number.isFinite(max);
      shift.push(finite ? min : 0);
      scale.push(finite && max > min ? max - min : 1);
    } else {
      shift.push(0);
      scale.push(1);
    }
  });
  return { method, columns, shift, scale };
}

/** Returns a copy of the dataset with x' = (x - shift) / scale; the input is not changed. */
export function applyNormalization(data: Dataset, norm: Normalization): Dataset {
  checkDataset(data, { labels: "optional" });
  const { shift, scale } = positionScaling(data, norm);
  const width = shift.length;
  const x = new Float32Array(data.rows * width);
  for (let r = 0; r < data.rows; r++) {
    readRowInto(data, r, x, r * width);
    for (let c = 0, i = r * width; c < width; c++, i++) x[i] = (x[i] - shift[c]) / scale[c];
  }
  return { ...data, x, xScale: undefined, readRow: undefined, close: undefined };
}

/**
 * Shift and scale for every value position of a row (one per feature; the same for all pixels), so
 * batches can be scaled as they are gathered instead of copying the whole dataset.
 */
export function positionScaling(data: Dataset, norm: Normalization): { shift: Float32Array; scale: Float32Array } {
  const width = rowWidth(data);
  const names = columnNames(data);
  if (norm.columns.length !== names.length || norm.columns.some((c, i) => c !== names[i])) {
    throw new InputError(
      `Cannot normalize the data: the normalization is for columns [${norm.columns.join(", ")}], ` +
        `the data has [${names.join(", ")}]`,
    );
  }
  if (norm.shift.length !== names.length || norm.scale.length !== names.length) {
    throw new InputError("Cannot normalize the data: the normalization needs one shift and one scale per column");
  }
  const perColumn = names.length > 1;
  const shift = new Float32Array(width);
  const scale = new Float32Array(width);
  for (let i = 0; i < width; i++) {
    shift[i] = norm.shift[perColumn ? i : 0];
    scale[i] = norm.scale[perColumn ? i : 0] || 1;
  }
  return { shift, scale };
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
