// A federated experiment driven round by round from plain Node, as from a notebook: run a round, look,
// change the settings, go on; stop, and resume later from the run folder's breakpoint.
//
//   npm run build:lib                         # once: builds the library to dist/
//   npx fbm-node serve                        # on each node (see README.md, Using it)
//   node examples/interactive.mjs experiment.yaml
//
// FBM_LISTEN (default 127.0.0.1:50051) and FBM_OUT (default runs) set where it serves and writes.
// Events are printed as JSON lines on stdout, notes on stderr.
import { createExperiment, loadExperiment } from "fbm";

const file = process.argv[2] ?? "experiment.yaml";
const config = await loadExperiment(file);
const options = {
  listen: process.env.FBM_LISTEN ?? "127.0.0.1:50051",
  outDir: process.env.FBM_OUT ?? "runs",
  overwrite: true,
  onEvent: (event) => console.log(JSON.stringify(event)),
};
const note = (text) => console.error(`# ${text}`);

// A first session: two rounds, with a change of settings in between.
const experiment = createExperiment(config, options);
try {
  const first = await experiment.runRound();
  note(`round ${first.round}: loss ${first.loss.toFixed(4)} on ${first.nodes.length} node(s)`);

  // Look, then change: keep half of each node's rows for validation, and add server momentum.
  experiment.setTraining({ test_ratio: 0.5 });
  experiment.setAggregator({ name: "fedavgm", server_lr: 1, momentum: 0.5 });
  const second = await experiment.runRound();
  note(`round ${second.round}: loss ${second.loss.toFixed(4)}, validation ${JSON.stringify(second.metrics.global)}`);

  const params = experiment.params();
  const values = params.reduce((n, p) => n + p.data.length, 0);
  note(`parameters after round ${experiment.round}: ${params.length} tensors, ${values} values`);
  note(`losses so far: ${experiment.history.map((e) => e.loss.toFixed(4)).join(", ")}`);
  const model = experiment.model(); // a TensorFlow.js model: predict, summary(), save()
  note(`model: ${model.layers.length} layers, ${model.countParams()} parameters`);
  model.dispose();
  await experiment.save(); // every round saved its breakpoint already; this also keeps the changed settings
} finally {
  await experiment.close();
}

// Later (another process would do the same): continue from the breakpoint, with the changed settings.
const resumed = createExperiment(config, { ...options, overwrite: false, resume: true });
try {
  const third = await resumed.runRound();
  note(`round ${third.round} after resuming: loss ${third.loss.toFixed(4)}`);
  const done = await resumed.finish();
  note(`done: model exported to ${done.model}`);
} finally {
  await resumed.close();
}
