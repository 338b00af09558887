import { stat } from "node:fs/promises";
import { InputError } from "../../common/errors.js";
import { fingerprintFile } from "../../ml/data/fingerprint.js";
import { idxFingerprint } from "../../ml/data/idx.js";
import { openIdx } from "../../ml/data/idx-stream.js";
import { imageFolderFingerprint, loadImageFolder } from "../../ml/data/images.js";
import { medicalFolderFingerprint } from "../../ml/data/medical-folder.js";
import { loadMedicalSlices } from "../../ml/data/medical-slices.js";
import { loadPreparedTable } from "../../ml/data/table.js";
import { declaresPreparation, type Plan } from "../../ml/plan.js";
import { planInput } from "../../ml/plan-input.js";
import { featureKinds, numericPreparation, type TablePreparation } from "../../ml/table-prep.js";
import type { Dataset } from "../../ml/types.js";
import { checkPreparation } from "../plans/preparation-check.js";
import type { DatasetEntry } from "./catalogue.js";

/**
 * Loads a catalogued dataset the way a plan wants it, after checking that its files are still the
 * ones registered (sha256). Keeps the last few loads, keyed by file size and mtime, so a run's rounds
 * read the files once.
 */
export interface DatasetLoader {
  /**
   * Only the plan's data section matters (target, features, image input size). A csv is read through
   * the resolved `preparation` the task carries, which must name exactly the plan's columns (else a
   * TaskRefusal, see preparation-check.ts); a plan that declares none reads numbers only.
   */
  load(entry: DatasetEntry, plan: Pick<Plan, "data">, preparation?: TablePreparation): Promise<Dataset>;
}

export function createDatasetLoader(options: { capacity?: number } = {}): DatasetLoader {
  const capacity = options.capacity ?? 2;
  const cache = new Map<string, Dataset>();
  return {
    async load(entry, plan, preparation) {
      // The preparation may read only what the approved plan declares: checked before anything is read.
      checkPreparation(plan, entry, preparation);
      const info = await stat(entry.path).catch(() => undefined);
      if (!info) {
        throw new InputError(
          `Dataset "${entry.name}" (${entry.id}): its file is gone (see \`fbm-node dataset show ${entry.id}\`); restore it, or re-register it with \`fbm-node dataset add\``,
        );
      }
      const key = JSON.stringify([entry.id, entry.sha256, info.size, info.mtimeMs, plan.data, preparation ?? null]);
      const hit = cache.get(key);
      if (hit) return hit;
      if ((await fingerprint(entry)) !== entry.sha256) {
        throw new InputError(
          `Dataset "${entry.name}" (${entry.id}) changed since it was registered: ` +
            `run \`fbm-node dataset rm ${entry.id}\` and \`fbm-node dataset add\` again to register the new version`,
        );
      }
      const data = await read(entry, plan, preparation);
      cache.set(key, data);
      while (cache.size > capacity) {
        const oldest = cache.keys().next().value!;
        cache.get(oldest)?.close?.();
        cache.delete(oldest);
      }
      return data;
    },
  };
}

/** The fingerprint as registration computed it (see src/node/catalogue/dataset-draft.ts). */
async function fingerprint(entry: DatasetEntry): Promise<string> {
  switch (entry.type) {
    case "csv":
      return fingerprintFile(entry.path);
    case "idx":
      return idxFingerprint(entry.path, entry.labelsPath);
    case "images":
      return imageFolderFingerprint(entry.path);
    case "medical-folder":
      return medicalFolderFingerprint(entry.path, entry.demographicsPath || undefined);
  }
}

async function read(entry: DatasetEntry, plan: Pick<Plan, "data">, preparation?: TablePreparation): Promise<Dataset> {
  switch (entry.type) {
    case "csv": {
      if (preparation === undefined && declaresPreparation(plan)) {
        throw new InputError(
          "The plan declares table preparation (plan.data.categorical / impute) but the task carries none resolved; " +
            "update the researcher",
        );
      }
      const features = planInput(plan as Plan, entry).features ?? [];
      // Checks the declaration against this node's own column types (free text, one-hot on numbers).
      featureKinds(plan, features, entry.columns, `dataset "${entry.name}"`);
      return loadPreparedTable(entry.path, preparation ?? numericPreparation(features), { target: plan.data.target });
    }
    case "idx": {
      const data = await openIdx(entry.path, entry.labelsPath);
      const input = plan.data.input;
      if (
        input &&
        (input.height !== data.sampleShape[0] || input.width !== data.sampleShape[1] || input.channels !== 1)
      ) {
        data.close?.();
        throw new InputError(
          `Dataset "${entry.name}" holds ${data.sampleShape[0]}×${data.sampleShape[1]} grayscale images but the plan's input is ` +
            `${input.height}×${input.width}×${input.channels}: set plan.data.input to {height: ${data.sampleShape[0]}, width: ${data.sampleShape[1]}, channels: 1}`,
        );
      }
      return data;
    }
    case "images":
      return loadImageFolder(entry.path, plan.data.input);
    case "medical-folder": {
      const { inputs, target, slices, resample, crop, intensity, clip, classes } = plan.data;
      if (!inputs || !target || !slices) {
        throw new InputError(
          `Dataset "${entry.name}" is a medical folder: the plan needs plan.data.inputs, target and slices, e.g. {inputs: [T1], target: label, slices: axial}`,
        );
      }
      // Errors name the dataset and the subject, never the folder's path (they may reach the researcher).
      return loadMedicalSlices(
        entry.path,
        {
          inputs,
          target,
          slices,
          resample,
          crop,
          intensity,
          clip,
          classes,
          ...(entry.demographicsPath
            ? { demographics: { path: entry.demographicsPath, indexCol: entry.indexCol ?? "" } }
            : {}),
        },
        `Dataset "${entry.name}"`,
      );
    }
  }
}
