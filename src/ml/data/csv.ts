import { InputError } from "../../common/errors.js";
import type { Dataset } from "../types.js";
import { type CsvInfo, scanCsv } from "./csv-scan.js";
import { type ReadAction, readerContext } from "./reader-errors.js";

export type { CsvDType, CsvInfo } from "./csv-scan.js";

/** Which columns to train on: `target` gives `y`; `features` default to every other column. */
export interface CsvColumnOptions {
  target?: string;
  features?: string[];
}

/** Checks and describes a numeric CSV (header, dtypes, row count, sha256) in one streaming pass. */
export function inspectCsv(path: string): Promise<CsvInfo> {
  return scanCsv(path, "register");
}

/**
 * Resolves target and feature names to column indexes (`target` is -1 when absent). Unknown names throw
 * `Cannot register dataset "x.csv": no column "diagnosis" (columns: a, b, c)`.
 */
export function selectCsvColumns(
  path: string,
  columns: string[],
  options: CsvColumnOptions,
  action: ReadAction = "register",
): { features: number[]; target: number } {
  const context = readerContext(action, path);
  const indexOf = (name: string, role: string) => {
    const index = columns.indexOf(name);
    if (index < 0) throw new InputError(`${context}: no ${role}column "${name}" (columns: ${columns.join(", ")})`);
    return index;
  };
  const target = options.target === undefined ? -1 : indexOf(options.target, "");
  const names = options.features ?? columns.filter((_, i) => i !== target);
  const features = names.map((name) => indexOf(name, "feature "));
  if (features.includes(target)) {
    throw new InputError(`${context}: column "${options.target}" cannot be both the target and a feature`);
  }
  if (features.length === 0)
    throw new InputError(`${context}: no feature columns left besides the target "${options.target}"`);
  return { features, target };
}

/**
 * Reads a numeric CSV into a Dataset: `x` row-major float32 (`rows × features`), `y` the target column
 * (empty when no target is given). Streams the file; memory is the float32 result plus slack.
 */
export async function loadCsv(path: string, options: CsvColumnOptions = {}): Promise<Dataset> {
  let selected: { features: number[]; target: number } = { features: [], target: -1 };
  let names: string[] = [];
  const x = new GrowableFloat32();
  const y = new GrowableFloat32();
  await scanCsv(path, "load", {
    header: (columns) => {
      selected = selectCsvColumns(path, columns, options, "load");
      names = selected.features.map((i) => columns[i]);
    },
    row: (values) => {
      for (const i of selected.features) x.push(values[i]);
      if (selected.target >= 0) y.push(values[selected.target]);
    },
  });
  const rows = x.length / names.length;
  return { x: x.toArray(), sampleShape: [names.length], y: y.toArray(), rows, features: names };
}

/** A Float32Array that doubles its capacity as values arrive. */
export class GrowableFloat32 {
  private data = new Float32Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }

  toArray(): Float32Array {
    return this.data.slice(0, this.length);
  }
}
