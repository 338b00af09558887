import { InputError } from "../../common/errors.js";
import { MISSING_MARKERS } from "../../ml/data/csv-columns.js";
import { scanCsvRecords } from "../../ml/data/csv-scan.js";
import { changed } from "../analytics/value-source.js";
import type { DatasetEntry } from "../catalogue/catalogue.js";

/** Some columns of a csv dataset, cell by cell (trimmed text; undefined for a missing cell). */
export interface TableRows {
  columns: string[];
  cells: (string | undefined)[][];
}

/**
 * Reads `columns` of a catalogued csv dataset (clinical tables are small: the columns asked for are
 * held while the query runs, then dropped). Refuses an image dataset, an unknown column and a file
 * that changed since it was registered.
 */
export async function readTableRows(entry: DatasetEntry, columns: string[]): Promise<TableRows> {
  if (entry.type !== "csv")
    throw new InputError(
      `Dataset "${entry.name}" is ${entry.type}, not a table: clinical statistics need a csv dataset`,
    );
  const all = entry.columns.map((c) => c.name);
  const indexes = columns.map((name) => {
    const index = all.indexOf(name);
    if (index < 0)
      throw new InputError(`Column "${name}" is not in dataset "${entry.name}"; columns: ${all.join(", ")}`);
    return index;
  });
  const cells: (string | undefined)[][] = [];
  const info = await scanCsvRecords(entry.path, "load", {
    header: (found) => {
      if (found.join("\u0000") !== all.join("\u0000")) throw changed(entry);
    },
    record: (record) => {
      cells.push(indexes.map((i) => (MISSING_MARKERS.has(record[i]) ? undefined : record[i])));
    },
  });
  if (info.sha256 !== entry.sha256) throw changed(entry);
  return { columns, cells };
}

/** A cell as a number, or an InputError naming the column and the value. */
export function numberCell(cell: string, column: string, where: string): number {
  const n = Number(cell);
  if (cell.trim() === "" || !Number.isFinite(n))
    throw new InputError(`Column "${column}" holds "${cell}" in ${where}: it must hold numbers`);
  return n;
}
