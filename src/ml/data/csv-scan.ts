import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { type Options, parse } from "csv-parse";
import { errorMessage, InputError } from "../../common/errors.js";
import { cellValue, checkFile, type ReadAction, readerContext } from "./reader-errors.js";

/** Column types of a numeric CSV: `int64` when every cell is written as an integer, else `float64`. */
export type CsvDType = "int64" | "float64";

/** What one streaming pass over a CSV learns. */
export interface CsvInfo {
  columns: string[];
  dtypes: CsvDType[];
  /** Data rows (the header is not counted). */
  rows: number;
  /** sha256 of the file's bytes. */
  sha256: string;
  /** The field delimiter found on the header line: `,`, `;` or a tab. */
  delimiter: string;
}

export interface CsvScanHandlers {
  /** Called once with the header; may throw (an InputError) to stop the scan. */
  header?: (columns: string[]) => void;
  /** Called for each data row; `values` is reused between calls, copy what you keep. */
  row?: (values: Float64Array) => void;
}

export const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A bad record, found by its index; its line number is looked up only then (see lineOfRecord). */
export class RecordProblem {
  constructor(
    readonly record: number,
    readonly describe: (line: number) => string,
  ) {}
}

/** Largest finite float32. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** What one pass over the raw records of a CSV learns, whatever its cells hold. */
export interface CsvRecordInfo {
  columns: string[];
  rows: number;
  sha256: string;
  delimiter: string;
}

export interface CsvRecordHandlers {
  /** Called once with the header; may throw (an InputError) to stop the scan. */
  header?: (columns: string[]) => void;
  /**
   * Called for each data row with its trimmed cells (as many as the header has) and its record number
   * (1-based, header included); may throw a RecordProblem, reported with the record's line number.
   */
  record?: (cells: string[], record: number) => void;
  /** Called after the last row; may throw a RecordProblem about an earlier record. */
  end?: () => void;
}

/**
 * Streams a CSV with a header row once, checking its shape (header names, fields per row) and hashing
 * the bytes on the way; the cells are the handlers' to read.
 */
export async function scanCsvRecords(
  path: string,
  action: ReadAction,
  handlers: CsvRecordHandlers,
): Promise<CsvRecordInfo> {
  await checkFile(path, action);
  const context = readerContext(action, path);
  const options: Options = {
    bom: true,
    delimiter: await sniffDelimiter(path),
    relax_column_count: true,
    skip_empty_lines: true,
    trim: true,
  };
  const hash = createHash("sha256");
  let columns: string[] | undefined;
  let records = 0;

  const onRecord = (record: string[]) => {
    records++;
    if (columns === undefined) {
      columns = checkHeader(record, context);
      handlers.header?.(columns);
      return;
    }
    const width = columns.length;
    if (record.length !== width) {
      const n = record.length;
      throw new RecordProblem(
        records,
        (line) => `line ${line} has ${n} field${n === 1 ? "" : "s"}, the header has ${width}`,
      );
    }
    handlers.record?.(record, records);
  };

  try {
    await streamRecords(path, options, onRecord, (chunk) => hash.update(chunk));
    if (columns !== undefined && records > 1) handlers.end?.();
  } catch (error) {
    if (error instanceof InputError) throw error;
    if (error instanceof RecordProblem) {
      throw new InputError(`${context}: ${error.describe(await lineOfRecord(path, options, error.record))}`);
    }
    throw new InputError(`${context}: ${parserMessage(errorMessage(error))}`, { cause: error });
  }
  if (columns === undefined)
    throw new InputError(`${context}: the file is empty; a header row naming the columns is required`);
  if (records === 1) throw new InputError(`${context}: the file has a header but no data rows`);
  return { columns, rows: records - 1, sha256: hash.digest("hex"), delimiter: options.delimiter as string };
}

/**
 * csv-parse's message on one line, the cell text it quotes (`value is "MRN-77 "`, `got "y"`) written
 * by cellValue, so that the node's redactor can take it out of what reaches the researcher.
 */
function parserMessage(message: string): string {
  return message
    .replace(/\s+/g, " ")
    .replace(/value is "(.*)"$/, (_m, cell: string) => cellValue(cell))
    .replace(/got "(.)"/, (_m, char: string) => `got ${cellValue(char)}`);
}

/** A number as a CSV cell writes it (no hexadecimal, no "Infinity"), or undefined. */
export function parseDecimal(cell: string): number | undefined {
  return DECIMAL.test(cell) ? Number(cell) : undefined;
}

/** The problem of a number beyond float32, in which training runs (it would surface later as NaN). */
export function beyondFloat32(name: string, cell: string, record: number): RecordProblem {
  return new RecordProblem(
    record,
    (line) =>
      `column "${name}" has the ${cellValue(cell)} on line ${line}, beyond a 32-bit float (±3.4e38); fix: rescale the column`,
  );
}

/**
 * Streams a numeric CSV with a header row once, checking every cell, and hashes the bytes on the way.
 * Errors are one-line InputErrors like `Cannot register dataset "x.csv": column "age" has a
 * non-numeric value "abc" on line 17`.
 */
export async function scanCsv(path: string, action: ReadAction, handlers: CsvScanHandlers = {}): Promise<CsvInfo> {
  let columns: string[] = [];
  let dtypes: CsvDType[] = [];
  let values = new Float64Array(0);
  const info = await scanCsvRecords(path, action, {
    header: (found) => {
      columns = found;
      dtypes = columns.map(() => "int64");
      values = new Float64Array(columns.length);
      handlers.header?.(columns);
    },
    record: (record, index) => {
      for (let c = 0; c < columns.length; c++) {
        const cell = record[c];
        if (dtypes[c] === "int64" && INTEGER.test(cell)) {
          values[c] = Number(cell);
        } else if (DECIMAL.test(cell)) {
          dtypes[c] = "float64";
          values[c] = Number(cell);
        } else {
          const what = cell === "" ? "an empty value" : `a non-numeric ${cellValue(cell)}`;
          const name = columns[c];
          throw new RecordProblem(index, (line) => `column "${name}" has ${what} on line ${line}`);
        }
        if (!(Math.abs(values[c]) <= FLOAT32_MAX)) throw beyondFloat32(columns[c], cell, index);
      }
      handlers.row?.(values);
    },
  });
  return { ...info, dtypes };
}

/** Feeds each parsed record to `onRecord` (data events: far cheaper than async iteration per record). */
function streamRecords(
  path: string,
  options: Options,
  onRecord: (record: string[]) => void,
  onBytes: (chunk: Buffer) => void = () => {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const input = createReadStream(path);
    const parser = parse(options);
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      input.destroy();
      parser.destroy();
      reject(error);
    };
    input.on("data", (chunk) => onBytes(chunk as Buffer));
    input.once("error", fail);
    parser.once("error", fail);
    parser.on("data", (record: string[]) => {
      if (settled) return;
      try {
        onRecord(record);
      } catch (error) {
        fail(error);
      }
    });
    parser.once("end", () => {
      settled = true;
      resolve();
    });
    input.pipe(parser);
  });
}

/** The line on which record number `target` (1-based, header included) ends; a second pass, only for errors. */
async function lineOfRecord(path: string, options: Options, target: number): Promise<number> {
  let line = 0;
  let count = 0;
  const found = new Error("found");
  await streamRecords(path, { ...options, info: true }, (item) => {
    const { info } = item as unknown as { info: { lines: number } };
    if (++count === target) {
      line = info.lines;
      throw found;
    }
  }).catch((error: unknown) => {
    if (error !== found) throw error;
  });
  return line;
}

function checkHeader(record: string[], context: string): string[] {
  const seen = new Set<string>();
  record.forEach((name, i) => {
    if (name === "") throw new InputError(`${context}: column ${i + 1} has an empty name in the header (line 1)`);
    if (seen.has(name)) throw new InputError(`${context}: column "${name}" appears twice in the header (line 1)`);
    seen.add(name);
  });
  return record;
}

/** Picks `,`, `;` or tab, whichever occurs most on the first line; `,` when none does. */
async function sniffDelimiter(path: string): Promise<string> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const firstLine = buffer.subarray(0, bytesRead).toString("utf8").split(/\r?\n/, 1)[0] ?? "";
    const counts = [",", ";", "\t"].map((d) => [d, firstLine.split(d).length - 1] as const);
    const best = counts.reduce((a, b) => (b[1] > a[1] ? b : a));
    return best[1] > 0 ? best[0] : ",";
  } finally {
    await handle.close();
  }
}
