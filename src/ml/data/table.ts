import { InputError } from "../../common/errors.js";
import { type PreparedColumn, preparedFeatures, type TablePreparation } from "../table-prep.js";
import type { ColumnStats, Dataset } from "../types.js";
import { GrowableFloat32 } from "./csv.js";
import { MISSING_MARKERS } from "./csv-columns.js";
import { FLOAT32_MAX, parseDecimal, RecordProblem, scanCsvRecords } from "./csv-scan.js";
import { cellValue, type ReadAction, readerContext } from "./reader-errors.js";

/**
 * Tables read through a preparation (see table-prep.ts): profiling the raw feature columns for the
 * researcher, and loading rows as prepared float32 inputs. Rows whose target is missing are skipped.
 */

/** Column indexes of the target (-1: none) and of `names`, or an InputError naming the missing one. */
function indexes(columns: string[], names: string[], target: string | undefined, context: string) {
  const find = (name: string) => {
    const i = columns.indexOf(name);
    if (i < 0) throw new InputError(`${context}: no column "${name}" (columns: ${columns.join(", ")})`);
    return i;
  };
  return { target: target === undefined ? -1 : find(target), features: names.map(find) };
}

function numberOf(cell: string, name: string, record: number): number {
  const value = parseDecimal(cell);
  if (value === undefined)
    throw new RecordProblem(record, (line) => `column "${name}" has a non-numeric ${cellValue(cell)} on line ${line}`);
  if (!(Math.abs(value) <= FLOAT32_MAX))
    throw new RecordProblem(
      record,
      (line) => `column "${name}" has the ${cellValue(cell)} on line ${line}, beyond a 32-bit float`,
    );
  return value;
}

/**
 * Per feature column, over rows with a target: numbers' count/sum/sum of squares/min/max and missing
 * cells; for categorical columns, the categories held by at least `minCount` rows (a rarer category's
 * name never leaves this function: its rows only count in `count`), and the file's sha256.
 */
export async function profileTable(
  path: string,
  options: { target?: string; features: { name: string; categorical: boolean }[]; minCount: number },
): Promise<{ columns: ColumnStats[]; sha256: string }> {
  const context = readerContext("load", path);
  let at = { target: -1, features: [] as number[] };
  const stats = options.features.map((f) => ({
    name: f.name,
    count: 0,
    sum: 0,
    sumSquares: 0,
    min: Infinity,
    max: -Infinity,
    missing: 0,
  }));
  const counts = options.features.map(() => new Map<string, number>());
  const info = await scanCsvRecords(path, "load", {
    header: (columns) => {
      at = indexes(
        columns,
        options.features.map((f) => f.name),
        options.target,
        context,
      );
    },
    record: (cells, record) => {
      if (at.target >= 0 && MISSING_MARKERS.has(cells[at.target])) return;
      at.features.forEach((index, k) => {
        const cell = cells[index];
        const s = stats[k];
        if (MISSING_MARKERS.has(cell)) {
          s.missing++;
          return;
        }
        s.count++;
        if (options.features[k].categorical) {
          counts[k].set(cell, (counts[k].get(cell) ?? 0) + 1);
          return;
        }
        const v = numberOf(cell, s.name, record);
        s.sum += v;
        s.sumSquares += v * v;
        if (v < s.min) s.min = v;
        if (v > s.max) s.max = v;
      });
    },
  });
  const columns = stats.map((s, k) => {
    if (!options.features[k].categorical) return s;
    const categories = [...counts[k]]
      .filter(([, n]) => n >= options.minCount)
      .map(([name, count]) => ({ name, count }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { ...s, min: 0, max: 0, categories };
  });
  return { columns, sha256: info.sha256 };
}

/** Appends one prepared column's inputs for `cell` to `out`. */
function encoder(column: PreparedColumn): (cell: string, record: number, out: GrowableFloat32) => void {
  if (column.kind === "numeric") {
    return (cell, record, out) => {
      if (MISSING_MARKERS.has(cell)) {
        if (column.fill === undefined)
          throw new RecordProblem(
            record,
            (line) =>
              `column "${column.name}" has an empty value on line ${line}; declare plan.data.impute to fill missing values`,
          );
        out.push(column.fill);
      } else out.push(numberOf(cell, column.name, record));
    };
  }
  const slot = new Map(column.categories.map((k, i) => [k, i]));
  const other = column.categories.length;
  const width = other + 1 + (column.missingInput ? 1 : 0);
  return (cell, _record, out) => {
    let hot: number;
    if (MISSING_MARKERS.has(cell)) {
      if (column.missingInput) hot = other + 1;
      else hot = column.fill === undefined ? other : (slot.get(column.fill) ?? other);
    } else hot = slot.get(cell) ?? other;
    for (let i = 0; i < width; i++) out.push(i === hot ? 1 : 0);
  };
}

/**
 * Reads a CSV into a Dataset through a preparation: `x` the prepared inputs (numbers, imputed values,
 * one-hot categories; an unseen category counts as "other"), `y` the target (absent: empty). Rows
 * with a missing target are skipped and counted in `skipped`; `categoryRows` tallies each one-hot
 * column's categories (for the node's own-category rule, src/node/catalogue/own-categories.ts), `imputedRows`
 * the rows each fill was written to.
 */
export async function loadPreparedTable(
  path: string,
  preparation: TablePreparation,
  options: { target?: string; action?: ReadAction } = {},
): Promise<Dataset & { skipped: number }> {
  const action = options.action ?? "load";
  const context = readerContext(action, path);
  const encoders = preparation.columns.map(encoder);
  let at = { target: -1, features: [] as number[] };
  const x = new GrowableFloat32();
  const y = new GrowableFloat32();
  let rows = 0;
  let skipped = 0;
  const categoryRows: Record<string, Record<string, number>> = {};
  const imputedRows: Record<string, number[]> = {};
  const filled = preparation.columns.map((c) => {
    if (c.fill === undefined) return undefined;
    const list: number[] = [];
    imputedRows[c.name] = list;
    return list;
  });
  const tallies = preparation.columns.map((c) => {
    if (c.kind !== "onehot") return undefined;
    const tally: Record<string, number> = {};
    categoryRows[c.name] = tally;
    return tally;
  });
  await scanCsvRecords(path, action, {
    header: (columns) => {
      at = indexes(
        columns,
        preparation.columns.map((c) => c.name),
        options.target,
        context,
      );
    },
    record: (cells, record) => {
      if (at.target >= 0) {
        const cell = cells[at.target];
        if (MISSING_MARKERS.has(cell)) {
          skipped++;
          return;
        }
        y.push(numberOf(cell, options.target!, record));
      }
      at.features.forEach((index, k) => {
        const cell = cells[index];
        encoders[k](cell, record, x);
        const tally = tallies[k];
        if (!MISSING_MARKERS.has(cell)) {
          if (tally) tally[cell] = (tally[cell] ?? 0) + 1;
        } else filled[k]?.push(rows);
      });
      rows++;
    },
  });
  const features = preparedFeatures(preparation);
  if (rows === 0) throw new InputError(`${context}: no row has a value in the target column "${options.target}"`);
  return {
    x: x.toArray(),
    y: y.toArray(),
    sampleShape: [features.length],
    rows,
    features,
    skipped,
    categoryRows,
    imputedRows,
  };
}
