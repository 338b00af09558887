import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256Hex } from "../../src/common/canonical-json.js";
import { buildModel, getParams } from "../../src/ml/model.js";
import { type Plan, parsePlan, planJson } from "../../src/ml/plan.js";
import type { TablePreparation } from "../../src/ml/table-prep.js";
import { preparedFeatures } from "../../src/ml/table-prep.js";
import type { TrainingArgs } from "../../src/ml/types.js";
import type { Catalogue } from "../../src/node/catalogue/catalogue.js";
import { createExecutor, type NodeRuntime } from "../../src/node/executors/index.js";
import type { TaskLimits } from "../../src/node/plans/task-limits.js";
import { createPrivacyLedger } from "../../src/node/privacy/privacy-ledger.js";
import type { FeedbackBody, ReplyBody, TrainTaskBody } from "../../src/wire/index.js";
import { csvCatalogue, csvText, offTheWire, testRuntime } from "./executor-node.js";

/**
 * A node as the researcher meets it, without the network: one CSV dataset in the catalogue, a real
 * privacy ledger, the real executor, and every reply read back through the wire codec. The attack tests
 * play the researcher against it with plans and arguments of their choosing.
 */
export interface TrainingNode {
  /** Runs one train task; the reply as the researcher decodes it, and the progress feedback it saw. */
  train(request: {
    plan: Plan;
    args: Partial<TrainingArgs>;
    round?: number;
    /** The experiment the ledger charges (default "attack"). */
    experiment?: string;
    /** A resolved table preparation sent beside the plan (the model is built on its width). */
    preparation?: TablePreparation;
  }): Promise<{ reply: ReplyBody; feedback: FeedbackBody[] }>;
  /** Runs one stats task (the column statistics a researcher asks before round 1). */
  stats(request: { plan: Plan; preparation?: TablePreparation }): Promise<ReplyBody>;
  /** The node's log lines so far. */
  readonly logs: string[];
  close(): Promise<void>;
}

/** Default training arguments an attacker starts from (one update, no test split). */
export const attackArgs: TrainingArgs = {
  epochs: 0,
  updates: 1,
  batchSize: 1,
  testRatio: 0,
  testOnGlobal: false,
  testOnLocal: false,
  metrics: [],
  seed: 1,
  fedproxMu: 0,
};

export async function createTrainingNode(
  csv: { header: string[]; rows: (number | string)[][] },
  options: {
    /** The node's plan policy (default: every plan runs); given the catalogue, so a real plan gate can size models. */
    gate?: (catalogue: Catalogue) => NodeRuntime["authorizePlan"];
    /** The node's task caps (default: none). */
    limits?: TaskLimits;
  } = {},
): Promise<TrainingNode> {
  const dir = mkdtempSync(join(tmpdir(), "fbm-attack-"));
  const { catalogue, entry } = await csvCatalogue(dir, "patients.csv", csvText(csv.header, csv.rows), {
    name: "patients",
    target: csv.header.at(-1),
  });
  const ledger = await createPrivacyLedger({ path: join(dir, "privacy.json") });
  const logs: string[] = [];
  const execute = createExecutor(
    testRuntime(catalogue, {
      privacy: { ledger, maxEpsilon: "none", delta: 1e-5 },
      authorizePlan: options.gate?.(catalogue) ?? (async () => undefined),
      limits: options.limits,
      log: (line: string) => logs.push(line),
      analytics: { minCount: 1, minMax: true },
    }),
  );
  const features = csv.header.length - 1;
  return {
    logs,
    async train({ plan, args, round = 1, experiment = "attack", preparation }) {
      const json = planJson(plan);
      const width = preparation ? preparedFeatures(preparation).length : (plan.data.features?.length ?? features);
      const model = buildModel(plan, [width], { seed: 0 });
      const params = getParams(model);
      model.dispose();
      const body: TrainTaskBody = {
        kind: "train",
        datasetId: entry.id,
        planId: sha256Hex(json),
        planJson: json,
        args: { ...attackArgs, ...args },
        round,
        params,
        ...(preparation ? { preparation } : {}),
      };
      const feedback: FeedbackBody[] = [];
      const reply = await execute(
        { taskId: "t", experiment, body },
        { signal: new AbortController().signal, feedback: (f) => feedback.push(f) },
      );
      return { reply: await offTheWire(reply), feedback };
    },
    async stats({ plan, preparation }) {
      const body = { kind: "stats" as const, datasetId: entry.id, planJson: planJson(plan), preparation };
      const reply = await execute(
        { taskId: "s", experiment: "attack", body },
        { signal: new AbortController().signal, feedback: () => {} },
      );
      return offTheWire(reply, "s");
    },
    async close() {
      await ledger.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A plan over the CSV's columns (target: the last). */
export function attackPlan(model: Plan["model"], loss: Plan["loss"], learningRate = 1): Plan {
  return parsePlan({
    data: { target: "label" },
    model,
    loss,
    optimizer: { name: "sgd", learning_rate: learningRate },
  });
}
