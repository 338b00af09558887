import { Command, Option } from "@commander-js/extra-typings";
import type { CliIo } from "../../common/cli.js";
import { InputError } from "../../common/errors.js";
import { localDataTypes } from "../../ml/data/local-data.js";
import { classificationMetrics, regressionMetrics, type TaskKind } from "../../ml/metrics.js"; // no tfjs: cheap to load

/** TensorFlow.js and the data readers, loaded when a command runs (keeps --help fast). */
async function ml() {
  const [backend, local, batches, evaluate, exported, metrics, table, atomic] = await Promise.all([
    import("../../ml/backend.js"),
    import("../../ml/data/local-data.js"),
    import("../../ml/batches.js"),
    import("../../ml/evaluate.js"),
    import("../../ml/export.js"),
    import("../../ml/metrics.js"),
    import("../../ml/prediction-table.js"),
    import("../../common/atomic-write.js"),
  ]);
  const labels = await import("../../ml/data/nifti-label.js");
  await backend.selectBackend();
  return { ...local, ...batches, ...evaluate, ...exported, ...metrics, ...table, ...atomic, ...labels };
}

const modelHelp = "exported model folder (<out>/<name>/model) or the run folder holding it";
const dataHelp =
  "CSV file, IDX images file (with --labels), image folder (one sub-folder per class) or medical folder (one sub-folder per subject)";
const typeOption = () =>
  new Option(
    "--type <type>",
    "what --data is (default: a folder is images, an IDX name or --labels idx, else csv)",
  ).choices(localDataTypes);

/** `evaluate` and `predict`: an exported model on a local file, prepared exactly as in training. */
export function modelCommands(io: CliIo, globals: () => { json?: true }): Command<any, any, any>[] {
  const evaluate = new Command("evaluate")
    .description("metrics of an exported model on a local CSV file, IDX pair or image folder")
    .requiredOption("--model <dir>", modelHelp)
    .requiredOption("--data <path>", dataHelp)
    .addOption(typeOption())
    .option("--labels <file>", "IDX labels file of --data")
    .option("--target <col>", "CSV target column (default: the plan's)")
    .option("--json", "print the result as one JSON object on stdout")
    .action(async (options) => {
      const { loadModel, loadLocalData, taskKind, evaluateModel, createRowSource, allRows } = await ml();
      const exported = await loadModel(options.model);
      try {
        const target = options.target ?? exported.plan.data.target;
        const local = await loadLocalData(options.data, {
          type: options.type,
          labels: options.labels,
          target,
          features: exported.features,
          preparation: exported.preparation,
          medical: exported.plan.data,
          sampleShape: exported.sampleShape,
        });
        if (local.type === "csv" && !target) throw new InputError("No target column: pass --target");
        if (local.type === "idx" && !options.labels)
          throw new InputError("No labels for IDX images: pass --labels LABELS (the IDX labels file)");
        try {
          const kind = taskKind(exported.plan);
          const result = await evaluateModel(exported.model, createRowSource(local.data, exported.normalization), {
            plan: exported.plan,
            metrics: [...defaultMetricsFor(kind), "loss"],
            indices: allRows(local.data.rows),
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
          local.data.close?.();
        }
      } finally {
        exported.model.dispose();
      }
    });

  const predict = new Command("predict")
    .description(
      "predictions of an exported model as CSV: id, predicted label and class probabilities (regression: the value); " +
        "a segmentation model on a medical folder writes one NIfTI label volume per subject to --out DIR",
    )
    .requiredOption("--model <dir>", modelHelp)
    .requiredOption("--data <path>", dataHelp)
    .addOption(typeOption())
    .option("--labels <file>", "IDX labels file of --data (not needed)")
    .option("--out <path>", "write the CSV to FILE (atomically) instead of stdout; medical folder: the output folder")
    .option("--json", "print the predictions as one JSON object on stdout")
    .action(async (options) => {
      const {
        loadModel,
        loadLocalData,
        predictWithModel,
        taskKind,
        predictionTable,
        toCsv,
        writeFileAtomic,
        writeLabelVolumes,
      } = await ml();
      const exported = await loadModel(options.model);
      try {
        const local = await loadLocalData(options.data, {
          type: options.type,
          labels: options.labels,
          features: exported.features,
          preparation: exported.preparation,
          medical: exported.plan.data,
          sampleShape: exported.sampleShape,
        });
        try {
          const segmentation = local.sources && taskKind(exported.plan) === "segmentation";
          if (segmentation && !options.out) {
            throw new InputError(
              "A segmentation model on a medical folder writes one NIfTI label volume per subject: pass --out DIR",
            );
          }
          const p = await predictWithModel(exported.model, local.data, exported.normalization);
          if (segmentation && local.sources && options.out) {
            const files = await writeLabelVolumes(
              options.out,
              local.sources,
              p.values,
              { slices: exported.plan.data.slices!, crop: exported.plan.data.crop },
              exported.sampleShape,
            );
            if (options.json || globals().json) io.stdout(`${JSON.stringify({ volumes: files })}\n`);
            else io.stderr(`${files.length} label volume(s) written to ${options.out}\n`);
            return;
          }
          const table = predictionTable({
            ...p,
            kind: taskKind(exported.plan),
            ids: local.ids,
            classes: exported.classes,
          });
          if (options.json || globals().json) {
            const rows = Array.from({ length: p.rows }, (_, r) =>
              Array.from(p.values.subarray(r * p.outputs, (r + 1) * p.outputs)),
            );
            const predictions = p.outputs === 1 ? rows.map((r) => r[0]) : rows;
            const labels = table.columns[1] === "label" ? table.rows.map((row) => row[1]) : undefined;
            io.stdout(
              `${JSON.stringify({ outputs: p.outputs, ids: table.rows.map((row) => row[0]), labels, predictions })}\n`,
            );
          } else if (options.out) {
            await writeFileAtomic(options.out, toCsv(table));
            io.stderr(`${p.rows} predictions written to ${options.out}\n`);
          } else io.stdout(toCsv(table));
        } finally {
          local.data.close?.();
        }
      } finally {
        exported.model.dispose();
      }
    });
  return [evaluate, predict];
}

/** Everything `evaluate` reports: every metric of the task's kind (multiclass: accuracy and macro f1). */
function defaultMetricsFor(kind: TaskKind): string[] {
  if (kind === "multiclass") return ["accuracy", "f1"];
  if (kind === "segmentation") return ["dice", "iou"];
  return [...(kind === "binary" ? classificationMetrics : regressionMetrics)];
}
