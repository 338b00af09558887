import { resolve } from "node:path";
import { InputError } from "../../common/errors.js";
import { datasetKind, datasetTypes } from "../../ml/data/kinds/registry.js";
import type { DatasetDraft, DatasetType } from "./catalogue.js";

export { datasetTypes };

/** What `dataset add` was given, before any file is read. */
export interface DatasetRequest {
  type: DatasetType;
  path: string;
  tags: string[];
  name?: string;
  description?: string;
  /** csv: the target column (checked against the header). */
  target?: string;
  /** idx: the labels file. */
  labels?: string;
  /** medical-folder: a CSV of one row per subject, and its column of subject folder names. */
  demographics?: string;
  indexCol?: string;
}

/** Splits `--tags a,b` into trimmed, distinct, non-empty tags; at least one is required. */
export function parseTags(text: string): string[] {
  const tags = [
    ...new Set(
      text
        .split(",")
        .map((tag) => tag.trim())
        .filter((tag) => tag !== ""),
    ),
  ];
  if (tags.length === 0) throw new InputError("--tags needs at least one tag, e.g. --tags breast-cancer,hospital-a");
  return tags;
}

/**
 * Reads and checks the files of a dataset (every cell of a CSV, every image) and returns the catalogue
 * draft: shape, columns, sample count, classes and fingerprint (each kind's `describe`, see
 * src/ml/data/kinds/). Bad files throw InputErrors naming them.
 */
export async function describeDataset(request: DatasetRequest): Promise<DatasetDraft> {
  const path = resolve(request.path);
  if (request.target !== undefined && request.type !== "csv") {
    throw new InputError(
      `--target applies to csv datasets only; ${request.type} datasets take labels from their files`,
    );
  }
  if (request.labels !== undefined && request.type !== "idx") {
    throw new InputError("--labels applies to idx datasets only");
  }
  if ((request.demographics !== undefined || request.indexCol !== undefined) && request.type !== "medical-folder") {
    throw new InputError("--demographics and --index-col apply to medical-folder datasets only");
  }
  const common = {
    name: request.name,
    tags: request.tags,
    description: request.description ?? "",
    path,
  };
  const kind = datasetKind(String(request.type));
  return { ...common, ...(await kind.describe(request)) } as DatasetDraft;
}
