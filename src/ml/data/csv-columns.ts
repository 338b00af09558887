import { InputError } from "../../common/errors.js";
import { beyondFloat32, FLOAT32_MAX, INTEGER, parseDecimal, RecordProblem, scanCsvRecords } from "./csv-scan.js";
import { cellValue, readerContext } from "./reader-errors.js";

/**
 * Column typing of a hospital table at registration: each column is numeric, binary (only 0 and 1),
 * categorical (text) or free text (too many distinct values to be categories), with its missing cells
 * counted and, for categorical columns, each category's count. Counts stay in the node's catalogue.
 */

/** How a column is used: numbers, 0/1 flags, categories (text), or free text (ids, notes: never a feature). */
export type ColumnKind = "numeric" | "binary" | "categorical" | "text";

/** One typed column as the catalogue records it (`dtype` is what may leave the node, see toDatasetInfo). */
export interface TableColumn {
  name: string;
  /** int64 / float64 for numbers, string for text. */
  dtype: "int64" | "float64" | "string";
  kind: ColumnKind;
  /** Cells that are empty or a missing marker (see MISSING_MARKERS). */
  missing: number;
  /** Categorical columns: every category and its row count, most frequent first. Never sent. */
  categories?: { name: string; count: number }[];
}

export interface TableInfo {
  columns: TableColumn[];
  /** Data rows in the file. */
  rows: number;
  /** Rows whose target cell is missing: skipped for training (0 without a target). */
  missingTarget: number;
  sha256: string;
}

/** Cells read as "no value": empty, or one of the markers spreadsheet and R/pandas exports write. */
export const MISSING_MARKERS: ReadonlySet<string> = new Set(["", "NA", "N/A", "NaN", "nan", "null", "NULL"]);

/** More distinct text values than this: free text (ids, notes), not categories. */
export const MAX_CATEGORIES = 1000;

interface Tally {
  numbers: number;
  texts: number;
  integers: boolean;
  binary: boolean;
  missing: number;
  firstText?: { record: number; cell: string };
  values: Map<string, number>;
}

/**
 * Reads a CSV once and types its columns. A column holding both numbers and text, with at least as
 * many numbers, is refused at its first text cell (most likely a typo in a numeric column); with
 * more text it is categorical and its numbers are category names. A text target is refused.
 */
export async function inspectTable(path: string, options: { target?: string } = {}): Promise<TableInfo> {
  const context = readerContext("register", path);
  let names: string[] = [];
  let tallies: Tally[] = [];
  let target = -1;
  let missingTarget = 0;
  const info = await scanCsvRecords(path, "register", {
    header: (columns) => {
      names = columns;
      tallies = columns.map(() => ({
        numbers: 0,
        texts: 0,
        integers: true,
        binary: true,
        missing: 0,
        values: new Map(),
      }));
      if (options.target !== undefined) {
        target = columns.indexOf(options.target);
        if (target < 0)
          throw new InputError(`${context}: no column "${options.target}" (columns: ${columns.join(", ")})`);
      }
    },
    record: (cells, record) => {
      for (let c = 0; c < cells.length; c++) {
        const cell = cells[c];
        const t = tallies[c];
        if (MISSING_MARKERS.has(cell)) {
          t.missing++;
          if (c === target) missingTarget++;
          continue;
        }
        const value = parseDecimal(cell);
        if (value === undefined) {
          t.texts++;
          t.firstText ??= { record, cell };
        } else {
          if (!(Math.abs(value) <= FLOAT32_MAX)) throw beyondFloat32(names[c], cell, record);
          t.numbers++;
          if (t.integers && !INTEGER.test(cell)) t.integers = false;
          if (value !== 0 && value !== 1) t.binary = false;
        }
        if (t.values.size <= MAX_CATEGORIES || t.values.has(cell)) t.values.set(cell, (t.values.get(cell) ?? 0) + 1);
      }
    },
    end: () => {
      tallies.forEach((t, c) => {
        const first = t.firstText;
        if (first && t.numbers >= t.texts) {
          throw new RecordProblem(
            first.record,
            (line) =>
              `column "${names[c]}" has a non-numeric ${cellValue(first.cell)} on line ${line} among numbers; ` +
              "fix it, or leave the cell empty if the value is missing",
          );
        }
        if (c === target && first) {
          throw new RecordProblem(
            first.record,
            (line) =>
              `the target column "${names[c]}" has the text ${cellValue(first.cell)} on line ${line}; ` +
              "a target must be numeric (0/1, a class number, or a value)",
          );
        }
      });
    },
  });
  const columns = tallies.map((t, c) => typedColumn(names[c], t));
  return { columns, rows: info.rows, missingTarget, sha256: info.sha256 };
}

function typedColumn(name: string, t: Tally): TableColumn {
  if (t.texts === 0) {
    const dtype = t.integers && t.numbers > 0 ? "int64" : "float64";
    return { name, dtype, kind: t.binary && t.numbers > 0 ? "binary" : "numeric", missing: t.missing };
  }
  if (t.values.size > MAX_CATEGORIES) return { name, dtype: "string", kind: "text", missing: t.missing };
  const categories = [...t.values]
    .map(([category, count]) => ({ name: category, count }))
    .sort((a, b) => b.count - a.count || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { name, dtype: "string", kind: "categorical", missing: t.missing, categories };
}
