import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
  ];
  for (const [what, argv, message] of cases) {
    it(`exits 2 with one line for ${what}, and writes no run folder`, async () => {
      const r = await researcherCli(...argv(), "--out", join(dir, "runs"));
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
