import { stat } from "node:fs/promises";
import { InputError } from "../../common/errors.js";

/** Why a reader runs, for its messages: `Cannot register dataset …` or `Cannot load dataset …`. */
export type ReadAction = "register" | "load";

/** The prefix of every reader error about `path`: `Cannot register dataset "x.csv"`. */
export function readerContext(action: ReadAction, path: string): string {
  return `Cannot ${action} dataset "${path}"`;
}

/** Throws `Cannot register dataset: file "x" does not exist` (or is not a file) before reading starts. */
export async function checkFile(path: string, action: ReadAction): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new InputError(`Cannot ${action} dataset: file "${path}" does not exist`);
  if (!info.isFile()) throw new InputError(`Cannot ${action} dataset: "${path}" is not a file`);
}

/** Throws `Cannot register dataset: folder "x" does not exist` (or is not a folder). */
export async function checkFolder(path: string, action: ReadAction): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new InputError(`Cannot ${action} dataset: folder "${path}" does not exist`);
  if (!info.isDirectory()) throw new InputError(`Cannot ${action} dataset: "${path}" is not a folder`);
}

/**
 * A cell's content as reader messages quote it: `value "abc"`. Always through here, so the node can take
 * cell contents out of a message bound for the researcher (CELL_VALUE, src/node/privacy/redact.ts): they are
 * patient data, fine on the operator's own terminal only.
 */
export function cellValue(cell: string): string {
  return `value ${JSON.stringify(cell)}`;
}

/** What `cellValue` writes, for the node's redactor. */
export const CELL_VALUE = /\bvalue "(?:[^"\\]|\\.)*"/g;
