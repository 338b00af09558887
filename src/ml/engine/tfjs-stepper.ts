import * as tf from "@tensorflow/tfjs";
import { computeLoss, labelTensor } from "../losses.js";
import { outputUnits } from "../model.js";
import { createOptimizer } from "../optimizer.js";
import { clipFactor, noiseAndAverage } from "./dp-step.js";
import type { Stepper, StepperInit } from "./stepper.js";

/**
 * Steps on TensorFlow.js's general path, in `model`'s own variables: one `tf.tidy` per step, the loss summed
 * on the device and read only when asked, a fresh dropout seed per step from the run's generator.
 */
export function createTfjsStepper(model: tf.LayersModel, init: StepperInit): Stepper {
  const { source, plan, rng, dp, fedprox } = init;
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const split = (flat: Float32Array) => {
    let at = 0;
    return variables.map((v) => {
      const part = flat.subarray(at, at + v.size);
      at += v.size;
      return part;
    });
  };
  split(init.params).forEach((part, i) => {
    tf.tidy(() => variables[i].assign(tf.tensor(part, variables[i].shape, "float32")));
  });
  const anchors = fedprox ? split(fedprox.anchor).map((a, i) => tf.tensor(a, variables[i].shape, "float32")) : [];
  const corrections = init.correction
    ? split(init.correction).map((c, i) => tf.tensor(c, variables[i].shape, "float32"))
    : [];
  const mu = fedprox?.mu ?? 0;
  const optimizer = createOptimizer(plan.optimizer);
  const units = outputUnits(model);
  const dropouts = model.layers.filter((l) => l.getClassName() === "Dropout") as unknown as { seed?: number }[];
  let lossTotal: tf.Scalar = tf.scalar(0);
  return {
    step(batch) {
      // A fresh dropout seed per step: tfjs reuses a layer's seed, which would repeat one mask forever.
      for (const layer of dropouts) layer.seed = rng.int(0x7fffffff);
      const next = tf.tidy(() => {
        const x = source.x(batch);
        const y = labelTensor(plan.loss, source.y(batch), units, plan.data.classes);
        let dataLoss: tf.Scalar | undefined;
        const { grads } = dp
          ? privateGradients(batch, dp, (lossOf) => {
              dataLoss = lossOf;
            })
          : tf.variableGrads(() => {
              const prediction = model.apply(x, { training: true }) as tf.Tensor;
              dataLoss = tf.keep(computeLoss(plan.loss, y, prediction));
              return anchors.length > 0 ? tf.add(dataLoss, proximalTerm(variables, anchors, mu)) : dataLoss;
            }, variables);
        corrections.forEach((c, i) => {
          grads[variables[i].name] = tf.add(grads[variables[i].name], c);
        });
        optimizer.step(variables, grads);
        const total = tf.add(lossTotal, dataLoss!) as tf.Scalar;
        dataLoss!.dispose();
        return total;
      });
      lossTotal.dispose();
      lossTotal = next;
    },
    async takeLoss() {
      const value = (await lossTotal.data())[0];
      lossTotal.dispose();
      lossTotal = tf.scalar(0);
      return value;
    },
    async finish() {
      const trained = new Float32Array(init.params.length);
      for (const [i, part] of split(trained).entries()) part.set(variables[i].dataSync() as Float32Array);
      return trained;
    },
    // Batch normalization's layer moved its moving statistics in the model's own variables.
    trainedState: () => undefined,
    close() {
      lossTotal.dispose();
      tf.dispose([...anchors, ...corrections]);
      optimizer.dispose();
    },
  };

  /**
   * DP-SGD's fallback where the kernels do not cover the model: one backward pass per sample, each gradient
   * clipped to the bound (L2 over all weights), summed, then noised and averaged (dp-step.ts). The FedProx
   * term is data-independent, so it joins after the noise.
   */
  function privateGradients(
    batch: Int32Array,
    options: NonNullable<StepperInit["dp"]>,
    setLoss: (loss: tf.Scalar) => void,
  ): { grads: tf.NamedTensorMap } {
    // An empty Poisson batch still takes a step: noise alone (as Opacus does).
    const sum = new Float32Array(init.params.length);
    const sums = split(sum);
    let lossSum = 0;
    for (let r = 0; r < batch.length; r++) {
      const row = batch.subarray(r, r + 1);
      const { value, grads } = tf.variableGrads(
        () =>
          computeLoss(
            plan.loss,
            labelTensor(plan.loss, source.y(row), units, plan.data.classes),
            model.apply(source.x(row), { training: true }) as tf.Tensor,
          ),
        variables,
      );
      const parts = variables.map((v) => grads[v.name].dataSync() as Float32Array);
      const norm = Math.sqrt(parts.reduce((s, g) => s + g.reduce((t, x) => t + x * x, 0), 0));
      const factor = clipFactor(norm, options.clipNorm);
      parts.forEach((g, i) => {
        for (let j = 0; j < g.length; j++) sums[i][j] += factor * g[j];
      });
      lossSum += value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
    }
    setLoss(tf.scalar(batch.length > 0 ? lossSum / batch.length : 0));
    noiseAndAverage(sum, options);
    const grads: tf.NamedTensorMap = {};
    variables.forEach((v, i) => {
      let g: tf.Tensor = tf.tensor(sums[i], v.shape, "float32");
      if (anchors.length > 0) g = tf.add(g, tf.mul(mu, tf.sub(v, anchors[i])));
      grads[v.name] = g;
    });
    return { grads };
  }
}

/** FedProx: mu/2 · ||w − w_global||² over the trainable weights. */
function proximalTerm(variables: tf.Variable[], anchors: tf.Tensor[], mu: number): tf.Scalar {
  const squares = variables.map((v, i) => tf.sum(tf.square(tf.sub(v, anchors[i]))));
  return tf.mul(mu / 2, tf.addN(squares)) as tf.Scalar;
}
