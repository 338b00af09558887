import { stat } from "node:fs/promises";
import { InputError } from "../../common/errors.js";
import type { LocalData, LocalDataOptions, LocalProbe } from "./kinds/kind.js";
import { type DatasetType, datasetKind, datasetKinds, datasetTypes } from "./kinds/registry.js";

/**
 * A researcher's local file for `evaluate`/`predict`, read with the loaders nodes train from (each
 * dataset kind's `loadLocal`, see kinds/), shaped for an exported model: image folders resized to its
 * input, CSV columns picked as in training. Each row has an id for predictions: the image's path inside
 * the folder, else its index.
 */

export type { LocalData, LocalDataOptions } from "./kinds/kind.js";
export const localDataTypes = datasetTypes;
export type LocalDataType = DatasetType;

export async function loadLocalData(path: string, options: LocalDataOptions): Promise<LocalData> {
  const type = options.type ?? (await guessType(path, options.labels, options.medical));
  const local = await datasetKind(type).loadLocal(path, options);
  const want = options.sampleShape;
  const got = local.data.sampleShape;
  if (got.length !== want.length || got.some((n, i) => n !== want[i])) {
    local.data.close?.();
    throw new InputError(
      `Cannot use "${path}" with this model: its samples are [${got.join("×")}], the model takes [${want.join("×")}]`,
    );
  }
  return local;
}

/** The first kind claiming the path; a file no kind claims is read as CSV. */
async function guessType(path: string, labels: string | undefined, medical?: LocalProbe["medical"]): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new InputError(`Cannot read "${path}": no such file or folder`);
  const probe: LocalProbe = { path, isDirectory: info.isDirectory(), labels, medical };
  return datasetKinds.find((kind) => kind.claims?.(probe))?.type ?? "csv";
}
