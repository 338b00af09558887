import { InputError } from "../../../common/errors.js";
import { csv } from "./csv.js";
import { idx } from "./idx.js";
import { images } from "./images.js";
import type { DatasetKind } from "./kind.js";
import { medicalFolder } from "./medical-folder.js";

/**
 * Every dataset kind a node can register and a researcher can read locally, in the order messages list
 * them. Adding one: a file in kinds/ exporting its DatasetKind, and one line here.
 */
export const datasetKinds = [csv, idx, images, medicalFolder] as const;

export type DatasetType = (typeof datasetKinds)[number]["type"];

export const datasetTypes = datasetKinds.map((k) => k.type) as [DatasetType, ...DatasetType[]];

/** The kind of a registered dataset or of a `--type` the CLI already checked. */
export function datasetKind(type: string): DatasetKind {
  const kind = datasetKinds.find((k) => k.type === type);
  if (!kind) throw new InputError(`Unknown dataset type "${type}" (types: ${datasetTypes.join(", ")})`);
  return kind;
}
