import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../../src/common/errors.js";
import { chooseBackend, currentBackend, selectBackend } from "../../src/ml/backend.js";

const nativeLoads = await import("@tensorflow/tfjs-node" as string).then(
  () => true,
  () => false,
);

describe("selectBackend", () => {
  it("chooses once per process, logs the choice once, and reports it", async () => {
    assert.equal(currentBackend(), undefined);
    const lines: string[] = [];
    assert.equal(await selectBackend({ prefer: "cpu", log: (l) => lines.push(l) }), "cpu");
    assert.equal(await selectBackend({ prefer: "wasm", log: (l) => lines.push(l) }), "cpu");
    assert.deepEqual(lines, ["tfjs backend: cpu"]);
    assert.equal(currentBackend(), "cpu");
    assert.equal(tf.getBackend(), "cpu");
  });
});

describe("chooseBackend", () => {
  it("lets FBM_BACKEND override the preference", async () => {
    assert.equal(await chooseBackend({ prefer: "wasm", env: { FBM_BACKEND: "cpu" } }), "cpu");
    assert.equal(tf.getBackend(), "cpu");
  });

  it("rejects an unknown backend name with an InputError naming where it came from", async () => {
    await assert.rejects(
      chooseBackend({ env: { FBM_BACKEND: "gpu" } }),
      (e) =>
        e instanceof InputError &&
        e.message === 'Unknown tfjs backend "gpu" (FBM_BACKEND): use one of tensorflow, wasm, cpu',
    );
  });

  it("uses tfjs-node when its native binary loads, else says why and what to use instead", async () => {
    const attempt = chooseBackend({ env: { FBM_BACKEND: "tensorflow" } });
    if (nativeLoads) {
      assert.equal(await attempt, "tensorflow");
    } else {
      await assert.rejects(
        attempt,
        (e) =>
          e instanceof InputError &&
          /^Cannot use tfjs backend "tensorflow" \(FBM_BACKEND\): .+; set FBM_BACKEND to wasm or cpu or unset it$/.test(
            e.message,
          ),
      );
    }
  });

  it("falls back past an unavailable tfjs-node to wasm when nothing is forced", async () => {
    const lines: string[] = [];
    const name = await chooseBackend({ env: {}, log: (l) => lines.push(l) });
    assert.equal(name, nativeLoads ? "tensorflow" : "wasm");
    assert.match(lines[0], nativeLoads ? /^tfjs backend: tensorflow/ : /^tfjs backend: wasm \((SIMD|no SIMD)\)$/);
    await chooseBackend({ prefer: "cpu", env: {} });
  });
});
