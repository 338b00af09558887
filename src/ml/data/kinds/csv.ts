import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { parse } from "csv-parse/sync";
import { InputError } from "../../../common/errors.js";
import { declaresPreparation, type Plan } from "../../plan.js";
import { planInput } from "../../plan-input.js";
import { featureKinds, numericPreparation } from "../../table-prep.js";
import { inspectTable } from "../csv-columns.js";
import { fingerprintFile } from "../fingerprint.js";
import { loadCsvForModel } from "../model-table.js";
import { readerContext } from "../reader-errors.js";
import { loadPreparedTable } from "../table.js";
import type { DatasetKind } from "./kind.js";

const PREVIEW_ROWS = 10;

/** A hospital table: one row per sample, typed columns, a target column for supervised plans. */
export const csv: DatasetKind<"csv"> = {
  type: "csv",
  async describe(request) {
    const info = await inspectTable(request.path, { target: request.target });
    if (request.target !== undefined && info.columns.length === 1) {
      throw new InputError(
        `${readerContext("register", request.path)}: its only column is the target "${request.target}"; a plan needs at least one feature column`,
      );
    }
    return {
      type: "csv",
      shape: [info.rows, info.columns.length],
      columns: info.columns,
      target: request.target ?? "",
      // Rows without a target cannot train: counted (missingTarget) and left out.
      sampleCount: info.rows - info.missingTarget,
      missingTarget: info.missingTarget,
      sha256: info.sha256,
    };
  },
  fingerprint: (entry) => fingerprintFile(entry.path),
  async load(entry, plan, preparation) {
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
  },
  stats: true,
  async preview(entry) {
    // Categories come from registration (the catalogue keeps their counts on the node).
    const categories = entry.columns
      .filter((c) => c.kind === "categorical" && c.categories !== undefined)
      .map((c) => ({ column: c.name, categories: c.categories ?? [] }));
    return { ...(await firstRows(entry.path)), categories };
  },
  async loadLocal(path, options) {
    return { type: "csv", data: await loadCsvForModel(path, options, { target: options.target }) };
  },
};

/** The header and the first rows, as written (the operator sees their own file). */
async function firstRows(path: string): Promise<{ columns: string[]; rows: string[][] }> {
  const lines: string[] = [];
  const reader = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of reader) {
    if (line.trim() !== "") lines.push(line);
    if (lines.length > PREVIEW_ROWS) break;
  }
  reader.close();
  const [columns = [], ...rows] = parse(lines.join("\n"), { relax_column_count: true }) as string[][];
  return { columns, rows };
}
