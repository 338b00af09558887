import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { InputError } from "../../../src/common/errors.js";
import { ValidationError } from "../../../src/common/validation.js";
import {
  type Experiment,
  experimentJsonSchema,
  experimentSchema,
  loadExperiment,
  parseExperiment,
} from "../../../src/researcher/run/config.js";

const full = `
name: breast-cancer
tags: [breast-cancer, tabular]
rounds: 20
nodes: {min: 2, wait: 90s, sample: 0.5, round_timeout: 10m, on_failure: continue}
plan:
  data: {target: diagnosis, normalize: standard}
  model:
    - dense: {units: 16, activation: relu}
    - dense: {units: 1, activation: sigmoid}
  loss: binaryCrossentropy
  optimizer: {name: sgd, learning_rate: 0.05}
training: {epochs: 2, batch_size: 16, test_ratio: 0.25, test_on: [global], metrics: [accuracy, f1, auc], seed: 1}
aggregator: {name: fedadam, server_lr: 0.1}
`;

const expected: Experiment = {
  name: "breast-cancer",
  tags: ["breast-cancer", "tabular"],
  rounds: 20,
  nodes: { min: 2, waitMs: 90_000, sample: 0.5, roundTimeoutMs: 600_000, onFailure: "continue" },
  plan: {
    data: { target: "diagnosis", normalize: "standard" },
    model: [{ dense: { units: 16, activation: "relu" } }, { dense: { units: 1, activation: "sigmoid" } }],
    loss: "binaryCrossentropy",
    optimizer: { name: "sgd", learning_rate: 0.05 },
  },
  training: {
    epochs: 2,
    updates: 0,
    batchSize: 16,
    testRatio: 0.25,
    testOnGlobal: true,
    testOnLocal: false,
    metrics: ["accuracy", "f1", "auc"],
    seed: 1,
  },
  aggregator: { name: "fedadam", serverLr: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.001 },
};

const minimal = `
name: run.1
tags: [mnist]
rounds: 3
plan:
  data: {}
  model: [{flatten: {}}, {dense: {units: 10, activation: softmax}}]
  loss: sparseCategoricalCrossentropy
  optimizer: {name: adam, learning_rate: 0.001}
`;

describe("parseExperiment()", () => {
  it("reads a full experiment into camelCase fields with durations in milliseconds", () => {
    assert.deepEqual(parseExperiment(full, "exp.yaml"), expected);
  });

  it("fills the defaults of every optional section", () => {
    const e = parseExperiment(minimal, "exp.yaml");
    assert.deepEqual(e.nodes, { min: 1, waitMs: 60_000, sample: 1, roundTimeoutMs: 600_000, onFailure: "stop" });
    assert.deepEqual(e.training, {
      epochs: 1,
      updates: 0,
      batchSize: 32,
      testRatio: 0.2,
      testOnGlobal: true,
      testOnLocal: true,
      metrics: [],
      seed: 0,
    });
    assert.deepEqual(e.aggregator, { name: "fedavg" });
    assert.equal(e.plan.data.normalize, "none");
  });

  it("reads a fixed number of updates instead of epochs", () => {
    const e = parseExperiment(`${minimal}training: {updates: 50}\n`, "exp.yaml");
    assert.equal(e.training.updates, 50);
    assert.equal(e.training.epochs, 1);
  });

  it("reads a duration given as a number of seconds", () => {
    const e = parseExperiment(`${minimal}nodes: {wait: 2.5, round_timeout: 500ms}\n`, "exp.yaml");
    assert.equal(e.nodes.waitMs, 2500);
    assert.equal(e.nodes.roundTimeoutMs, 500);
  });

  const replace = (from: RegExp, to: string) => full.replace(from, to);
  const bad: [string, string, string][] = [
    ["unknown top-level key", `${full}epochs: 3\n`, 'Invalid experiment "exp.yaml": (top level): unknown key "epochs"'],
    [
      "unknown nested key",
      replace(/seed: 1/, "seed: 1, shuffle: true"),
      'Invalid experiment "exp.yaml": training: unknown key "shuffle"',
    ],
    [
      "wrong type",
      replace(/rounds: 20/, "rounds: many"),
      'Invalid experiment "exp.yaml": rounds: Invalid input: expected number, received string',
    ],
    ["wrong type in a list", replace(/tabular/, "3"), "tags[1]: Invalid input: expected string, received number"],
    ["missing required key", replace(/rounds: 20\n/, ""), "rounds: missing (number)"],
    [
      "bad duration",
      replace(/10m/, "10 minutes"),
      'nodes.round_timeout: invalid duration "10 minutes" (use a number of seconds',
    ],
    ["zero round timeout", replace(/10m/, "0s"), "nodes.round_timeout: must be longer than 0"],
    [
      "malformed YAML",
      replace(/\[breast-cancer, tabular\]/, "[breast-cancer"),
      'Cannot read experiment "exp.yaml": Flow sequence in block collection must be sufficiently indented and end with a ] at line 4',
    ],
    ["duplicate key", `${full}rounds: 3\n`, 'Cannot read experiment "exp.yaml": Map keys must be unique at line'],
    ["unknown layer", replace(/- dense: \{units: 1,/, "- densse: {units: 1,"), 'plan.model[1]: unknown layer "densse"'],
    ["bad layer option", replace(/units: 1,/, "units: 0,"), "plan.model[1].dense.units: Too small"],
    ["bad plan key", replace(/learning_rate/, "lr"), 'plan.optimizer: unknown key "lr"'],
    [
      "both epochs and updates",
      replace(/epochs: 2/, "epochs: 2, updates: 10"),
      "training.updates: give either epochs or updates, not both",
    ],
    ["unknown metric", replace(/auc\]/, "auroc]"), "training.metrics[2]: Invalid option"],
    [
      "metric of the wrong kind",
      replace(/f1, auc/, "f1, mse"),
      'training.metrics[2]: "mse" is a regression metric but plan.loss is binaryCrossentropy',
    ],
    [
      "unknown aggregator",
      replace(/fedadam, server_lr: 0.1/, "fedsgd"),
      'aggregator.name: unknown aggregator "fedsgd"',
    ],
    ["unknown aggregator option", replace(/server_lr: 0.1/, "mu: 0.1"), 'aggregator: unknown key "mu"'],
    [
      "krum with too few nodes",
      replace(/fedadam, server_lr: 0.1/, "krum, f: 1"),
      "nodes.min: krum with these options needs at least 5 nodes a round, got 2",
    ],
    ["name not usable as a folder", replace(/name: breast-cancer/, "name: ../etc"), "name: use only letters"],
    ["no tags", replace(/\[breast-cancer, tabular\]/, "[]"), "tags: Too small"],
    ["a list instead of a mapping", "- a\n- b\n", "(top level): Invalid input: expected object, received array"],
    ["empty file", "# nothing\n", 'Cannot read experiment "exp.yaml": the file is empty'],
    [
      "auc under secure aggregation",
      `${full.replace(/metrics: \[[^\]]*\]/, "metrics: [accuracy, auc]")}secagg: {}\n`,
      "training.metrics[1]: auc cannot be pooled under secure aggregation",
    ],
    [
      "distributed DP with a secagg clip that would clamp the noise",
      `${full}dp: {mode: central, noise_multiplier: 1, clip_norm: 0.5}\nsecagg: {clip: 2}\n`,
      "secagg.clip: 2 is too small for dp's noise: with clip_norm 0.5 and noise_multiplier 1 it must be at least 2.5",
    ],
    [
      "batchNormalization under local DP",
      `${replace(/- dense: \{units: 16, activation: relu\}/, "- batchNormalization: {momentum: 0.01}")}dp: {mode: local, noise_multiplier: 1.1, max_grad_norm: 1}\n`,
      "plan.model[0]: layer 0 (batchNormalization) keeps moving statistics computed from raw rows, which differential privacy neither clips nor noises: use layerNormalization instead, or run without dp",
    ],
    [
      "batchNormalization under central DP",
      `${replace(/- dense: \{units: 16, activation: relu\}/, "- dense: {units: 16}\n    - batchNormalization: {}")}dp: {mode: central, noise_multiplier: 1, clip_norm: 0.5}\n`,
      "plan.model[1]: layer 1 (batchNormalization)",
    ],
    [
      "central DP with krum",
      `${replace(/fedadam, server_lr: 0.1/, "krum, f: 0")}dp: {mode: central, noise_multiplier: 1, clip_norm: 0.5}\n`,
      "dp.mode: central DP adds noise to one mean of clipped updates, which krum cannot use",
    ],
    [
      "central DP with qfedavg",
      `${replace(/fedadam, server_lr: 0.1/, "qfedavg")}dp: {mode: central, noise_multiplier: 1, clip_norm: 0.5}\n`,
      "which qfedavg cannot use",
    ],
    [
      "bulyan with too few nodes",
      replace(/fedadam, server_lr: 0.1/, "bulyan, f: 1"),
      "nodes.min: bulyan with these options needs at least 7 nodes a round, got 2",
    ],
    [
      "qfedavg without a test split",
      replace(/fedadam, server_lr: 0.1/, "qfedavg").replace(/test_ratio: [0-9.]+/, "test_ratio: 0"),
      "training.test_ratio: qfedavg weighs each node by its loss of the global model on its test split",
    ],
    [
      "central DP with trimmed_mean",
      `${replace(/fedadam, server_lr: 0.1/, "trimmed_mean")}dp: {mode: central, noise_multiplier: 1, clip_norm: 0.5}\n`,
      "which trimmed_mean cannot use",
    ],
    [
      "central DP with scaffold",
      `${replace(/fedadam, server_lr: 0.1/, "scaffold")}dp: {mode: central, noise_multiplier: 1, clip_norm: 0.5}\n`,
      "which scaffold cannot use",
    ],
    [
      "local DP without a clipping bound",
      `${full}dp: {mode: local, noise_multiplier: 1.1}\n`,
      "dp.max_grad_norm: missing (number)",
    ],
    [
      "local DP with central's key",
      `${full}dp: {mode: local, noise_multiplier: 1.1, max_grad_norm: 1, clip_norm: 1}\n`,
      'dp: unknown key "clip_norm"',
    ],
    [
      "DP without noise",
      `${full}dp: {mode: local, noise_multiplier: 0, max_grad_norm: 1}\n`,
      "dp.noise_multiplier: must be above 0",
    ],
    [
      "DP with δ of 1",
      `${full}dp: {mode: central, noise_multiplier: 1, clip_norm: 1, delta: 1}\n`,
      "dp.delta: Too big",
    ],
    [
      "unknown DP mode",
      `${full}dp: {mode: global, noise_multiplier: 1}\n`,
      'dp.mode: unknown DP mode "global" (local or central)',
    ],
  ];
  for (const [what, text, message] of bad) {
    it(`rejects ${what} with a message naming the key`, () => {
      assert.throws(
        () => parseExperiment(text, "exp.yaml"),
        (e: unknown) => {
          assert.ok(e instanceof InputError, `InputError, got ${String(e)}`);
          assert.ok(e.message.includes(message), `"${e.message}" should contain "${message}"`);
          const [first, ...more] = e.message.split("\n");
          assert.ok(more.length === 0 || /\d+ problems:$/.test(first), "one line, or a count and one line per problem");
          return true;
        },
      );
    });
  }
});

describe("parseExperiment() problems", () => {
  const problemsOf = (text: string) => {
    try {
      parseExperiment(text, "exp.yaml");
    } catch (error) {
      assert.ok(error instanceof ValidationError, `ValidationError, got ${String(error)}`);
      return error.problems.map((p) => `${p.path || "(top level)"}: ${p.message}`);
    }
    assert.fail("expected a ValidationError");
  };

  it("lists every problem of the file at once, each with its path", () => {
    const text = full
      .replace("rounds: 20", "rounds: 0")
      .replace("units: 16", "units: -1")
      .replace("test_ratio: 0.25", "test_ratio: 2");
    assert.deepEqual(
      problemsOf(text),
      [
        "rounds: Too small: expected number to be >=1",
        "plan.model[0].dense.units: Too small: expected number to be >=1",
        "training.test_ratio: Too big: expected number to be <2",
      ].map((line) => line.replace("<2", "<1")),
    );
  });

  it("suggests the closest known key at the misspelt key's path", () => {
    const text = full
      .replace("rounds:", "roudns:")
      .replace("wait:", "waitt:")
      .replace("{units: 16,", "{unitz: 16,")
      .replace("batch_size", "batchsize")
      .replace("server_lr", "server_rl");
    const problems = problemsOf(text);
    for (const line of [
      '(top level): unknown key "roudns" (did you mean "rounds"?)',
      'nodes: unknown key "waitt" (did you mean "wait"?)',
      'plan.model[0].dense: unknown key "unitz" (did you mean "units"?)',
      'training: unknown key "batchsize" (did you mean "batch_size"?)',
      'aggregator: unknown key "server_rl" (did you mean "server_lr"?)',
    ])
      assert.ok(problems.includes(line), `${line} in ${problems.join(" | ")}`);
  });

  it("suggests nothing for a key unlike any known one", () => {
    assert.deepEqual(problemsOf(full.replace("seed: 1}", "seed: 1, colour: blue}")), [
      'training: unknown key "colour"',
    ]);
  });

  it("suggests a layer name for a misspelt one", () => {
    const [problem] = problemsOf(full.replace("- dense: {units: 16", "- desne: {units: 16"));
    assert.match(problem, /^plan\.model\[0\]: unknown layer "desne" \(did you mean "dense"\?\)/);
  });

  it("takes layer options in snake_case as in camelCase, with the same plan", () => {
    const snake = parseExperiment(
      full.replace(
        "{units: 16, activation: relu}",
        "{units: 16, activation: relu, use_bias: false, kernel_initializer: heNormal}",
      ),
      "exp.yaml",
    );
    const camel = parseExperiment(
      full.replace(
        "{units: 16, activation: relu}",
        "{units: 16, activation: relu, useBias: false, kernelInitializer: heNormal}",
      ),
      "exp.yaml",
    );
    assert.deepEqual(snake.plan.model[0], {
      dense: { units: 16, activation: "relu", useBias: false, kernelInitializer: "heNormal" },
    });
    assert.deepEqual(snake.plan, camel.plan);
  });

  it("refuses a layer option given in both spellings", () => {
    assert.deepEqual(problemsOf(full.replace("{units: 16,", "{units: 16, useBias: true, use_bias: false,")), [
      'plan.model[0].dense: give "useBias" once, in one spelling',
    ]);
  });

  it("names a misspelt snake_case layer option as written", () => {
    assert.deepEqual(problemsOf(full.replace("{units: 16,", "{units: 16, use_bais: true,")), [
      'plan.model[0].dense: unknown key "use_bais" (did you mean "use_bias"?)',
    ]);
  });
});

describe("experimentJsonSchema()", () => {
  it("describes experiment.yaml from the same definition: keys, enums, layers in both spellings", () => {
    const schema = experimentJsonSchema() as any;
    assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
    assert.deepEqual(Object.keys(schema.properties).sort(), Object.keys(experimentSchema.shape).sort());
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(schema.properties.nodes.properties.on_failure.enum, ["stop", "continue"]);
    const layers = schema.properties.plan.properties.model.items.anyOf;
    const conv = layers.find((l: any) => l.required[0] === "conv2d").properties.conv2d.anyOf[0];
    assert.ok(conv.properties.kernelSize && conv.properties.kernel_size);
    assert.deepEqual(conv.required, ["filters", "kernelSize"]);
  });
});

describe("parseExperiment(): dp", () => {
  it("reads local DP-SGD and central DP, δ 1e-5 by default", () => {
    const local = parseExperiment(`${full}dp: {mode: local, noise_multiplier: 1.1, max_grad_norm: 1.0}\n`, "e.yaml");
    assert.deepEqual(local.dp, { mode: "local", noiseMultiplier: 1.1, clipNorm: 1, delta: 1e-5 });
    const central = parseExperiment(
      `${full}dp: {mode: central, noise_multiplier: 1.0, clip_norm: 0.5, delta: 1e-6}\n`,
      "e.yaml",
    );
    assert.deepEqual(central.dp, { mode: "central", noiseMultiplier: 1, clipNorm: 0.5, delta: 1e-6 });
  });

  it("takes dp together with secagg: local DP-SGD under masking, and central DP as distributed noise", () => {
    // Secure aggregation needs 3 nodes a round at least; AUC's score runs cannot be masked.
    const noAuc = full.replace("metrics: [accuracy, f1, auc]", "metrics: [accuracy, f1]").replace(/min: 2\b/, "min: 3");
    const local = parseExperiment(
      `${noAuc}dp: {mode: local, noise_multiplier: 1.1, max_grad_norm: 1}\nsecagg: {}\n`,
      "e",
    );
    assert.equal(local.dp?.mode, "local");
    const central = parseExperiment(
      `${noAuc}dp: {mode: central, noise_multiplier: 1, clip_norm: 0.5}\nsecagg: {clip: 2.5}\n`,
      "e.yaml",
    );
    assert.equal(central.secagg?.clip, 2.5);
  });
});

describe("loadExperiment()", () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-config-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the file at the path", async () => {
    const path = join(dir, "exp.yaml");
    writeFileSync(path, full);
    assert.deepEqual(await loadExperiment(path), expected);
  });

  it("names a missing file", async () => {
    const path = join(dir, "missing.yaml");
    await assert.rejects(loadExperiment(path), { message: `Cannot read experiment "${path}": no such file` });
  });
});
