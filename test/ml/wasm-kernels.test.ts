import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { registerWasmTrainingKernels } from "../../src/ml/wasm-kernels/index.js";

type Shape4 = [number, number, number, number];

/** Deterministic uniform values in [-1, 1) (a 32-bit LCG), so every run compares the same data. */
function seeded(seed: number): (n: number) => Float32Array {
  let state = seed >>> 0;
  return (n) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      out[i] = state / 2 ** 31 - 1;
    }
    return out;
  };
}

/** Runs `fn` on the cpu and the wasm backend; returns the values it read from each. */
async function onBoth<T>(fn: () => T): Promise<{ cpu: T; wasm: T }> {
  await tf.setBackend("cpu");
  const cpu = fn();
  await tf.setBackend("wasm");
  return { cpu, wasm: fn() };
}

/** Element-wise |actual - expected| <= rtol·|expected| + atol, naming the first element that is off. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, atol = 1e-6): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = 1e-4 * Math.abs(expected[i]) + atol;
    if (!(Math.abs(actual[i] - expected[i]) <= tolerance)) {
      assert.fail(`${what}: element ${i} is ${actual[i]} on wasm, ${expected[i]} on cpu`);
    }
  }
}

function runKernel(name: string, inputs: Record<string, tf.Tensor>, attrs: object): Float32Array {
  return tf.tidy(() => {
    const out = tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
    return out.dataSync() as Float32Array;
  });
}

before(async () => {
  tf.enableProdMode();
  const dist = path.dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm"));
  setWasmPaths(`${dist}/`);
  registerWasmTrainingKernels();
  assert.equal(await tf.setBackend("cpu"), true);
  assert.equal(await tf.setBackend("wasm"), true);
});

describe("registerWasmTrainingKernels()", () => {
  it("names the kernels it provides and can be called again", () => {
    const names = registerWasmTrainingKernels();
    assert.deepEqual(names, ["BatchMatMul", "Conv2DBackpropFilter", "Conv2DBackpropInput", "MaxPoolGrad"]);
    assert.deepEqual(registerWasmTrainingKernels(), names);
    for (const name of names) assert.ok(tf.getKernel(name, "wasm"), name);
  });
});

describe("Conv2DBackpropFilter on wasm", () => {
  const random = seeded(1);
  const cases = [];
  for (const pad of ["valid", "same", 1] as const) {
    for (const strides of [1, 2]) {
      for (const [inC, outC, fh, fw] of [
        [1, 4, 3, 3],
        [3, 6, 3, 3],
        [8, 5, 2, 3],
        [2, 1, 1, 1],
      ]) {
        cases.push({ pad, strides, inC, outC, filter: [fh, fw, inC, outC] as Shape4 });
      }
    }
  }
  for (const { pad, strides, inC, outC, filter } of cases) {
    it(`matches cpu: pad ${pad}, stride ${strides}, filter ${filter.join("x")}`, async () => {
      const xShape: Shape4 = [3, 7, 6, inC];
      const info = tf.backend_util.computeConv2DInfo(xShape, filter, strides, 1, pad);
      const xs = random(tf.util.sizeFromShape(xShape));
      const dys = random(tf.util.sizeFromShape(info.outShape));
      assert.equal(info.outShape[3], outC);
      const { cpu, wasm } = await onBoth(() =>
        runKernel(
          "Conv2DBackpropFilter",
          { x: tf.tensor4d(xs, xShape), dy: tf.tensor4d(dys, info.outShape) },
          { strides, pad, dataFormat: "NHWC", filterShape: filter },
        ),
      );
      assert.ok(cpu.some((v) => v !== 0));
      assertClose(wasm, cpu, "dW");
    });
  }

  for (const { pad, strides, inC, outC, filter } of cases) {
    it(`Conv2DBackpropInput matches cpu: pad ${pad}, stride ${strides}, filter ${filter.join("x")}`, async () => {
      const xShape: Shape4 = [2, 7, 6, inC];
      const info = tf.backend_util.computeConv2DInfo(xShape, filter, strides, 1, pad);
      const ws = random(tf.util.sizeFromShape(filter));
      const dys = random(tf.util.sizeFromShape(info.outShape));
      assert.equal(info.outShape[3], outC);
      const { cpu, wasm } = await onBoth(() =>
        runKernel(
          "Conv2DBackpropInput",
          { dy: tf.tensor4d(dys, info.outShape), filter: tf.tensor4d(ws, filter) },
          { strides, pad, dataFormat: "NHWC", inputShape: xShape },
        ),
      );
      assert.ok(cpu.some((v) => v !== 0));
      assertClose(wasm, cpu, "dx");
    });
  }

  it("rejects NCHW data with a message naming the format", async () => {
    await tf.setBackend("wasm");
    assert.throws(
      () =>
        runKernel(
          "Conv2DBackpropFilter",
          { x: tf.ones([1, 1, 4, 4]), dy: tf.ones([1, 1, 2, 2]) },
          { strides: 1, pad: "valid", dataFormat: "NCHW", filterShape: [3, 3, 1, 1] },
        ),
      /supports NHWC only, not "NCHW"/,
    );
  });
});

describe("BatchMatMul on wasm", () => {
  const random = seeded(3);
  const cases: [number, number, number, number, boolean, boolean][] = [];
  for (const [transposeA, transposeB] of [
    [true, false],
    [false, true],
    [true, true],
    [false, false],
  ] as const) {
    for (const [batch, m, k, n] of [
      [1, 5, 7, 3],
      [1, 64, 33, 10],
      [3, 4, 9, 17],
      [2, 1, 300, 8],
    ])
      cases.push([batch, m, k, n, transposeA, transposeB]);
  }
  for (const [batch, m, k, n, transposeA, transposeB] of cases) {
    it(`matches cpu: ${batch} × (${m}×${k}) · (${k}×${n}), transposeA ${transposeA}, transposeB ${transposeB}`, async () => {
      const aShape = transposeA ? [batch, k, m] : [batch, m, k];
      const bShape = transposeB ? [batch, n, k] : [batch, k, n];
      const as = random(batch * m * k);
      const bs = random(batch * k * n);
      const { cpu, wasm } = await onBoth(() =>
        runKernel(
          "BatchMatMul",
          {
            a: tf.tensor3d(as, aShape as [number, number, number]),
            b: tf.tensor3d(bs, bShape as [number, number, number]),
          },
          { transposeA, transposeB },
        ),
      );
      assertClose(wasm, cpu, "product");
    });
  }

  it("broadcasts a batch of one against a batch of three", async () => {
    const as = random(2 * 3);
    const bs = random(3 * 2 * 4);
    const { cpu, wasm } = await onBoth(() =>
      runKernel(
        "BatchMatMul",
        { a: tf.tensor3d(as, [1, 2, 3]), b: tf.tensor3d(bs, [3, 2, 4]) },
        { transposeA: true, transposeB: false },
      ),
    );
    assertClose(wasm, cpu, "product");
  });
});

describe("MaxPoolGrad on wasm", () => {
  const random = seeded(2);
  const cases = [];
  for (const pad of ["valid", "same"] as const) {
    for (const strides of [1, 2]) {
      for (const [size, channels] of [
        [2, 1],
        [3, 3],
        [2, 8],
      ]) {
        for (const values of ["signed", "relu"] as const) cases.push({ pad, strides, size, channels, values });
      }
    }
  }
  for (const { pad, strides, size, channels, values } of cases) {
    it(`matches cpu: pad ${pad}, stride ${strides}, pool ${size}, ${channels} channels, ${values} inputs`, async () => {
      const xShape: Shape4 = [2, 7, 6, channels];
      const info = tf.backend_util.computePool2DInfo(xShape, size, strides, 1, pad);
      // Relu-like inputs have many tied zeros: both backends must pick the first maximum of a window.
      const xs = random(tf.util.sizeFromShape(xShape)).map((v) => (values === "relu" ? Math.max(0, v) : v));
      const dys = random(tf.util.sizeFromShape(info.outShape));
      const { cpu, wasm } = await onBoth(() =>
        tf.tidy(() => {
          const x = tf.tensor4d(xs, xShape);
          const y = tf.maxPool(x, size, strides, pad);
          return runKernel(
            "MaxPoolGrad",
            { dy: tf.tensor4d(dys, info.outShape), input: x, output: y },
            { filterSize: size, strides, pad },
          );
        }),
      );
      assertClose(wasm, cpu, "dx");
    });
  }

  it("routes the gradient to a window whose maximum is negative", async () => {
    await tf.setBackend("wasm");
    const dx = tf.tidy(() => {
      const x = tf.tensor4d([-3, -1, -2, -4], [1, 2, 2, 1]);
      return tf
        .grad((t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, 2, 2, "valid").sum())(x)
        .dataSync();
    });
    assert.deepEqual(Array.from(dx), [0, 1, 0, 0]);
  });
});

/** A CNN with every layer kind the plans allow (dropout aside, whose random mask differs per backend). */
function buildCnn(options: { dropout?: boolean; seed?: number } = {}): tf.Sequential {
  const init = () => tf.initializers.glorotUniform({ seed: options.seed });
  const model = tf.sequential();
  model.add(
    tf.layers.conv2d({
      inputShape: [10, 10, 2],
      filters: 4,
      kernelSize: 3,
      padding: "same",
      activation: "relu",
      kernelInitializer: init(),
    }),
  );
  model.add(tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: "valid", kernelInitializer: init() }));
  model.add(tf.layers.batchNormalization({}));
  model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: "same" }));
  model.add(
    tf.layers.conv2d({
      filters: 5,
      kernelSize: 3,
      strides: 2,
      padding: "same",
      activation: "relu",
      kernelInitializer: init(),
    }),
  );
  model.add(tf.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: "valid" }));
  if (options.dropout) model.add(tf.layers.dropout({ rate: 0.2, seed: options.seed }));
  model.add(tf.layers.globalAveragePooling2d({}));
  model.add(tf.layers.dense({ units: 3, activation: "softmax", kernelInitializer: init() }));
  return model;
}

/** The categoricalCrossentropy loss of tfjs-layers, as a scalar mean over the batch. */
function crossEntropy(labels: tf.Tensor, probabilities: tf.Tensor): tf.Scalar {
  return tf.metrics.categoricalCrossentropy(labels, probabilities).mean();
}

describe("training a CNN on wasm", () => {
  const random = seeded(3);
  const xs = random(6 * 10 * 10 * 2);
  const labels = [0, 1, 2, 1, 0, 2];

  it("gives the same gradients as cpu for every weight", async () => {
    let weights: { values: Float32Array; shape: number[] }[] | undefined;
    const { cpu, wasm } = await onBoth(() => {
      const model = buildCnn();
      if (weights) model.setWeights(weights.map((w) => tf.tensor(w.values, w.shape)));
      else weights = model.getWeights().map((w) => ({ values: w.dataSync() as Float32Array, shape: w.shape }));
      const result = tf.tidy(() => {
        const x = tf.tensor4d(xs, [6, 10, 10, 2]);
        const y = tf.oneHot(tf.tensor1d(labels, "int32"), 3);
        const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
        const { value, grads } = tf.variableGrads(
          () => crossEntropy(y, model.apply(x, { training: true }) as tf.Tensor),
          vars,
        );
        return { loss: value.dataSync()[0], grads: vars.map((v) => grads[v.name].dataSync() as Float32Array) };
      });
      model.dispose();
      return result;
    });
    assertClose([wasm.loss], [cpu.loss], "loss");
    assert.equal(wasm.grads.length, 10);
    // Biases right before batch normalization have a true gradient of 0: both backends give ~1e-8 noise.
    cpu.grads.forEach((g, i) => {
      assertClose(wasm.grads[i], g, `gradient of weight ${i}`, 1e-6);
    });
  });

  it("lowers the loss in a few optimizer steps", async () => {
    await tf.setBackend("wasm");
    const model = buildCnn({ dropout: true, seed: 7 });
    // Six samples with fixed labels: the network can fit them.
    const x = tf.tensor4d(xs, [6, 10, 10, 2]);
    const y = tf.oneHot(tf.tensor1d(labels, "int32"), 3);
    const optimizer = tf.train.adam(0.02);
    const losses: number[] = [];
    for (let step = 0; step < 10; step++) {
      tf.tidy(() => {
        const cost = optimizer.minimize(() => crossEntropy(y, model.apply(x, { training: true }) as tf.Tensor), true);
        losses.push(cost!.dataSync()[0]);
      });
    }
    const [first, last] = [losses[0], losses[losses.length - 1]];
    assert.ok(last < first * 0.5, `loss went ${losses.map((l) => l.toFixed(3)).join(" → ")}`);
    model.dispose();
    optimizer.dispose();
    tf.dispose([x, y]);
  });
});
