import { stat } from "node:fs/promises";
import { relative } from "node:path";
import { InputError } from "../../common/errors.js";
import type { Plan } from "../plan.js";
import type { TablePreparation } from "../table-prep.js";
import type { Dataset } from "../types.js";
import { loadIdxImages } from "./idx.js";
import { openIdx } from "./idx-stream.js";
import { listImageFolder, loadImageFolder } from "./images.js";
import { loadMedicalSlices, type SliceSource } from "./medical-slices.js";
import { loadCsvForModel } from "./model-table.js";

/**
 * A researcher's local file for `evaluate`/`predict`, read with the loaders nodes train from (CSV, IDX,
 * image folder), shaped for an exported model: image folders resized to its input, CSV columns picked
 * as in training. Each row has an id for predictions: the image's path inside the folder, else its index.
 */

export const localDataTypes = ["csv", "idx", "images", "medical-folder"] as const;
export type LocalDataType = (typeof localDataTypes)[number];

export interface LocalDataOptions {
  /**
   * Default: a folder is a medical folder for a model trained on slices (`medical`), else images; a file
   * with `labels` or an IDX name or header is idx, else csv.
   */
  type?: LocalDataType;
  /** IDX labels file; without it an IDX file gives images only (predictions). */
  labels?: string;
  /** CSV target column (evaluate). */
  target?: string;
  /** CSV feature columns, in training order. */
  features?: string[];
  /** CSV: the model's table preparation (categories, imputation), applied as in training. */
  preparation?: TablePreparation;
  /** The model's plan.data: a medical folder is prepared by it (inputs, slices, resample, crop, intensity). */
  medical?: Plan["data"];
  /** The model's per-sample input shape: images are resized to it, anything else must match it. */
  sampleShape: number[];
}

export interface LocalData {
  data: Dataset;
  type: LocalDataType;
  /** Row ids; absent: the 0-based row index. */
  ids?: string[];
  /** medical-folder: each subject's grid and first input file, its slices in row order. */
  sources?: SliceSource[];
}

export async function loadLocalData(path: string, options: LocalDataOptions): Promise<LocalData> {
  const type = options.type ?? (await guessType(path, options.labels, options.medical));
  const local = await read(path, type, options);
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

async function read(path: string, type: LocalDataType, options: LocalDataOptions): Promise<LocalData> {
  switch (type) {
    case "csv":
      return { type, data: await loadCsvForModel(path, options, { target: options.target }) };
    case "idx":
      return { type, data: options.labels ? await openIdx(path, options.labels) : await loadIdxImages(path) };
    case "images": {
      const [height, width, channels] = options.sampleShape;
      if (options.sampleShape.length !== 3 || (channels !== 1 && channels !== 3))
        throw new InputError(`Cannot use image folder "${path}": the model does not take images`);
      const data = await loadImageFolder(path, { height, width, channels });
      const { files } = await listImageFolder(path, "load");
      return { type, data, ids: files.map((f) => relative(path, f.path).split("\\").join("/")) };
    }
    case "medical-folder": {
      const { inputs, slices, resample, crop, intensity, clip, classes } = options.medical ?? {};
      if (!inputs || !slices) {
        throw new InputError(`Cannot use medical folder "${path}": the model was not trained on medical image slices`);
      }
      const target = options.target;
      const data = await loadMedicalSlices(
        path,
        { inputs, slices, resample, crop, intensity, clip, classes, ...(target ? { target } : {}) },
        `Medical folder "${path}"`,
      );
      return { type, data, sources: data.sources };
    }
  }
}

const IDX_NAME = /(idx\d-ubyte|\.idx\d?)(\.gz)?$/i;

async function guessType(path: string, labels: string | undefined, medical?: Plan["data"]): Promise<LocalDataType> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new InputError(`Cannot read "${path}": no such file or folder`);
  if (info.isDirectory()) return medical?.slices ? "medical-folder" : "images";
  if (labels !== undefined || IDX_NAME.test(path)) return "idx";
  return "csv";
}
