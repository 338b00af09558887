import * as tf from "@tensorflow/tfjs";

/**
 * Nearest-neighbour upsampling of volumes (channels last), which tfjs lacks: Keras's UpSampling3D, each
 * voxel repeated `size` times along depth, height and width. Built from reshapes and a concatenation,
 * whose gradients tfjs has for every rank and backend (tile's stop at rank 5, gather's miss on wasm), so it
 * trains like any other layer.
 */
export class UpSampling3D extends tf.layers.Layer {
  static readonly className = "UpSampling3D";
  readonly size: [number, number, number];

  constructor(args: { size?: number | [number, number, number]; name?: string; trainable?: boolean }) {
    super(args);
    const size = args.size ?? 2;
    this.size = typeof size === "number" ? [size, size, size] : size;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [batch, d, h, w, c] = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const times = (n: number | null, f: number) => (n === null ? null : n * f);
    return [batch, times(d, this.size[0]), times(h, this.size[1]), times(w, this.size[2]), c];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      let x = Array.isArray(inputs) ? inputs[0] : inputs;
      for (let axis = 1; axis <= 3; axis++) {
        const factor = this.size[axis - 1];
        if (factor === 1) continue;
        // As [before, n, after]: `factor` copies side by side along the last axis, read back as
        // [before, n·factor, after], put each slice `factor` times in place. Reshape and concat have
        // gradients on every backend (gather's needs UnsortedSegmentSum, which tfjs's wasm backend lacks).
        const shape = x.shape;
        const before = shape.slice(0, axis).reduce((a, b) => a * b, 1);
        const after = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
        const flat = x.reshape([before, shape[axis], after]);
        const copies = tf.concat(Array<tf.Tensor>(factor).fill(flat), 2);
        x = copies.reshape(shape.map((n, i) => (i === axis ? n * factor : n)));
      }
      return x;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), size: [...this.size] };
  }
}
tf.serialization.registerClass(UpSampling3D);
