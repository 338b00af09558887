import { Command } from "@commander-js/extra-typings";
import type { Plan } from "../../ml/plan.js";
import { planCost, sampleShapeOf } from "../../ml/plan-size.js";
import { homePaths, loadHome, readConfig } from "../config/home.js";
import { type PlanCost, planDetails, planTable, planToJson } from "../plans/plan-format.js";
import { createPlanRegistry, MIN_PREFIX, type PlanEntry, type PlanRegistry } from "../plans/plan-registry.js";
import type { CliContext } from "./cli-context.js";

/** `fbm-node plan list|show|approve|reject`: the operator's decisions on the plans researchers asked for. */
export function planCommand(ctx: CliContext): Command {
  const plan = new Command("plan").description(
    "review, approve and reject the training plans researchers asked this node to run",
  );
  const idHelp = `plan id, or a unique prefix of at least ${MIN_PREFIX} characters (see \`plan list\`)`;

  /** Opens the home's registry (after checking there is a home), runs `action`, closes it. */
  const withRegistry = async <T>(action: (registry: PlanRegistry) => Promise<T>): Promise<T> => {
    const dir = ctx.homeDir();
    await readConfig(dir);
    const registry = await createPlanRegistry({ path: homePaths(dir).plans });
    try {
      return await action(registry);
    } finally {
      await registry.close();
    }
  };

  plan
    .command("list")
    .description("list the plans researchers asked for, oldest first (--json: an array)")
    .action(() =>
      withRegistry(async (registry) => {
        const entries = registry.list();
        ctx.result(entries.map(planToJson), planTable(entries));
      }),
    );

  plan
    .command("show")
    .description(
      "show one plan: status, who asked, its data preparation, layers, loss and optimizer (--json: an object)",
    )
    .argument("<id>", idHelp)
    .action((id) =>
      withRegistry(async (registry) => {
        const entry = registry.get(registry.resolveId(id))!;
        const cost = await planCostOn(ctx.homeDir(), entry);
        ctx.result({ ...planToJson(entry), ...(cost ? { cost } : {}) }, planDetails(entry, cost));
      }),
    );

  plan
    .command("approve")
    .description("let researchers train this plan on this node's datasets")
    .argument("<id>", idHelp)
    .action((id) =>
      withRegistry(async (registry) => {
        const entry = await registry.approve(registry.resolveId(id));
        ctx.result(
          planToJson(entry),
          `Approved plan ${entry.id.slice(0, 12)} (experiment "${entry.requestedBy.experiment}"): this node trains it from the next request`,
        );
      }),
    );

  plan
    .command("reject")
    .description("refuse this plan; researchers who send it are told so, with the note")
    .argument("<id>", idHelp)
    .option("--note <text>", "the reason, shown to the researcher")
    .action((id, options) =>
      withRegistry(async (registry) => {
        const entry = await registry.reject(registry.resolveId(id), options.note ?? "");
        ctx.result(
          planToJson(entry),
          `Rejected plan ${entry.id.slice(0, 12)} (experiment "${entry.requestedBy.experiment}")${entry.note ? `: ${entry.note}` : ""}`,
        );
      }),
    );

  return plan;
}

/**
 * The plan's size on the dataset it was first asked for (as the GUI counts it): parameters and FLOPs
 * per training sample (planCost), on the plan's inputs; undefined without that dataset or a fitting shape.
 */
async function planCostOn(dir: string, entry: PlanEntry): Promise<PlanCost | undefined> {
  if (!entry.requestedBy.dataset) return undefined;
  const { catalogue } = await loadHome(dir);
  try {
    const dataset = catalogue.getDataset(entry.requestedBy.dataset);
    const plan = JSON.parse(entry.planJson) as Plan;
    const shape = dataset && sampleShapeOf(plan, dataset);
    return dataset && shape ? { dataset: dataset.name, ...planCost(plan, shape) } : undefined;
  } catch {
    return undefined; // the plan does not fit the dataset's shape: no size
  } finally {
    await catalogue.close();
  }
}
