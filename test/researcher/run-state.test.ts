import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { InputError } from "../../src/common/errors.js";
import { parsePlan } from "../../src/ml/plan.js";
import { decodeParams, encodeParams } from "../../src/researcher/params-json.js";
import { createProgressPrinter } from "../../src/researcher/progress-printer.js";
import { openRunFolder } from "../../src/researcher/run-folder.js";
import { planInput } from "../../src/ml/plan-input.js";
import { commonInput } from "../../src/researcher/sample-shape.js";
import type { DatasetInfo } from "../../src/wire/index.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-run-state-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("run folder", () => {
  it("is created on the first write, replaced atomically, and refused without --resume once it holds a run", async () => {
    const folder = await openRunFolder(dir, "study", { resume: false });
    assert.equal(existsSync(folder.dir), false);
    await folder.writeState({ round: 1 });
    await folder.writeHistory([{ round: 1 }, { round: 2 }]);
    assert.deepEqual(readdirSync(folder.dir).sort(), ["history.jsonl", "state.json"]);
    await assert.rejects(openRunFolder(dir, "study", { resume: false }), (e) => e instanceof InputError && /pass --resume/.test(e.message));
    const resumed = await openRunFolder(dir, "study", { resume: true });
    assert.deepEqual(await resumed.readState(), { round: 1 });
  });
});

describe("breakpoint parameters", () => {
  it("round-trip bit-exact, NaN and -0 included", () => {
    const params = [
      { name: "w", shape: [2, 2], dtype: "float32" as const, data: Float32Array.from([1.5, -0, NaN, 3e-38]) },
      { name: "n", shape: [1], dtype: "int32" as const, data: Int32Array.from([-7]) },
    ];
    const back = decodeParams(JSON.parse(JSON.stringify(encodeParams(params))));
    assert.deepEqual(back.map((t) => [t.name, t.shape, t.dtype]), [["w", [2, 2], "float32"], ["n", [1], "int32"]]);
    assert.ok(Object.is(back[0].data[1], -0));
    assert.ok(Number.isNaN(back[0].data[2]));
    assert.equal(back[0].data[3], Math.fround(3e-38));
    assert.equal(back[1].data[0], -7);
  });
});

describe("inputs across nodes", () => {
  const plan = parsePlan({ data: { target: "y" }, model: [{ dense: { units: 1 } }], loss: "meanSquaredError", optimizer: { name: "sgd", learning_rate: 0.1 } });
  const csv = (columns: string[]): DatasetInfo => ({
    id: "d", name: "d", type: "csv", tags: [], description: "", shape: [10, columns.length], sampleCount: 10,
    columns: columns.map((name) => ({ name, dtype: "float64" })), classes: [], target: "y", createdAt: "",
  });

  it("uses every column but the target as features", () => {
    assert.deepEqual(planInput(plan, csv(["a", "y", "b"])), { sampleShape: [2], features: ["a", "b"] });
  });

  it("refuses nodes whose columns differ, naming both", () => {
    assert.throws(
      () => commonInput(plan, [{ name: "north", dataset: csv(["a", "b", "y"]) }, { name: "south", dataset: csv(["a", "c", "y"]) }]),
      /Node south's dataset "d" has inputs \[a, c\] but north's has \[a, b\]/,
    );
  });
});

describe("progress printer", () => {
  it("prints one line per round with nodes, loss and metrics, and the final model", () => {
    let out = "";
    const print = createProgressPrinter((t) => (out += t));
    print({ event: "round", round: 2, rounds: 10, nodes: [], failed: [], loss: 0.25, metrics: { global: { accuracy: 0.9 } }, seconds: 1.5 });
    print({ event: "done", rounds: 10, metrics: { accuracy: 0.95 }, model: "/m", run: "/r" });
    assert.match(out, /^round  2\/10  nodes 0  loss 0\.2500  global: accuracy 0\.900  1\.5 s$/m);
    assert.match(out, /Final model: \/m\nFinal validation: accuracy 0\.9500/);
  });
});
