import { InputError } from "../../common/errors.js";
import { scanCsv } from "../../ml/data/csv-scan.js";
import { readRowInto, rowWidth } from "../../ml/rows.js";
import type { DatasetEntry } from "../catalogue.js";
import type { DatasetLoader } from "../dataset-loader.js";

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
  const columns = entry.columns.map((c) => c.name);
  const target = entry.columns.find((c) => c.name === entry.target);
  return {
    columns,
    // An integer target is a classification target; a float one is a regression target (no classes).
    classColumn: target?.dtype === "int64" ? target.name : undefined,
    async scan(selected, visit, onClass) {
      const indexes = selected;
      const classAt = target === undefined || onClass === undefined ? -1 : columns.indexOf(target.name);
      // The CSV is read as float64 text values (training reads float32): statistics keep every digit.
      const info = await scanCsv(entry.path, "load", {
        header: (found) => {
          if (found.join("\u0000") !== columns.join("\u0000")) throw changed(entry);
        },
        row: (values) => {
          for (let c = 0; c < indexes.length; c++) visit(c, values[indexes[c]]);
          if (classAt >= 0) onClass!(String(values[classAt]));
        },
      });
      if (info.sha256 !== entry.sha256) throw changed(entry);
    },
  };
}

function changed(entry: DatasetEntry): InputError {
  return new InputError(
    `Dataset "${entry.name}" (${entry.id}) changed since it was registered: ` +
      `run \`fbm-node dataset rm ${entry.id}\` and \`fbm-node dataset add\` again to register the new version`,
  );
}
