import { Command } from "@commander-js/extra-typings";
import type { CliIo } from "../../common/cli.js";
import { InputError } from "../../common/errors.js";
import { classificationMetrics, regressionMetrics, type TaskKind } from "../../ml/metrics.js"; // no tfjs: cheap to load

/** TensorFlow.js and the data readers, loaded when a command runs (keeps --help fast). */
async function ml() {
  const [backend, csv, batches, evaluate, exported, metrics] = await Promise.all([
    import("../../ml/backend.js"),
    import("../../ml/data/model-table.js"),
    import("../../ml/batches.js"),
    import("../../ml/evaluate.js"),
    import("../../ml/export.js"),
    import("../../ml/metrics.js"),
  ]);
  await backend.selectBackend();
  return { ...csv, ...batches, ...evaluate, ...exported, ...metrics };
}

/** `evaluate` and `predict`: an exported model on a local file, prepared exactly as in training. */
export function modelCommands(io: CliIo, globals: () => { json?: true }): Command<any, any, any>[] {
  const evaluate = new Command("evaluate")
    .description("metrics of an exported model on a local CSV file")
    .requiredOption("--model <dir>", "exported model folder (<out>/<name>/model)")
    .requiredOption("--data <file>", "CSV file with the same columns as in training")
    .option("--target <col>", "target column (default: the plan's)")
    .option("--json", "print the result as one JSON object on stdout")
    .action(async (options) => {
      const { loadModel, loadCsvForModel, taskKind, evaluateModel, createRowSource, allRows } = await ml();
      const exported = await loadModel(options.model);
      const target = options.target ?? exported.plan.data.target;
      if (!target) throw new InputError("No target column: pass --target");
      const data = await loadCsvForModel(options.data, exported, { target });
      try {
        const kind = taskKind(exported.plan);
        const result = await evaluateModel(exported.model, createRowSource(data, exported.normalization), {
          plan: exported.plan,
          metrics: [...defaultMetricsFor(kind), "loss"],
          indices: allRows(data.rows),
        });
        const out = { samples: result.samples, metrics: result.values };
        if (options.json || globals().json) io.stdout(`${JSON.stringify(out)}\n`);
        else
          io.stderr(
            `${result.samples} samples  ${Object.entries(result.values)
              .map(([k, v]) => `${k} ${v.toFixed(4)}`)
              .join("  ")}\n`,
          );
      } finally {
        exported.model.dispose();
      }
    });

  const predict = new Command("predict")
    .description("predictions of an exported model for each row of a local CSV file")
    .requiredOption("--model <dir>", "exported model folder (<out>/<name>/model)")
    .requiredOption("--data <file>", "CSV file with the feature columns used in training")
    .option("--json", "print the predictions as one JSON object on stdout")
    .action(async (options) => {
      const { loadModel, loadCsvForModel, predictWithModel } = await ml();
      const exported = await loadModel(options.model);
      const data = await loadCsvForModel(options.data, exported);
      try {
        const p = await predictWithModel(exported.model, data, exported.normalization);
        const rows = Array.from({ length: p.rows }, (_, r) =>
          Array.from(p.values.subarray(r * p.outputs, (r + 1) * p.outputs)),
        );
        const predictions = p.outputs === 1 ? rows.map((r) => r[0]) : rows;
        if (options.json || globals().json) io.stdout(`${JSON.stringify({ outputs: p.outputs, predictions })}\n`);
        else io.stdout(`${predictions.map((r) => (Array.isArray(r) ? r.join(",") : String(r))).join("\n")}\n`);
      } finally {
        exported.model.dispose();
      }
    });
  return [evaluate, predict];
}

/** Everything `evaluate` reports: every metric of the task's kind (multiclass: accuracy and macro f1). */
function defaultMetricsFor(kind: TaskKind): string[] {
  if (kind === "multiclass") return ["accuracy", "f1"];
  return [...(kind === "binary" ? classificationMetrics : regressionMetrics)];
}
