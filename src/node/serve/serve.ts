import { randomUUID } from "node:crypto";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { packageVersion } from "../../common/version.js";
import { selectBackend } from "../../ml/backend.js";
import { createWarmRounds, defaultIdleMs } from "../../ml/engine/warm-rounds.js";
import { createExperimentBuffers, createResearcherClient } from "../../wire/index.js";
import { createDatasetLoader } from "../catalogue/dataset-loader.js";
import { homePaths, loadHome } from "../config/home.js";
import type { NodeConfig } from "../config/node-config.js";
import { createExecutor, type NodeRuntime } from "../executors/index.js";
import { createControlStore } from "../executors/scaffold.js";
import { createSecaggSessions } from "../executors/secagg.js";
import { readNodeIdentity } from "../identity/identity.js";
import { createPlanGate } from "../plans/plan-gate.js";
import { createPlanRegistry } from "../plans/plan-registry.js";
import { paramBytesLimit, type TaskLimits } from "../plans/task-limits.js";
import { createContributionRecord } from "../privacy/contribution-record.js";
import { createPrivacyLedger } from "../privacy/privacy-ledger.js";
import { createRedactor } from "../privacy/redact.js";
import { createSecaggPeers } from "../privacy/secagg-peers.js";
import { watchCancelRequests } from "./cancel-request.js";
import { watchConfig } from "./config-watch.js";
import { createIdleCollector } from "./idle-gc.js";
import { createStatusRecorder } from "./node-status.js";
import { runPollLoop } from "./poll-loop.js";
import { notifySystemdReady } from "./readiness.js";
import { lockServe } from "./serve-lock.js";
import type { ServeOptions } from "./serve-types.js";
import { createRunningTask } from "./task-cancel.js";
import { testLostResearcher, testUpdateLog } from "./test-hooks.js";
import { createNodeTransport } from "./transport.js";

/** `fbm-node serve`: open the home, pick the tfjs backend, then pull and run tasks until stopped. */
export async function serveNode(options: ServeOptions): Promise<void> {
  const { logger } = options;
  const log = logger.info;
  const home = await loadHome(options.homeDir);
  let unlock: () => void;
  try {
    unlock = lockServe(home.dir, log);
  } catch (error) {
    await home.catalogue.close();
    throw error;
  }
  try {
    await serveHome(home, options);
  } finally {
    unlock();
  }
}

async function serveHome(home: Awaited<ReturnType<typeof loadHome>>, options: ServeOptions): Promise<void> {
  const { logger } = options;
  const log = logger.info;
  const { config, catalogue } = home;
  const researcher = options.researcher ?? config.researcher;
  const sessionId = randomUUID();
  const transport = await createNodeTransport({ url: researcher, homeDir: home.dir, config, sessionId, log });
  const backend = await selectBackend({ log });
  catalogue.watch((message) => logger.warn(`${message} (serving on with the datasets read before)`));
  // The registry re-reads plans.json on every request: `fbm-node plan approve` may run while serving.
  const registry = await createPlanRegistry({ path: homePaths(home.dir).plans });
  const ledger = await createPrivacyLedger({ path: homePaths(home.dir).privacy });
  for (const line of ledger.damaged()) logger.warn(line);
  const contributions = await createContributionRecord({ path: homePaths(home.dir).contributions });
  log(
    `Node ${config.name} (${config.node_id}): ${catalogue.listDatasets().length} dataset(s); researcher ${researcher}`,
  );
  // The policy objects are read on every task, so a watched config change applies from the next one.
  const policy = { name: config.name, planApproval: config.plan_approval, maxParams: config.max_params };
  const identity = await readNodeIdentity(home.dir);
  let peersMode = config.secagg_peers;
  const runtime: NodeRuntime = {
    catalogue,
    loader: createDatasetLoader(),
    version: packageVersion(),
    backend,
    authorizePlan: createPlanGate({ registry, catalogue, homeDir: home.dir, researcher, log, policy }),
    controls: createControlStore(),
    privacy: { ledger, maxEpsilon: config.max_epsilon, delta: config.dp_delta },
    secagg: createSecaggSessions(),
    contributions,
    requireSecagg: config.require_secagg,
    secaggPolicy: {
      minNodes: config.secagg_min_nodes,
      requireVerify: config.secagg_verify,
      identity: identity && { certPem: identity.cert, keyPem: identity.key },
      peers: createSecaggPeers(home.dir, { log, mode: () => peersMode }),
    },
    nodeId: config.node_id,
    ...testUpdateLog(config.node_id),
    analytics: { minCount: config.min_count, minMax: config.stats_minmax },
    limits: limitsOf(config),
    log,
    debug: logger.debug,
    warm: createWarmRounds(),
  };
  const apply = (next: NodeConfig) => {
    policy.planApproval = next.plan_approval;
    policy.maxParams = next.max_params;
    runtime.threads = next.threads === "auto" ? undefined : next.threads;
    runtime.analytics.minCount = next.min_count;
    runtime.analytics.minMax = next.stats_minmax;
    runtime.privacy.maxEpsilon = next.max_epsilon;
    runtime.privacy.delta = next.dp_delta;
    runtime.requireSecagg = next.require_secagg;
    if (runtime.secaggPolicy) {
      runtime.secaggPolicy.minNodes = next.secagg_min_nodes;
      runtime.secaggPolicy.requireVerify = next.secagg_verify;
    }
    peersMode = next.secagg_peers;
    runtime.limits = limitsOf(next);
  };
  apply(config);
  describePolicy(config, log);
  const watch = watchConfig(home.dir, config, {
    onChange: (next, changes) => {
      apply(next);
      for (const change of changes) {
        if (change.live) log(`Config ${change.key} = ${String(change.value)}: applied from the next task`);
        else logger.warn(`Config ${change.key} changed to ${String(change.value)}: restart fbm-node serve to apply it`);
      }
      if (changes.some((c) => c.key === "plan_approval" || c.key === "require_secagg")) describePolicy(next, log);
    },
    onError: logger.warn,
  });
  const reload = () => {
    log("SIGHUP: reloading config.json");
    void watch.reload();
  };
  options.reloadSignal?.on(reload);
  const status = createStatusRecorder(join(home.dir, "status.json"), { researcher });
  // The operator's `fbm-node task cancel` and the GUI's Cancel button reach the running task through a file.
  const running = createRunningTask();
  const cancels = watchCancelRequests(home.dir, running, logger);
  log(`Ready: serving researcher ${researcher} (pid ${process.pid})`);
  void notifySystemdReady(logger.warn);
  try {
    await runPollLoop({
      client: createResearcherClient(transport),
      researcherUrl: researcher,
      nodeId: config.node_id,
      sessionId,
      name: config.name,
      version: packageVersion(),
      execute: createExecutor(runtime),
      signal: options.signal,
      log,
      logger,
      status,
      running,
      afterTask: createIdleCollector().afterTask,
      // A train task's parameters are received into its experiment's kept buffers; one goes back to the
      // pool only where the executor has copied its values (executors/train.ts, `paramsCopied`).
      // Dropped after as long without a round as a warm network is (ml/engine/warm-rounds.ts).
      taskBuffers: createExperimentBuffers({ idleMs: defaultIdleMs }),
      ...testLostResearcher(),
      redact: createRedactor(home.dir, () => catalogue.listDatasets()),
      // Read on every poll, so a live change of max_params applies to the next task.
      get maxParamBytes() {
        return paramBytesLimit(policy.maxParams);
      },
    });
  } finally {
    options.reloadSignal?.off(reload);
    cancels.close();
    runtime.warm?.drop();
    watch.close();
    await status.close();
    await registry.close();
    await ledger.close();
    await contributions.close();
    await catalogue.close();
  }
  log("Stopped");
}

function limitsOf(config: NodeConfig): TaskLimits {
  return {
    maxUpdates: config.max_updates,
    maxEpochs: config.max_epochs,
    maxTaskSeconds: config.max_task_seconds,
    minBatchSize: config.min_batch_size,
    maxBatchSize: config.max_batch_size,
    minTestRatio: config.min_test_ratio,
    minDpSigma: config.min_dp_sigma,
    maxTaskFlops: config.max_task_flops,
  };
}

function describePolicy(config: NodeConfig, log: (line: string) => void): void {
  if (!config.plan_approval) log("plan_approval is false: this node trains any valid plan without asking");
  else log("plan_approval is true: this node trains only plans its operator approved");
  if (config.require_secagg) log("require_secagg is true: this node trains only under secure aggregation");
  log(
    `Training on up to ${config.threads === "auto" ? `${availableParallelism()} threads (every core)` : `${config.threads} thread(s)`}`,
  );
}
