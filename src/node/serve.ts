import { createGrpcTransport } from "@connectrpc/connect-node";
import { selectBackend } from "../ml/backend.js";
import { createResearcherClient } from "../wire/index.js";
import { createDatasetLoader } from "./dataset-loader.js";
import { createExecutor } from "./executors/index.js";
import { loadHome } from "./home.js";
import { runPollLoop } from "./poll-loop.js";
import type { ServeOptions } from "./serve-types.js";
import { packageVersion } from "../common/version.js";

/** `fbm-node serve`: open the home, pick the tfjs backend, then pull and run tasks until stopped. */
export async function serveNode(options: ServeOptions): Promise<void> {
  const home = await loadHome(options.homeDir);
  const { config, catalogue } = home;
  const researcher = options.researcher ?? config.researcher;
  const backend = await selectBackend({ log: options.log });
  await catalogue.watch();
  options.log(`Node ${config.name} (${config.node_id}): ${catalogue.listDatasets().length} dataset(s); researcher ${researcher}`);
  if (!config.plan_approval) options.log("plan_approval is false: this node trains any valid plan without asking");
  const executor = createExecutor({
    catalogue,
    loader: createDatasetLoader(),
    version: packageVersion(),
    backend,
    // Plan approval (a registry of approved plan ids) is not built yet; every valid plan is trained.
    authorizePlan: async () => undefined,
    log: options.log,
  });
  try {
    await runPollLoop({
      client: createResearcherClient(createGrpcTransport({ baseUrl: researcher })),
      researcherUrl: researcher,
      nodeId: config.node_id,
      name: config.name,
      version: packageVersion(),
      execute: executor,
      signal: options.signal,
      log: options.log,
    });
  } finally {
    await catalogue.close();
  }
  options.log("Stopped");
}
