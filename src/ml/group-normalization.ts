import * as tf from "@tensorflow/tfjs";

/** GroupNormalization's options, as Keras 3 names them (channels last only: `axis` is −1). */
export interface GroupNormalizationArgs {
  groups?: number;
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  name?: string;
  trainable?: boolean;
  inputShape?: number[];
}

/**
 * Group normalization (Wu & He 2018), which tfjs lacks: Keras 3's GroupNormalization over the last
 * (channels) axis. The channels are cut into `groups` groups of consecutive channels; each sample's group
 * is normalized over all its values (every position, every channel of the group) with their own mean and
 * biased variance, ε inside the square root, then γ·x̂ + β per channel (weights `gamma`, `beta`, initialized
 * to ones and zeros as Keras). Per sample, so it needs no batch statistics: it trains with small batches,
 * under DP-SGD's per-sample view and on threads without exchange. Built from reshapes and tf.moments, so
 * tfjs's autograd differentiates it on every backend.
 */
export class GroupNormalization extends tf.layers.Layer {
  static readonly className = "GroupNormalization";
  readonly groups: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  private gamma?: tf.LayerVariable;
  private beta?: tf.LayerVariable;

  constructor(args: GroupNormalizationArgs) {
    super(args);
    // Keras's defaults.
    this.groups = args.groups ?? 32;
    this.epsilon = args.epsilon ?? 1e-3;
    this.center = args.center ?? true;
    this.scale = args.scale ?? true;
    this.supportsMasking = true;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[shape.length - 1];
    if (channels === null) throw new Error("GroupNormalization needs a known number of channels");
    if (channels % this.groups !== 0) {
      throw new Error(`GroupNormalization: groups (${this.groups}) must divide the channels (${channels})`);
    }
    if (this.scale) this.gamma = this.addWeight("gamma", [channels], "float32", tf.initializers.ones());
    if (this.center) this.beta = this.addWeight("beta", [channels], "float32", tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const shape = x.shape;
      const channels = shape[shape.length - 1];
      const positions = shape.slice(1, -1).reduce((a, b) => a * b, 1);
      // [batch, positions, groups, channels per group]: each (sample, group)'s statistics over axes 1 and 3.
      const grouped = x.reshape([shape[0], positions, this.groups, channels / this.groups]);
      const { mean, variance } = tf.moments(grouped, [1, 3], true);
      const normalized = grouped
        .sub(mean)
        .mul(tf.rsqrt(variance.add(this.epsilon)))
        .reshape(shape);
      let y = this.gamma ? normalized.mul(this.gamma.read()) : normalized;
      if (this.beta) y = y.add(this.beta.read());
      return y;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), groups: this.groups, epsilon: this.epsilon, center: this.center, scale: this.scale };
  }
}
tf.serialization.registerClass(GroupNormalization);
