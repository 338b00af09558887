import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { researcherCli } from "../../support/cli.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-rcli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const valid = [
  "name: ok",
  "tags: [t]",
  "rounds: 1",
  "plan:",
  "  data: {target: y}",
  "  model: [{dense: {units: 1, activation: sigmoid}}]",
  "  loss: binaryCrossentropy",
  "  optimizer: {name: sgd, learning_rate: 0.1}",
].join("\n");

const aliasBomb = [
  "a: &a [x, x, x, x, x, x, x, x, x]",
  ...Array.from({ length: 8 }, (_, i) => {
    const name = String.fromCharCode(98 + i);
    const prev = String.fromCharCode(97 + i);
    return `${name}: &${name} [${Array(9).fill(`*${prev}`).join(", ")}]`;
  }),
].join("\n");
const bigPlan = valid.replace(
  "model: [{dense: {units: 1, activation: sigmoid}}]",
  "model: [{dense: {units: 65536}}, {dense: {units: 65536}}, {dense: {units: 1, activation: sigmoid}}]",
);

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("fbm-researcher bad input", () => {
  const cases: [string, () => string[], RegExp][] = [
    ["a missing experiment file", () => [join(dir, "nope.yaml")], /nope\.yaml/],
    [
      "malformed YAML",
      () => [file("bad.yaml", "name: [unclosed\nrounds: 1")],
      /Cannot read experiment "[^"]*bad\.yaml": .*line/,
    ],
    [
      "an unknown layer",
      () => [file("layer.yaml", valid.replace("dense: {units: 1, activation: sigmoid}", "lstm: {units: 4}"))],
      /plan\.model\[0\]: unknown layer "lstm"/,
    ],
    ["an unknown key", () => [file("key.yaml", `${valid}\nround_robin: true`)], /unknown key "round_robin"/],
    ["a wrong type", () => [file("type.yaml", valid.replace("rounds: 1", "rounds: many"))], /rounds: /],
    ["an unknown flag", () => [file("flag.yaml", valid), "--listn", "1.2.3.4:5"], /Unknown option '--listn'/],
    [
      "a bad listen address",
      () => [file("listen.yaml", valid), "--listen", "nowhere", "--out", join(dir, "runs")],
      /Invalid listen address "nowhere"/,
    ],
    [
      "a YAML alias bomb",
      () => [file("bomb.yaml", aliasBomb)],
      /^Error: Cannot read experiment "[^"]*bomb\.yaml": .*alias.*; fix: /i,
    ],
    [
      "a batch size beyond the wire's uint32",
      () => [file("batch.yaml", `${valid}\ntraining: {batch_size: 1e15}`)],
      /training\.batch_size: Too big/,
    ],
    [
      "a seed beyond uint32",
      () => [file("seed.yaml", `${valid}\ntraining: {seed: 4294967296}`)],
      /training\.seed: Too big/,
    ],
    [
      "a plan too big for the researcher's max_params",
      () => [file("big.yaml", bigPlan), "--listen", "127.0.0.1:0"],
      /^Error: Cannot run the plan: its model has 4,295,229,441 parameters on inputs \[1\], more than this researcher's max_params 10,000,000; fix: /,
    ],
    [
      "a plan above a lowered --max-params",
      () => [file("small.yaml", valid), "--listen", "127.0.0.1:0", "--max-params", "1"],
      /more than this researcher's max_params 1;/,
    ],
    [
      "an output folder behind a file",
      () => [file("out1.yaml", valid), "--listen", "127.0.0.1:0", "--out", join(file("plain-file", ""), "runs")],
      /^Error: Cannot write the run folder .*plain-file\/runs\/ok: a file stands in the way; fix: choose another --out/,
    ],
    [
      "an output folder path too long",
      () => [file("out2.yaml", valid), "--listen", "127.0.0.1:0", "--out", join(dir, "x".repeat(300))],
      /^Error: Cannot write the run folder .*: the path is too long; fix: /,
    ],
    [
      "an output folder where folders cannot be made (/proc/1: Node's recursive mkdir spins there)",
      () => [file("out3.yaml", valid), "--listen", "127.0.0.1:0", "--out", "/proc/1"],
      /^Error: Cannot write the run folder \/proc\/1\/ok: folders cannot be made there; fix: /,
    ],
    [
      "an experiment name too long for a folder",
      () => [file("long.yaml", valid.replace("name: ok", `name: ${"n".repeat(300)}`))],
      /name: at most 200 characters/,
    ],
    [
      "an unknown --log-format",
      () => ["--log-format", "xml", file("fmt.yaml", valid)],
      /^Error: Invalid --log-format "xml": give text or json$/,
    ],
    [
      "an IPv6 listen address with a zone id",
      () => [file("zone.yaml", valid), "--listen", "[fe80::1%lo]:0", "--insecure"],
      /^Error: Invalid listen address "\[fe80::1%lo\]:0": IPv6 zone ids \(%lo\) are not supported; fix: /,
    ],
    [
      "a --max-params that is not a number",
      () => [file("mp.yaml", valid), "--max-params", "lots"],
      /Invalid --max-params "lots"/,
    ],
  ];
  for (const [what, argv, message] of cases) {
    it(`exits 2 with one line for ${what}, and writes no run folder`, async () => {
      const args = argv();
      const r = await researcherCli(...args, ...(args.includes("--out") ? [] : ["--out", join(dir, "runs")]));
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, "");
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^Error: /);
      assert.match(lines[0], message);
      assert.equal(existsSync(join(dir, "runs", "ok")), false);
    });
  }

  it("prints --help and exits 0 without loading TensorFlow.js", async () => {
    const r = await researcherCli("--help");
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: fbm-researcher/);
  });
});

describe("fbm-researcher help, validate, schema", () => {
  it("`help` prints what --help prints, and `help validate` the command's help", async () => {
    const [viaCommand, viaFlag] = await Promise.all([researcherCli("help"), researcherCli("--help")]);
    assert.equal(viaCommand.code, 0);
    assert.equal(viaCommand.stdout, viaFlag.stdout);
    const sub = await researcherCli("help", "validate");
    assert.equal(sub.code, 0);
    assert.match(sub.stdout, /Usage: fbm-researcher validate \[options\] <experiment>/);
  });

  it("validate exits 0 on a valid file, with a JSON summary under --json", async () => {
    const r = await researcherCli("--json", "validate", file("valid.yaml", valid));
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.valid, true);
    assert.equal(summary.name, "ok");
    assert.match(summary.plan, /^[0-9a-f]{64}$/);
  });

  it("validate exits 2 listing every problem, and with --json also one `error` event on stdout", async () => {
    const bad = valid.replace("rounds: 1", "roudns: 1").replace("units: 1,", "unitz: 1,");
    const r = await researcherCli("validate", "--json", file("bad.yaml", bad));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Error: Invalid experiment ".*bad\.yaml": 4 problems:\n/);
    assert.match(r.stderr, /\(top level\): unknown key "roudns" \(did you mean "rounds"\?\)/);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 1);
    const event = JSON.parse(lines[0]);
    assert.equal(event.event, "error");
    assert.equal(event.exit, 2);
    assert.deepEqual(event.problems, [
      { path: "plan.model[0].dense", message: 'unknown key "unitz" (did you mean "units"?)' },
      { path: "", message: 'unknown key "roudns" (did you mean "rounds"?)' },
      { path: "rounds", message: "missing (number)" },
      { path: "plan.model[0].dense.units", message: "missing (number)" },
    ]);
  });

  it("validate refuses what the run would refuse: a 300-character name, an unknown --log-format", async () => {
    const long = await researcherCli(
      "validate",
      file("long-name.yaml", valid.replace("name: ok", `name: ${"n".repeat(300)}`)),
    );
    assert.equal(long.code, 2);
    assert.match(long.stderr, /name: at most 200 characters \(it names the run folder\)/);
    const format = await researcherCli("--log-format", "xml", "validate", file("fmt.yaml", valid));
    assert.deepEqual([format.code, format.stderr], [2, 'Error: Invalid --log-format "xml": give text or json\n']);
  });

  it("validate refuses a plan too big for --max-params without serving", async () => {
    const r = await researcherCli("validate", file("big.yaml", bigPlan));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /more than this researcher's max_params/);
  });

  it("an error under --json is also an `error` event on stdout, usage errors included", async () => {
    for (const argv of [
      ["--json", "missing.yaml"],
      ["--json", "--no-such-flag"],
    ]) {
      const r = await researcherCli(...argv);
      assert.equal(r.code, 2);
      const event = JSON.parse(r.stdout);
      assert.equal(event.event, "error");
      assert.equal(`Error: ${event.message}\n`, r.stderr);
    }
  });

  it("schema prints the JSON Schema of experiment.yaml", async () => {
    const r = await researcherCli("schema");
    assert.equal(r.code, 0);
    const schema = JSON.parse(r.stdout);
    assert.equal(schema.title, "fbm experiment.yaml");
    assert.deepEqual(schema.required, ["name", "tags", "rounds", "plan"]);
  });
});

describe("fbm-researcher --overwrite", () => {
  const holding = () => {
    const out = mkdtempSync(join(dir, "runs-"));
    mkdirSync(join(out, "ok"));
    writeFileSync(join(out, "ok", "state.json"), '{"round":7}');
    writeFileSync(join(out, "ok", "history.jsonl"), "{}\n");
    return out;
  };
  const quick = () => file("quick.yaml", `${valid}\nnodes: {min: 1, wait: 0.2s}`);

  it("is needed to run again into a folder that holds a run", async () => {
    const out = holding();
    const r = await researcherCli(quick(), "--out", out, "--listen", "127.0.0.1:0");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /already holds a run: pass --resume to continue it, --overwrite to replace it/);
  });

  it("keeps the old run when the new one fails before writing anything", async () => {
    const out = holding();
    const r = await researcherCli(quick(), "--out", out, "--listen", "127.0.0.1:0", "--overwrite");
    assert.equal(r.code, 1, r.stderr); // no node came
    assert.equal(readFileSync(join(out, "ok", "state.json"), "utf8"), '{"round":7}');
    assert.deepEqual(readdirSync(out), ["ok"]);
  });

  it("cannot be combined with --resume", async () => {
    const r = await researcherCli(quick(), "--out", holding(), "--overwrite", "--resume");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Cannot both --resume and --overwrite/);
  });
});
