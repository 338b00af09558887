import type { ModelInfo } from "../export.js";
import type { Dataset } from "../types.js";
import { loadCsv } from "./csv.js";
import { loadPreparedTable } from "./table.js";

/**
 * A local CSV prepared for an exported model as training prepared it: through the model's table
 * preparation when it has one (unseen categories count as "other", missing cells are imputed, rows
 * without a target are skipped), else its numeric feature columns.
 */
export function loadCsvForModel(
  path: string,
  model: Pick<ModelInfo, "features" | "preparation">,
  options: { target?: string } = {},
): Promise<Dataset> {
  if (model.preparation) return loadPreparedTable(path, model.preparation, { target: options.target });
  return loadCsv(path, { target: options.target, features: model.features });
}
