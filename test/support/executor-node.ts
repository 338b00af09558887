import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Catalogue, createCatalogue, type DatasetEntry } from "../../src/node/catalogue/catalogue.js";
import { describeDataset } from "../../src/node/catalogue/dataset-draft.js";
import { createDatasetLoader } from "../../src/node/catalogue/dataset-loader.js";
import type { NodeRuntime } from "../../src/node/executors/index.js";
import { decodeReply, encodeReply, type ReplyBody } from "../../src/wire/index.js";

/**
 * The set-up of the tests that run a node's executors without the network (analytics, clinical queries,
 * the attack tests' nodes): one place for the runtime's defaults, the one-CSV catalogue and the wire
 * round trip that shows a reply as the researcher reads it.
 */

/**
 * A node runtime for tests: a real dataset loader, version "test" on the cpu backend, node id "node_test",
 * every plan allowed, a silent log, statistics with min_count 10 and no min/max, and no SCAFFOLD controls,
 * privacy ledger or secure aggregation (tasks that need them fail); `fields` replace any of these.
 */
export function testRuntime(catalogue: Catalogue, fields: Partial<NodeRuntime> = {}): NodeRuntime {
  return {
    catalogue,
    loader: createDatasetLoader(),
    version: "test",
    backend: "cpu",
    controls: undefined as never,
    privacy: undefined as never,
    secagg: undefined as never,
    nodeId: "node_test",
    authorizePlan: async () => undefined,
    log: () => {},
    analytics: { minCount: 10, minMax: false },
    ...fields,
  };
}

/** CSV text: a header line, then one line a row. */
export function csvText(header: string[], rows: (string | number)[][]): string {
  return `${[header.join(","), ...rows.map((r) => r.join(","))].join("\n")}\n`;
}

/**
 * A catalogue in `dir` (catalogue.json) holding one CSV dataset, written to `dir/file` from `csv`, tagged
 * "t", with this name and target.
 */
export async function csvCatalogue(
  dir: string,
  file: string,
  csv: string,
  dataset: { name: string; target?: string },
): Promise<{ catalogue: Catalogue; entry: DatasetEntry; path: string }> {
  const path = join(dir, file);
  writeFileSync(path, csv);
  const catalogue = await createCatalogue({ path: join(dir, "catalogue.json") });
  const entry = await catalogue.addDataset(
    await describeDataset({ type: "csv", path, tags: ["t"], target: dataset.target, name: dataset.name }),
  );
  return { catalogue, entry, path };
}

/** `reply` as the researcher reads it: encoded into the wire's chunks (task `taskId`, node "n") and decoded. */
export async function offTheWire(reply: ReplyBody, taskId = "t"): Promise<ReplyBody> {
  async function* chunks() {
    yield* encodeReply({ taskId, nodeId: "n", body: reply });
  }
  return (await decodeReply(chunks())).body;
}
