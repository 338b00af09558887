import { Command } from "@commander-js/extra-typings";
import { homePaths, readConfig } from "../config/home.js";
import { planDetails, planTable, planToJson } from "../plans/plan-format.js";
import { createPlanRegistry, MIN_PREFIX, type PlanRegistry } from "../plans/plan-registry.js";
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
        ctx.result(planToJson(entry), planDetails(entry));
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
