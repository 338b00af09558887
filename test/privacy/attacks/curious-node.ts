import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCatalogue } from "../../../src/node/catalogue/catalogue.js";
import { describeDataset } from "../../../src/node/catalogue/dataset-draft.js";
import { createDatasetLoader } from "../../../src/node/catalogue/dataset-loader.js";
import { createExecutor, type NodeRuntime } from "../../../src/node/executors/index.js";
import { createPrivacyLedger } from "../../../src/node/privacy/privacy-ledger.js";
import { decodeReply, encodeReply, type ReplyBody, type TaskBody } from "../../../src/wire/index.js";

/**
 * A real node (catalogue, loader, executors, privacy ledger) over one CSV the test writes, for attack
 * tests that play the curious researcher: every reply is read back off the wire, as the researcher reads it.
 */
export async function curiousNode(
  csv: string,
  options: { minCount?: number; minMax?: boolean; maxEpsilon?: number; target?: string } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), "fbm-attack-"));
  const path = join(dir, "data.csv");
  writeFileSync(path, csv);
  const catalogue = await createCatalogue({ path: join(dir, "catalogue.json") });
  const entry = await catalogue.addDataset(
    await describeDataset({ type: "csv", path, tags: ["t"], target: options.target, name: "cohort" }),
  );
  const ledger = await createPrivacyLedger({ path: join(dir, "privacy.json") });
  const runtime = {
    catalogue,
    loader: createDatasetLoader(),
    version: "test",
    backend: "cpu",
    controls: undefined as never,
    privacy: { ledger, maxEpsilon: options.maxEpsilon ?? "none", delta: 1e-5 },
    secagg: undefined as never,
    nodeId: "node_test",
    authorizePlan: async () => undefined,
    log: () => {},
    analytics: { minCount: options.minCount ?? 10, minMax: options.minMax ?? false },
  } satisfies NodeRuntime;
  const execute = createExecutor(runtime);
  const run = async (body: TaskBody): Promise<ReplyBody> => {
    const reply = await execute(
      { taskId: "t", experiment: "attack", body },
      { signal: new AbortController().signal, feedback: () => {} },
    );
    async function* chunks() {
      yield* encodeReply({ taskId: "t", nodeId: "n", body: reply });
    }
    return (await decodeReply(chunks())).body;
  };
  return { entry, run, close: () => rmSync(dir, { recursive: true, force: true }) };
}

/** CSV text from a header and rows. */
export function csvText(header: string[], rows: (string | number)[][]): string {
  return `${[header.join(","), ...rows.map((r) => r.join(","))].join("\n")}\n`;
}
