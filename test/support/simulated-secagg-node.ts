import { generateKeyPair } from "../../src/common/certificates.js";
import { contentsLayout } from "../../src/ml/masked-contents.js";
import { parsePlan } from "../../src/ml/plan.js";
import type { TrainResult } from "../../src/ml/types.js";
import { createSecaggSessions, executeSecagg, secaggExtension } from "../../src/node/executors/secagg.js";
import { DEFAULT_SECAGG_POLICY, type SecaggPolicy, SecaggRefusal } from "../../src/node/executors/secagg-guard.js";
import type { Participant } from "../../src/researcher/run/roster.js";
import type { Hub } from "../../src/researcher/server/hub.js";
import type { ReplyBody, TaskBody } from "../../src/wire/index.js";

/**
 * A node answering through the hub API in this process, with the node's own secure aggregation code
 * (executeSecagg, secaggExtension); its "training" is `train(global)`. For unit tests and benchmarks
 * of researcher rounds without node processes. `timer.nodeMs` accumulates the time spent answering.
 * It makes an identity key pair of its own (for `verify`) before it answers its first task; `policy`
 * overrides the node's secagg settings (minimum cohort, pinned peers).
 */
export function simulatedNode(
  hub: Hub,
  id: string,
  options: {
    signal: AbortSignal;
    samples: number;
    train: (global: Float32Array) => Float32Array;
    /** The training loss and validation metrics it reports (default: loss 0, none). */
    report?: Pick<TrainResult, "trainLoss" | "globalMetrics" | "localMetrics">;
    timer?: { nodeMs: number };
    policy?: Partial<SecaggPolicy>;
  },
): Participant {
  const hello = { nodeId: id, name: id, sessionId: `${id}-s`, version: "test" };
  hub.register(hello);
  const sessions = createSecaggSessions();
  let policy: SecaggPolicy = { ...DEFAULT_SECAGG_POLICY, ...options.policy };
  const answer = (body: TaskBody): ReplyBody => {
    if (body.kind === "secagg") return executeSecagg(sessions, id, body, policy);
    if (body.kind !== "train") throw new Error(`unexpected ${body.kind} task`);
    const trained = body.params.map((t) => ({ ...t, data: options.train(t.data as Float32Array) }));
    const result: TrainResult = {
      params: trained,
      sampleCount: options.samples,
      trainLoss: 0,
      seconds: 0,
      ...options.report,
    };
    if (!body.secagg) return { kind: "train", result };
    const participant = sessions.get(body.secagg.session);
    return {
      kind: "train",
      result: secaggExtension({
        model: body.params,
        masking: body.secagg,
        participant,
        contents: contentsLayout(parsePlan(JSON.parse(body.planJson)), body.args),
      }).reply(result),
    };
  };
  void (async () => {
    if (!policy.identity) {
      const pair = await generateKeyPair({ commonName: `fbm node ${id}` });
      policy = { ...policy, identity: { certPem: pair.cert, keyPem: pair.key } };
    }
    while (!options.signal.aborted) {
      const task = await hub.nextTask(hello, { signal: options.signal, waitMs: 1000 }).catch(() => undefined);
      if (!task) continue;
      const t0 = performance.now();
      let body: ReplyBody;
      try {
        body = answer(task.body);
      } catch (error) {
        const code = error instanceof SecaggRefusal ? error.code : "failed";
        body = { kind: "error", code, message: (error as Error).message };
      }
      if (options.timer) options.timer.nodeMs += performance.now() - t0;
      hub.deliver({ taskId: task.taskId, nodeId: id, body });
    }
  })();
  return {
    node: id,
    name: id,
    dataset: {
      id: "d",
      name: "d",
      type: "csv",
      tags: [],
      description: "",
      shape: [],
      columns: [],
      sampleCount: options.samples,
      classes: [],
      target: "",
      createdAt: "",
    },
  };
}
