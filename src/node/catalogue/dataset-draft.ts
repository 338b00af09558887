import { resolve } from "node:path";
import { InputError } from "../../common/errors.js";
import { inspectTable } from "../../ml/data/csv-columns.js";
import { inspectIdx } from "../../ml/data/idx.js";
import { inspectImageFolder } from "../../ml/data/images.js";
import { inspectMedicalFolder } from "../../ml/data/medical-folder.js";
import { readerContext } from "../../ml/data/reader-errors.js";
import type { DatasetDraft, DatasetType } from "./catalogue.js";

export const datasetTypes: readonly DatasetType[] = ["csv", "idx", "images", "medical-folder"];

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
 * draft: shape, columns, sample count, classes and fingerprint. Bad files throw InputErrors naming them.
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
  switch (request.type) {
    case "csv": {
      const info = await inspectTable(request.path, { target: request.target });
      if (request.target !== undefined && info.columns.length === 1) {
        throw new InputError(
          `${readerContext("register", request.path)}: its only column is the target "${request.target}"; a plan needs at least one feature column`,
        );
      }
      return {
        ...common,
        type: "csv",
        shape: [info.rows, info.columns.length],
        columns: info.columns,
        target: request.target ?? "",
        // Rows without a target cannot train: counted (missingTarget) and left out.
        sampleCount: info.rows - info.missingTarget,
        missingTarget: info.missingTarget,
        sha256: info.sha256,
      };
    }
    case "idx": {
      if (request.labels === undefined) {
        throw new InputError(
          "--labels is required for idx datasets (the labels file, e.g. train-labels-idx1-ubyte.gz)",
        );
      }
      const info = await inspectIdx(request.path, request.labels);
      return {
        ...common,
        type: "idx",
        shape: [info.count, info.height, info.width, 1],
        classes: info.classes,
        sampleCount: info.count,
        sha256: info.sha256,
        labelsPath: resolve(request.labels),
      };
    }
    case "images": {
      const info = await inspectImageFolder(request.path);
      return {
        ...common,
        type: "images",
        shape: [info.count, info.height, info.width, info.channels],
        classes: info.classes,
        sampleCount: info.count,
        sha256: info.sha256,
      };
    }
    case "medical-folder": {
      const demographics = request.demographics === undefined ? undefined : resolve(request.demographics);
      const info = await inspectMedicalFolder(path, { demographics, indexCol: request.indexCol });
      const clash = info.columns.find((c) => info.modalities.some((m) => m.name === c.name));
      if (clash) {
        throw new InputError(
          `Cannot register dataset "${path}": demographics column "${clash.name}" has the name of a modality; rename the column`,
        );
      }
      // The largest extent on each axis over every volume: the researcher bounds slice counts by it.
      const extent = [0, 1, 2].map((axis) => Math.max(...info.modalities.flatMap((m) => m.shapes.map((s) => s[axis]))));
      return {
        ...common,
        type: "medical-folder",
        shape: [info.subjects, ...extent],
        columns: info.columns,
        sampleCount: info.subjects,
        missingTarget: info.withoutDemographics,
        modalities: info.modalities,
        demographicsPath: demographics ?? "",
        indexCol: request.indexCol ?? "",
        sha256: info.sha256,
      };
    }
    default:
      throw new InputError(`Unknown dataset type "${String(request.type)}" (types: ${datasetTypes.join(", ")})`);
  }
}
