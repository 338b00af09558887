import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../../src/common/errors.js";
import { chooseBackend, selectBackend } from "../../src/ml/backend.js";
import { trainLocal } from "../../src/ml/train.js";
import { logisticPlan, separableData, trainingArgs } from "./synthetic.js";

// Its own file: the wasm module initializes once per process, and the bad-path case must run first.
describe("wasm backend in Node", () => {
  it("names the missing file when wasmPath points where no wasm binaries are", async () => {
    await assert.rejects(
      chooseBackend({ prefer: "wasm", env: {}, wasmPath: "/nonexistent/fbm-wasm" }),
      (e) =>
        e instanceof InputError &&
        /^Cannot use tfjs backend "wasm" \(prefer\): tfjs-backend-wasm(-simd)?\.wasm not found in "\/nonexistent\/fbm-wasm"; use tensorflow or cpu$/.test(
          e.message,
        ),
    );
  });

  it("loads from the installed package's dist/ and trains the logistic plan to more than 90% accuracy", async () => {
    const lines: string[] = [];
    assert.equal(await selectBackend({ prefer: "wasm", env: {}, log: (l) => lines.push(l) }), "wasm");
    assert.equal(tf.getBackend(), "wasm");
    assert.match(lines[0], /^tfjs backend: wasm \((SIMD|no SIMD)\)$/);
    const before = tf.memory().numTensors;
    const result = await trainLocal({
      plan: logisticPlan(),
      data: separableData(200),
      args: trainingArgs({ epochs: 15, testOnLocal: true }),
    });
    assert.ok(result.localMetrics!.values.accuracy > 0.9, `accuracy ${result.localMetrics!.values.accuracy}`);
    assert.equal(tf.memory().numTensors, before);
  });
});
