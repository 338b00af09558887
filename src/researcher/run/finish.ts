import { v8Collect } from "../../common/v8-gc.js";
import { saveModel } from "../../ml/export.js";
import { taskKind } from "../../ml/metrics.js";
import type { DoneEvent, NodeFailure } from "./events.js";
import { pooledMetrics } from "./pooled-metrics.js";
import type { RunContext, RunInputs, TrainingState } from "./run-context.js";
import { runTrainRound } from "./train-round.js";

/** Validates the final model on every node's test split (an evaluate-only train task), exports it, says `done`. */
export async function finishRun(run: RunContext, inputs: RunInputs, training: TrainingState): Promise<DoneEvent> {
  const { config, roster } = run;
  const { global } = training;
  run.round = training.round + 1;
  // The rounds are over: the folds' take-back storage (up to the transfer budget) is not kept through the
  // export, and is collected before it, so the export's buffers reuse its memory instead of adding to it.
  if (run.takeBack) {
    run.takeBack.clear();
    run.takeBack = undefined;
    v8Collect()();
  }
  const participants = roster.participants();
  let metrics: Record<string, number> | undefined;
  let aucError: number | undefined;
  let withheld: NodeFailure[] = [];
  if (config.training.testRatio > 0 && participants.length > 0) {
    const { updates, failures } = await runTrainRound({
      hub: run.hub,
      experiment: config.name,
      participants,
      round: training.round + 1,
      planId: run.plan.id,
      planJson: run.plan.json,
      args: { ...config.training, fedproxMu: 0, epochs: 0, updates: 0, testOnGlobal: true, testOnLocal: false },
      normalization: inputs.normalization,
      preparation: inputs.preparation,
      global,
      timeoutMs: config.nodes.roundTimeoutMs,
      signal: run.signal,
      dropParams: true, // only the metrics matter: no node's model is held
    });
    // A node may refuse to validate (validation_refused on a dataset with a privacy budget): the run
    // still completes, and done says which nodes' metrics are missing and why.
    withheld = failures;
    for (const f of failures) {
      run.emit({ event: "error", node: f.node, code: f.code, message: `${f.name}: final evaluation: ${f.message}` });
    }
    ({ values: metrics, aucError } = pooledMetrics(
      updates.map((u) => u.result.globalMetrics),
      taskKind(config.plan),
    ));
  }
  const { folder } = run;
  await saveModel(folder.modelDir, {
    plan: config.plan,
    params: global,
    sampleShape: inputs.sampleShape,
    normalization: inputs.normalization,
    features: inputs.features,
    preparation: inputs.preparation,
  });
  // The last round's privacy is cumulative over the run (round-privacy.ts).
  const last = training.history.at(-1) as { privacy?: { epsilon: number; delta: number } } | undefined;
  const privacy =
    config.dp && last?.privacy
      ? { mode: config.dp.mode, epsilon: last.privacy.epsilon, delta: last.privacy.delta }
      : undefined;
  const done: DoneEvent = {
    event: "done",
    rounds: training.round,
    metrics: metrics ?? {},
    ...(aucError === undefined ? {} : { auc_error: aucError }),
    ...(withheld.length > 0
      ? { metrics_withheld: withheld.map((f) => ({ node: f.node, name: f.name, code: f.code, message: f.message })) }
      : {}),
    model: folder.modelDir,
    run: folder.dir,
    ...(privacy ? { privacy } : {}),
  };
  await folder.writeJson("done.json", done);
  run.emit(done);
  return done;
}
