import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createExecutor } from "../../../src/node/executors/index.js";
import { createPrivacyLedger } from "../../../src/node/privacy/privacy-ledger.js";
import type { ReplyBody, TaskBody } from "../../../src/wire/index.js";
import { csvCatalogue, csvText, offTheWire, testRuntime } from "../../support/executor-node.js";

/**
 * A real node (catalogue, loader, executors, privacy ledger) over one CSV the test writes, for attack
 * tests that play the curious researcher: every reply is read back off the wire, as the researcher reads it.
 */
export async function curiousNode(
  csv: string,
  options: { minCount?: number; minMax?: boolean; maxEpsilon?: number; target?: string } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), "fbm-attack-"));
  const { catalogue, entry } = await csvCatalogue(dir, "data.csv", csv, { name: "cohort", target: options.target });
  const ledger = await createPrivacyLedger({ path: join(dir, "privacy.json") });
  const execute = createExecutor(
    testRuntime(catalogue, {
      privacy: { ledger, maxEpsilon: options.maxEpsilon ?? "none", delta: 1e-5 },
      analytics: { minCount: options.minCount ?? 10, minMax: options.minMax ?? false },
    }),
  );
  const run = async (body: TaskBody): Promise<ReplyBody> =>
    offTheWire(
      await execute(
        { taskId: "t", experiment: "attack", body },
        { signal: new AbortController().signal, feedback: () => {} },
      ),
    );
  return { entry, run, close: () => rmSync(dir, { recursive: true, force: true }) };
}

export { csvText };
