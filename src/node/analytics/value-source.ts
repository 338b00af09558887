import { InputError } from "../../common/errors.js";
import { MISSING_MARKERS } from "../../ml/data/csv-columns.js";
import { parseDecimal, scanCsvRecords } from "../../ml/data/csv-scan.js";
import { readRowInto, rowWidth } from "../../ml/rows.js";
import type { DatasetEntry } from "../catalogue/catalogue.js";
import type { DatasetLoader } from "../catalogue/dataset-loader.js";

/** The column image datasets offer: every pixel's intensity, 0–255. */
export const PIXELS = "pixels";

/** A catalogued dataset as columns of numbers, read from its files on each scan (nothing is kept). */
export interface ValueSource {
  /** Columns statistics can be asked for, in file order. */
  columns: string[];
  /** The column whose summary carries class counts: a csv classification target, or "pixels" (images per label). */
  classColumn?: string;
  /** Calls `visit(k, value)` for every value of the k-th `selected` column (indexes into `columns`), and `onClass` with each row's class. */
  scan(
    selected: number[],
    visit: (column: number, value: number) => void,
    onClass?: (name: string) => void,
  ): Promise<void>;
}

/** The value source of a catalogued dataset; refuses a file that changed since it was registered. */
export function valueSource(entry: DatasetEntry, loader: DatasetLoader): ValueSource {
  if (entry.type !== "csv") {
    return {
      columns: [PIXELS],
      classColumn: PIXELS,
      async scan(selected, visit, onClass) {
        const data = await loader.load(entry, { data: { normalize: "none" } });
        const width = rowWidth(data);
        const row = new Float32Array(width);
        for (let r = 0; r < data.rows; r++) {
          if (selected.length > 0) {
            readRowInto(data, r, row, 0);
            // Loaders scale pixels to [0, 1] in float32: back to 0–255, without float32's last digits.
            for (let i = 0; i < width; i++) visit(0, Math.round(row[i] * 255_000) / 1000);
          }
          onClass?.(data.classes?.[data.y[r]] ?? String(data.y[r]));
        }
      },
    };
  }
  const all = entry.columns.map((c) => c.name);
  // Text columns have no numeric statistics; blank cells are missing values (NaN).
  const numeric = entry.columns.flatMap((c, i) => (c.dtype === "string" ? [] : [i]));
  const columns = numeric.map((i) => all[i]);
  const target = entry.columns.find((c) => c.name === entry.target);
  return {
    columns,
    // An integer target is a classification target; a float one is a regression target (no classes).
    classColumn: target?.dtype === "int64" ? target.name : undefined,
    async scan(selected, visit, onClass) {
      const indexes = selected.map((k) => numeric[k]);
      const classAt = target === undefined || onClass === undefined ? -1 : all.indexOf(target.name);
      // The CSV is read as float64 text values (training reads float32): statistics keep every digit.
      const info = await scanCsvRecords(entry.path, "load", {
        header: (found) => {
          if (found.join("\u0000") !== all.join("\u0000")) throw changed(entry);
        },
        record: (cells) => {
          for (let c = 0; c < indexes.length; c++) visit(c, parseDecimal(cells[indexes[c]]) ?? Number.NaN);
          if (classAt >= 0 && !MISSING_MARKERS.has(cells[classAt])) onClass!(String(Number(cells[classAt])));
        },
      });
      if (info.sha256 !== entry.sha256) throw changed(entry);
    },
  };
}

/** The error for a dataset file that changed since it was registered. */
export function changed(entry: DatasetEntry): InputError {
  return new InputError(
    `Dataset "${entry.name}" (${entry.id}) changed since it was registered: ` +
      `run \`fbm-node dataset rm ${entry.id}\` and \`fbm-node dataset add\` again to register the new version`,
  );
}
