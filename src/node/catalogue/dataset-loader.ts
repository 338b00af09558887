import { stat } from "node:fs/promises";
import { InputError } from "../../common/errors.js";
import { datasetKind } from "../../ml/data/kinds/registry.js";
import type { Plan } from "../../ml/plan.js";
import type { TablePreparation } from "../../ml/table-prep.js";
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
      await checkUnchanged(entry);
      const data = await datasetKind(entry.type).load(entry, plan, preparation);
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

/** Refuses a dataset whose files are not the ones registered (each kind's fingerprint, see src/ml/data/kinds/). */
export async function checkUnchanged(entry: DatasetEntry): Promise<void> {
  if ((await datasetKind(entry.type).fingerprint(entry)) !== entry.sha256) {
    throw new InputError(
      `Dataset "${entry.name}" (${entry.id}) changed since it was registered: ` +
        `run \`fbm-node dataset rm ${entry.id}\` and \`fbm-node dataset add\` again to register the new version`,
    );
  }
}
