import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parsePlan, planId, planJson } from "../../../src/ml/plan.js";
import { planCost } from "../../../src/ml/plan-size.js";
import { planDetails } from "../../../src/node/plans/plan-format.js";
import { createPlanRegistry } from "../../../src/node/plans/plan-registry.js";
import { nodeCli } from "../../support/cli.js";

const root = mkdtempSync(join(tmpdir(), "fbm-cli-plan-"));
after(() => rmSync(root, { recursive: true, force: true }));

const run = nodeCli;

const mlp = parsePlan({
  data: { target: "diagnosis", normalize: "standard" },
  model: [
    { dense: { units: 16, activation: "relu" } },
    { dropout: { rate: 0.2 } },
    { dense: { units: 1, activation: "sigmoid" } },
  ],
  loss: "binaryCrossentropy",
  optimizer: { name: "adam", learning_rate: 0.01 },
});
const cnn = parsePlan({
  data: { input: { height: 28, width: 28, channels: 1 } },
  model: [{ conv2d: { filters: 8, kernelSize: 3 } }, { flatten: {} }, { dense: { units: 10, activation: "softmax" } }],
  loss: "sparseCategoricalCrossentropy",
  optimizer: { name: "sgd", learning_rate: 0.1, momentum: 0.9 },
});

describe("fbm-node plan", () => {
  const home = join(root, "home");
  const emptyHome = join(root, "empty");
  const ids = [planId(mlp), planId(cnn)];

  before(async () => {
    for (const dir of [home, emptyHome]) assert.equal((await run("init", "--home", dir, "--name", "site-a")).code, 0);
    // What `serve` does when researchers first send these plans.
    const registry = await createPlanRegistry({ path: join(home, "plans.json") });
    await registry.recordRequest(ids[0], planJson(mlp), {
      experiment: "breast-cancer",
      researcher: "http://10.0.0.1:50051",
    });
    await registry.recordRequest(ids[1], planJson(cnn), { experiment: "mnist", researcher: "http://10.0.0.1:50051" });
    await registry.close();
  });

  it("list on a node never asked for a plan says so, and --json gives []", async () => {
    assert.deepEqual(await run("plan", "list", "--home", emptyHome), {
      code: 0,
      stdout: "",
      stderr: "No plans yet: a plan is recorded here when a researcher first asks this node to run it.\n",
    });
    assert.equal((await run("plan", "list", "--home", emptyHome, "--json")).stdout, "[]\n");
  });

  it("list prints a table of short ids, statuses, experiments and layer stacks", async () => {
    const { code, stdout, stderr } = await run("plan", "list", "--home", home);
    assert.equal(code, 0);
    assert.equal(stdout, "");
    const lines = stderr.trimEnd().split("\n");
    assert.match(lines[0], /^ID\s+STATUS\s+EXPERIMENT\s+REQUESTED\s+MODEL\s+NOTE$/);
    assert.match(
      lines[1],
      new RegExp(
        `^${ids[0].slice(0, 12)}\\s+pending\\s+breast-cancer\\s+\\S+ \\S+\\s+dense 16 relu → dropout 0.2 → dense 1 sigmoid$`,
      ),
    );
    assert.match(lines[2], /^[0-9a-f]{12}\s+pending\s+mnist\s+.*conv2d 8 3 → flatten → dense 10 softmax$/);
  });

  it("list --json prints one array of entries with the plan as an object", async () => {
    const { code, stdout } = await run("plan", "list", "--home", home, "--json");
    assert.equal(code, 0);
    const entries = JSON.parse(stdout);
    assert.deepEqual(
      entries.map((e: { id: string }) => e.id),
      ids,
    );
    assert.deepEqual(entries[0].plan, JSON.parse(planJson(mlp)));
    assert.deepEqual(entries[0].requestedBy, { experiment: "breast-cancer", researcher: "http://10.0.0.1:50051" });
    assert.equal(entries[0].planJson, undefined);
  });

  it("show ID (a 6-character prefix) prints the data preparation, layers, loss and optimizer", async () => {
    const { code, stderr } = await run("plan", "show", ids[1].slice(0, 6), "--home", home);
    assert.equal(code, 0, stderr);
    for (const line of [
      `id:        ${ids[1]}`,
      "status:    pending",
      "data:      normalize none, input 28×28×1",
      "model:     3 layer(s)",
      "  1  conv2d   filters 8, kernelSize 3",
      "  2  flatten  -",
      "  3  dense    units 10, activation softmax",
      "loss:      sparseCategoricalCrossentropy",
      "optimizer: sgd, learning_rate 0.1, momentum 0.9",
    ])
      assert.ok(stderr.split("\n").includes(line), `missing line "${line}" in:\n${stderr}`);
    assert.match(stderr, /^requested: \S+ by experiment "mnist" at http:\/\/10\.0\.0\.1:50051$/m);
  });

  it("show prints the plan's size on the dataset it was asked for: parameters and FLOPs per training sample", async () => {
    const registry = await createPlanRegistry({ path: join(home, "plans.json") });
    const entry = registry.get(ids[1])!;
    await registry.close();
    // 26 × 26 × 8 conv outputs of 9 multiply-adds, 5,408 × 10 dense multiply-adds; × 2 per multiply-add, × 3 with backward.
    const cost = { dataset: "mnist-a", ...planCost(cnn, [28, 28, 1]) };
    assert.equal(cost.flops, 3 * 2 * (26 * 26 * 8 * 9 + 5408 * 10));
    assert.match(
      planDetails(entry, cost),
      /^size: {6}54,170 parameters, about 6\.17e\+5 FLOPs per training sample \(forward and backward\) on dataset "mnist-a"/m,
    );
  });

  it("show draws a graph plan's layers with what each reads, and frozen layers", () => {
    const unet = parsePlan({
      data: { target: "y" },
      model: [
        { conv2d: { filters: 4, kernel_size: 3, padding: "same" }, name: "enc1", trainable: false },
        { maxPooling2d: {} },
        { upSampling2d: {}, name: "up" },
        { concatenate: {}, name: "skip", inputs: ["up", "enc1"] },
        { conv2d: { filters: 1, kernel_size: 1, activation: "sigmoid" } },
      ],
      loss: "dice",
      optimizer: { name: "adam", learning_rate: 0.01 },
    });
    const entry = {
      id: planId(unet),
      planJson: planJson(unet),
      status: "pending" as const,
      requestedAt: "2026-01-01T00:00:00.000Z",
      requestedBy: { experiment: "seg", researcher: "r" },
      decidedAt: "",
      note: "",
    };
    const text = planDetails(entry);
    assert.match(text, /^model: +5 layer\(s\), a graph: each layer reads the layers after ←$/m);
    assert.match(text, /^ {2}4 {2}skip +concatenate +← up, enc1 +-$/m);
    assert.match(text, /^ {2}1 {2}enc1 +conv2d +← input +filters 4, kernelSize 3, padding same \(frozen\)$/m);
    assert.match(text, /^ {2}5 {2}conv2d#5 +conv2d +← skip +filters 1, kernelSize 1, activation sigmoid$/m);
  });

  it("show --json prints one object", async () => {
    const { stdout } = await run("plan", "show", ids[0], "--home", home, "--json");
    const entry = JSON.parse(stdout);
    assert.deepEqual([entry.id, entry.status, entry.plan.loss], [ids[0], "pending", "binaryCrossentropy"]);
  });

  it("approve ID marks the plan approved in plans.json and prints the entry with --json", async () => {
    const { code, stdout } = await run("plan", "approve", ids[0].slice(0, 12), "--home", home, "--json");
    assert.equal(code, 0);
    assert.deepEqual([JSON.parse(stdout).id, JSON.parse(stdout).status], [ids[0], "approved"]);
    const [tables] = JSON.parse(readFileSync(join(home, "plans.json"), "utf8"));
    assert.equal(tables.plans[ids[0]].status, "approved");
  });

  it("reject ID --note T records the note, which list and show then print", async () => {
    const human = await run("plan", "reject", ids[1], "--note", "too big", "--home", home);
    assert.deepEqual(
      [human.code, human.stderr],
      [0, `Rejected plan ${ids[1].slice(0, 12)} (experiment "mnist"): too big\n`],
    );
    assert.match((await run("plan", "list", "--home", home)).stderr, /rejected\s+mnist.*softmax\s+too big\n$/);
    const shown = JSON.parse((await run("plan", "show", ids[1], "--home", home, "--json")).stdout);
    assert.deepEqual([shown.status, shown.note], ["rejected", "too big"]);
    assert.ok(!Number.isNaN(Date.parse(shown.decidedAt)));
  });

  const bad: [string, string[], RegExp][] = [
    [
      "an unknown id",
      ["approve", "0123456789ab"],
      /^Error: No plan "0123456789ab" on this node: it has not been asked to run it \(see `fbm-node plan list`\)$/,
    ],
    [
      "a prefix shorter than 6 characters",
      ["show", ids[0].slice(0, 5)],
      /^Error: Plan id "[0-9a-f]{5}" is too short: give at least 6 characters/,
    ],
    ["a missing id", ["reject"], /^Error: Missing required argument 'id' \(see --help\)$/],
  ];
  for (const [name, args, message] of bad) {
    it(`${args[0]} with ${name} exits 2 with one line and changes nothing`, async () => {
      const before = readFileSync(join(home, "plans.json"), "utf8");
      const result = await run("plan", ...args, "--home", home, "--json");
      assert.equal(result.code, 2);
      assert.equal(result.stdout, "");
      assert.match(result.stderr.trimEnd(), message);
      assert.equal(result.stderr.trimEnd().split("\n").length, 1);
      assert.equal(readFileSync(join(home, "plans.json"), "utf8"), before);
    });
  }

  it("plan list without a node home exits 2 saying how to create one", async () => {
    const missing = join(root, "nowhere");
    const result = await run("plan", "list", "--home", missing);
    assert.deepEqual(
      [result.code, result.stderr],
      [2, `Error: No node home at ${missing}: run \`fbm-node init --home ${missing}\` first\n`],
    );
  });
});

describe("fbm-node config max_params", () => {
  const home = join(root, "config-home");
  before(async () => assert.equal((await run("init", "--home", home)).code, 0));

  it("defaults to 10,000,000 and takes a whole number (underscores allowed)", async () => {
    assert.equal((await run("config", "get", "max_params", "--home", home)).stdout, "10000000\n");
    assert.equal((await run("config", "set", "max_params", "2_500_000", "--home", home)).code, 0);
    assert.equal((await run("config", "get", "max_params", "--home", home, "--json")).stdout, "2500000\n");
  });

  for (const value of ["0", "-5", "1.5", "lots", "1e6"]) {
    it(`refuses "${value}" with exit 2`, async () => {
      const result = await run("config", "set", "max_params", value, "--home", home);
      assert.deepEqual(
        [result.code, result.stderr],
        [
          2,
          `Error: Config key "max_params" must be a positive whole number of parameters like 10000000, got "${value}"\n`,
        ],
      );
    });
  }
});

describe("fbm-node config threads", () => {
  const home = join(root, "threads-home");
  before(async () => assert.equal((await run("init", "--home", home)).code, 0));

  it("defaults to auto (every core), takes a count, and goes back to auto", async () => {
    assert.equal((await run("config", "get", "threads", "--home", home)).stdout, "auto\n");
    assert.equal((await run("config", "set", "threads", "2", "--home", home)).code, 0);
    assert.equal((await run("config", "get", "threads", "--home", home, "--json")).stdout, "2\n");
    assert.equal((await run("config", "set", "threads", "auto", "--home", home)).code, 0);
    assert.equal((await run("config", "get", "threads", "--home", home, "--json")).stdout, '"auto"\n');
  });

  for (const value of ["0", "-1", "1.5", "all", "5000"]) {
    it(`refuses "${value}" with exit 2 and leaves the config as it was`, async () => {
      const result = await run("config", "set", "threads", value, "--home", home);
      assert.deepEqual(
        [result.code, result.stderr],
        [2, `Error: Config key "threads" must be auto (every core) or a whole number from 1 to 1024, got "${value}"\n`],
      );
      assert.equal((await run("config", "get", "threads", "--home", home)).stdout, "auto\n");
    });
  }
});
