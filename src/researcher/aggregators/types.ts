import type { NamedTensor } from "../../ml/types.js";
import type { AlgorithmExtension } from "./descriptor.js";

/**
 * The aggregator contract: pure functions over `Float32Array`s and sample counts (Flower's strategy
 * "aggregate" half). No tfjs, no server, no I/O; inputs are never mutated and outputs are new arrays.
 */

/** One node's reply for a round: its locally trained parameters, in the order of the global model. */
export interface Update {
  nodeId: string;
  /** Training samples behind the update; the weight of weighted aggregators (0 = no weight). */
  samples: number;
  /** One flat array per tensor, same order and lengths as `global`. */
  params: Float32Array[];
  /** SCAFFOLD only: the node's control-variate change Δc_i = c_i⁺ − c_i, shaped like `params`. */
  controlDelta?: Float32Array[];
  /** q-FedAvg only: the loss of the global model on the node's held-out rows, before training. */
  loss?: number;
}

/**
 * What an aggregator carries from round to round (momentum, control variates…). Plain JSON:
 * tensors are stored as `number[]`, so a breakpoint can `JSON.stringify` it and resume with `JSON.parse`.
 * The first round starts from `{}`.
 */
export interface AggregatorState {
  [key: string]: unknown;
}

export interface AggregateInput {
  /** Round number, used in error messages only. */
  round: number;
  /** The global parameters the nodes started the round from. */
  global: Float32Array[];
  updates: Update[];
  /** State returned by the previous round, or `{}`. */
  state: AggregatorState;
  /** SCAFFOLD: N, the number of nodes in the federation (default: the number of updates). */
  totalNodes?: number;
}

export interface AggregateOutput {
  params: Float32Array[];
  state: AggregatorState;
}

/** Values every train task of the round must carry for the nodes' side of the algorithm. */
export interface NodeArgs {
  /** FedProx: coefficient μ of the proximal term (μ/2)·‖w − w_global‖². */
  fedproxMu?: number;
  /** What the nodes add to local training, told by name (the aggregator's descriptor). */
  extension?: AlgorithmExtension;
  /** Ask each node for its loss of the global model (q-FedAvg's Fₖ). */
  globalLoss?: boolean;
}

/**
 * The seam for algorithms that send more than the model (SCAFFOLD's control variates): which tensors
 * go to each node and how a reply's tensors are read back as an Update. Without one, a task carries
 * the global model and a reply holds the trained model (see `plainExchange`).
 */
export interface TensorExchange {
  /** The tensors every train task of the round carries. */
  outgoing(global: NamedTensor[], state: AggregatorState): NamedTensor[];
  /** The tensors (names, shapes, dtypes, in order) a reply must hold. */
  expected(global: NamedTensor[]): NamedTensor[];
  /** One reply's tensors, in the order of `expected`, as the aggregator's Update. */
  read(
    reply: { nodeId: string; samples: number; tensors: Float32Array[]; loss?: number },
    global: NamedTensor[],
  ): Update;
  /**
   * True when `read` returns the reply's tensors unchanged as the update's params: a foldable
   * aggregator's replies can then be folded chunk by chunk as their bytes arrive. SCAFFOLD's reply
   * also carries control-variate changes, so it is read whole.
   */
  readonly foldable?: boolean;
}

export interface Aggregator {
  readonly name: string;
  /**
   * True when the result depends on the updates only through their sample-weighted mean (and total
   * samples): replies can then be folded into a running sum as they arrive, O(model) memory.
   */
  readonly foldable?: boolean;
  /** What the nodes need this round besides the global parameters; `{}` for most aggregators. */
  nodeArgs(input: { global: Float32Array[]; state: AggregatorState }): NodeArgs;
  /** What travels beside the model, when the algorithm needs more than the model (default plainExchange). */
  readonly exchange?: TensorExchange;
  /** New global parameters and state. Throws RuntimeFailure on no or malformed updates. */
  aggregate(input: AggregateInput): AggregateOutput;
}
