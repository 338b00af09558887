import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { controlUpdate, correctionFor, createControlStore, splitControl } from "../../src/node/executors/scaffold.js";
import { proximalArgs, taskExtension } from "../../src/node/executors/train-extension.js";
import { withControl } from "../../src/wire/index.js";

const t = (name: string, values: number[]) => ({
  name,
  shape: [values.length],
  dtype: "float32" as const,
  data: Float32Array.from(values),
});

describe("SCAFFOLD on the node", () => {
  it("splits the server control variate off the task's tensors", () => {
    const model = [t("w", [1, 2]), t("b", [3])];
    const sent = withControl(model, [Float32Array.from([0.1, 0.2]), Float32Array.from([0.3])]);
    const { model: back, control } = splitControl(sent);
    assert.deepEqual(
      back.map((p) => p.name),
      ["w", "b"],
    );
    assert.deepEqual(
      control!.map((p) => [p.name, [...p.data].map((v) => +v.toFixed(6))]),
      [
        ["w", [0.1, 0.2]],
        ["b", [0.3]],
      ],
    );
    assert.equal(splitControl(model).control, undefined);
  });

  it("corrects by c − c_i, with c_i = 0 the first time", () => {
    const c = [t("w", [1, -2])];
    assert.deepEqual([...correctionFor(c, undefined)[0].data], [1, -2]);
    assert.deepEqual([...correctionFor(c, [t("w", [0.5, 0.5])])[0].data], [0.5, -2.5]);
  });

  it("computes c_i⁺ = c_i − c + (x − y)/(K·η) and sends Δc_i = c_i⁺ − c_i (hand-computed)", () => {
    // x = [1, 2], y = [0.8, 2.4], K = 4 steps, η = 0.1 → (x − y)/(Kη) = [0.5, −1]
    // c = [0.2, 0.1], c_i = [0.1, −0.1] → c_i⁺ = [0.1 − 0.2 + 0.5, −0.1 − 0.1 − 1] = [0.4, −1.2]; Δc_i = [0.3, −1.1]
    const { next, delta } = controlUpdate({
      global: [t("w", [1, 2])],
      trained: [t("w", [0.8, 2.4])],
      control: [t("w", [0.2, 0.1])],
      local: [t("w", [0.1, -0.1])],
      steps: 4,
      learningRate: 0.1,
    });
    assert.deepEqual(
      [...next[0].data].map((v) => +v.toFixed(5)),
      [0.4, -1.2],
    );
    assert.equal(delta[0].name, "scaffold.dc:w");
    assert.deepEqual(
      [...delta[0].data].map((v) => +v.toFixed(5)),
      [0.3, -1.1],
    );
  });

  it("keeps the control variates of the 4 most recently used experiments only", () => {
    const store = createControlStore();
    for (let i = 0; i < 200; i++) store.set(`exp${i}/plan`, [t("w", [i])]);
    assert.equal(store.get("exp195/plan"), undefined);
    assert.deepEqual(Array.from(store.get("exp199/plan")?.[0].data ?? []), [199]);
    assert.ok(store.get("exp196/plan"));
    // Using an experiment again keeps it: exp196 is refreshed, so exp197 is the one pushed out next.
    store.set("exp196/plan", [t("w", [-1])]);
    store.set("exp200/plan", [t("w", [200])]);
    assert.ok(store.get("exp196/plan"));
    assert.equal(store.get("exp197/plan"), undefined);
  });
});

describe("the task's algorithm extension", () => {
  const model = [t("w", [1, 2])];
  const withC = withControl(model, [Float32Array.from([0.1, 0.2])]);

  it("is the one the task names", () => {
    assert.equal(taskExtension({ algorithmExtension: "scaffold", params: withC, args: { fedproxMu: 0 } }), "scaffold");
    assert.equal(taskExtension({ algorithmExtension: "fedprox", params: model, args: { fedproxMu: 0.1 } }), "fedprox");
  });

  it("is inferred from an older researcher's task, which names none", () => {
    assert.equal(taskExtension({ params: withC, args: { fedproxMu: 0 } }), "scaffold");
    assert.equal(taskExtension({ params: model, args: { fedproxMu: 0.1 } }), "fedprox");
    assert.equal(taskExtension({ params: model, args: { fedproxMu: 0 } }), undefined);
  });

  it("keeps FedProx's mu only when FedProx is the extension", () => {
    assert.equal(proximalArgs({ fedproxMu: 0.1 }, "fedprox").fedproxMu, 0.1);
    assert.equal(proximalArgs({ fedproxMu: 0.1 }, "scaffold").fedproxMu, 0);
    assert.equal(proximalArgs({ fedproxMu: 0.1 }, undefined).fedproxMu, 0);
  });
});
