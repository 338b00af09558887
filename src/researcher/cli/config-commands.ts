import { Command } from "@commander-js/extra-typings";
import type { CliIo } from "../../common/cli.js";
import { planId } from "../../ml/plan.js";
import { DEFAULT_MAX_PARAMS } from "../../ml/plan-size.js";
import { experimentJsonSchema, loadExperiment } from "../run/config.js";
import { checkPlanSize, smallestInput } from "../run/plan-limit.js";
import { positiveInt } from "./positive-int.js";

/** `validate` and `schema`: experiment.yaml checked without serving anyone, and its JSON Schema. */
export function configCommands(io: CliIo, globals: () => { json?: true }): Command<any, any, any>[] {
  const validate = new Command("validate")
    .description("check an experiment file (every problem at once) without serving; exit 0 valid, 2 invalid")
    .argument("<experiment>", "experiment YAML file")
    .option("--max-params <n>", "largest model (parameters) the researcher would build", String(DEFAULT_MAX_PARAMS))
    .option("--json", "print one JSON object on stdout")
    .action(async (file, options) => {
      const config = await loadExperiment(file);
      const smallest = smallestInput(config.plan);
      if (smallest) checkPlanSize(config.plan, smallest, positiveInt(options.maxParams, "--max-params"));
      const summary = {
        valid: true,
        name: config.name,
        rounds: config.rounds,
        plan: planId(config.plan),
        aggregator: config.aggregator.name,
      };
      if (options.json || globals().json) io.stdout(`${JSON.stringify(summary)}\n`);
      else
        io.stderr(
          `${file}: valid (experiment "${config.name}", ${config.rounds} round(s), plan ${summary.plan.slice(0, 12)}, aggregator ${summary.aggregator})\n`,
        );
    });

  const schema = new Command("schema")
    .description("print the JSON Schema of experiment.yaml (for editors and CI checks)")
    .action(() => {
      io.stdout(`${JSON.stringify(experimentJsonSchema(), null, 2)}\n`);
    });
  return [validate, schema];
}
