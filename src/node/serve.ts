import { randomUUID } from "node:crypto";
import { availableParallelism } from "node:os";
import { packageVersion } from "../common/version.js";
import { selectBackend } from "../ml/backend.js";
import { createResearcherClient } from "../wire/index.js";
import { createDatasetLoader } from "./dataset-loader.js";
import { createExecutor } from "./executors/index.js";
import { createControlStore } from "./executors/scaffold.js";
import { homePaths, loadHome } from "./home.js";
import { createPlanGate } from "./plan-gate.js";
import { createPlanRegistry } from "./plan-registry.js";
import { runPollLoop } from "./poll-loop.js";
import { createRedactor } from "./redact.js";
import type { ServeOptions } from "./serve-types.js";
import { createNodeTransport } from "./transport.js";

/** `fbm-node serve`: open the home, pick the tfjs backend, then pull and run tasks until stopped. */
export async function serveNode(options: ServeOptions): Promise<void> {
  const home = await loadHome(options.homeDir);
  const { config, catalogue } = home;
  const researcher = options.researcher ?? config.researcher;
  const sessionId = randomUUID();
  const transport = await createNodeTransport({
    url: researcher,
    homeDir: home.dir,
    config,
    sessionId,
    log: options.log,
  });
  const backend = await selectBackend({ log: options.log });
  catalogue.watch((message) => options.log(`${message} (serving on with the datasets read before)`));
  // The registry re-reads plans.json on every request: `fbm-node plan approve` may run while serving.
  const registry = await createPlanRegistry({ path: homePaths(home.dir).plans });
  options.log(
    `Node ${config.name} (${config.node_id}): ${catalogue.listDatasets().length} dataset(s); researcher ${researcher}`,
  );
  if (!config.plan_approval) options.log("plan_approval is false: this node trains any valid plan without asking");
  options.log(
    `Training on up to ${config.threads === "auto" ? `${availableParallelism()} threads (every core)` : `${config.threads} thread(s)`}`,
  );
  const executor = createExecutor({
    catalogue,
    loader: createDatasetLoader(),
    version: packageVersion(),
    backend,
    ...(config.threads === "auto" ? {} : { threads: config.threads }),
    authorizePlan: createPlanGate({
      registry,
      catalogue,
      homeDir: home.dir,
      researcher,
      log: options.log,
      policy: { name: config.name, planApproval: config.plan_approval, maxParams: config.max_params },
    }),
    controls: createControlStore(),
    analytics: { minCount: config.min_count, minMax: config.stats_minmax },
    log: options.log,
  });
  try {
    await runPollLoop({
      client: createResearcherClient(transport),
      researcherUrl: researcher,
      nodeId: config.node_id,
      sessionId,
      name: config.name,
      version: packageVersion(),
      execute: executor,
      signal: options.signal,
      log: options.log,
      redact: createRedactor(home.dir, () => catalogue.listDatasets()),
    });
  } finally {
    await registry.close();
    await catalogue.close();
  }
  options.log("Stopped");
}
