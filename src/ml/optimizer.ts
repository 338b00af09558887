import * as tf from "@tensorflow/tfjs";
import type { Plan } from "./plan.js";

/**
 * The plan's optimizer, fresh for each round of local training. `weight_decay` is decoupled for adamw
 * (weights shrink by lr·wd before each step) and an L2 term on the gradient for the others, as in PyTorch.
 */
export interface LocalOptimizer {
  /** Applies one step; `grads` maps each variable's name to its gradient. Disposes nothing it was given. */
  step(variables: tf.Variable[], grads: tf.NamedTensorMap): void;
  dispose(): void;
}

/** AdamW's default decay when the plan names none (PyTorch's default). */
const adamwDefaultDecay = 0.01;

export function createOptimizer(spec: Plan["optimizer"]): LocalOptimizer {
  const lr = spec.learning_rate;
  const optimizer = tfOptimizer(spec);
  const decoupled = spec.name === "adamw";
  const decay = spec.weight_decay ?? (decoupled ? adamwDefaultDecay : 0);
  return {
    step(variables, grads) {
      tf.tidy(() => {
        let applied = grads;
        if (decay > 0 && decoupled) {
          for (const v of variables) v.assign(tf.mul(v, 1 - lr * decay));
        } else if (decay > 0) {
          applied = {};
          for (const v of variables) applied[v.name] = tf.add(grads[v.name], tf.mul(v, decay));
        }
        optimizer.applyGradients(applied);
      });
    },
    dispose() {
      optimizer.dispose();
      // tfjs 4.22's MomentumOptimizer.dispose() forgets the learning-rate scalar of its SGD base class.
      const c = (optimizer as unknown as { c?: tf.Tensor }).c;
      if (c && !c.isDisposed) c.dispose();
    },
  };
}

function tfOptimizer(spec: Plan["optimizer"]): tf.Optimizer {
  const lr = spec.learning_rate;
  switch (spec.name) {
    case "sgd":
      return spec.momentum ? tf.train.momentum(lr, spec.momentum) : tf.train.sgd(lr);
    case "adam":
    case "adamw":
      return tf.train.adam(lr, spec.beta1 ?? 0.9, spec.beta2 ?? 0.999, spec.epsilon ?? 1e-7);
    case "rmsprop":
      return tf.train.rmsprop(lr, 0.9, spec.momentum ?? 0, spec.epsilon ?? 1e-7);
    case "adagrad":
      return tf.train.adagrad(lr, 0.1);
  }
}
