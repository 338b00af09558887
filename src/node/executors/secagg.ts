import { FbmError } from "../../common/errors.js";
import { type ContentsLayout, encodeContents, setContents } from "../../ml/masked-contents.js";
import type { NamedTensor, TrainResult } from "../../ml/types.js";
import { encodeUpdate } from "../../privacy/secagg/fixed-point.js";
import { createParticipant, type Participant, ProtocolError } from "../../privacy/secagg/participant.js";
import { ShareAuthError } from "../../privacy/secagg/share-box.js";
import { modelDigest } from "../../privacy/secagg/signatures.js";
import { MASKED_TENSOR, type ReplyBody, type SecaggMasking, type SecaggTaskBody } from "../../wire/index.js";
import {
  checkAdvertise,
  checkShareKeys,
  checkUnmask,
  DEFAULT_SECAGG_POLICY,
  type RoundState,
  type SecaggPolicy,
  SecaggRefusal,
  signConsistency,
  signKeys,
} from "./secagg-guard.js";
import type { TrainExtension } from "./train-extension.js";

/**
 * The node's side of secure aggregation (README "Secure aggregation"): one Participant per session,
 * in memory only (a restarted node has dropped out of the round), the latest few kept.
 */
export interface SecaggSessions {
  start(session: string, self: string): Participant;
  get(session: string): Participant;
}

const KEPT_SESSIONS = 8;
/** What the node's own checks (secagg-guard.ts) learned in each round, beside its Participant. */
const states = new WeakMap<Participant, RoundState>();
const stateOf = (p: Participant): RoundState => {
  const state = states.get(p) ?? { verify: false };
  states.set(p, state);
  return state;
};

export function createSecaggSessions(): SecaggSessions {
  const sessions = new Map<string, Participant>();
  return {
    start(session, self) {
      if (sessions.has(session)) throw new FbmError(`Secure aggregation session ${session} was already started`, 2);
      sessions.set(session, createParticipant(session, self));
      for (const old of sessions.keys()) if (sessions.size > KEPT_SESSIONS) sessions.delete(old);
      return sessions.get(session) as Participant;
    },
    get(session) {
      const p = sessions.get(session);
      if (!p) throw new FbmError(`No secure aggregation session ${session} on this node (did it restart?)`, 1);
      return p;
    },
  };
}

/**
 * Where central differential privacy plugs in (issue 14): a function applied to the node's clipped
 * update before it is quantized and masked, e.g. adding this node's share of the Gaussian noise.
 * The identity unless the runtime sets one.
 */
export type UpdateTransform = (update: Float32Array[], context: { session: string; clip: number }) => Float32Array[];

/**
 * AdvertiseKeys, ShareKeys, ConsistencyCheck and Unmasking, each after the node's own checks
 * (secagg-guard.ts: minimum cohort, graph, signatures); protocol refusals become error replies, the
 * checks' refusals (SecaggRefusal) error replies with their own code.
 */
export function executeSecagg(
  sessions: SecaggSessions,
  self: string,
  task: SecaggTaskBody,
  policy: SecaggPolicy = DEFAULT_SECAGG_POLICY,
): ReplyBody {
  try {
    switch (task.phase) {
      case "advertiseKeys": {
        checkAdvertise(policy, task.cohort, task.verify);
        const participant = sessions.start(task.session, self);
        stateOf(participant).verify = task.verify;
        return {
          kind: "secagg",
          phase: "keys",
          keys: participant.keys,
          ...(task.verify ? { signed: signKeys(policy, task.session, self, participant.keys) } : {}),
        };
      }
      case "shareKeys": {
        const participant = sessions.get(task.session);
        const state = stateOf(participant);
        const graph = checkShareKeys(policy, state, task, self);
        const shares = participant.shareKeys(task.peers, task.threshold);
        Object.assign(state, { graph, peers: new Map(task.peers.map((p) => [p.id, p])), threshold: task.threshold });
        return { kind: "secagg", phase: "shares", shares };
      }
      case "consistency": {
        const participant = sessions.get(task.session);
        const signature = signConsistency(policy, stateOf(participant), task.session, self, task.survivors);
        return { kind: "secagg", phase: "consistency", signature };
      }
      case "unmask": {
        const participant = sessions.get(task.session);
        checkUnmask(policy, stateOf(participant), task, self);
        return { kind: "secagg", phase: "revealed", revealed: participant.reveal(task.survivors, task.dropped) };
      }
    }
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof ShareAuthError) throw new FbmError(error.message, 1);
    throw error;
  }
}

export { SecaggRefusal };

/**
 * MaskedInputCollection as a TrainExtension: the reply holds one int32 tensor, the masked encoding of
 * w · clip(trained − global), the weight w (the sample count, or 1 when `unweighted`), with SCAFFOLD the
 * node's control-variate change Δc_i (unweighted: the server adds Σ Δc_i / N), then the training loss and
 * validation counts (masked-contents.ts). It tells no sample count, loss or metric of its own.
 */
export function secaggExtension(options: {
  model: NamedTensor[];
  masking: SecaggMasking;
  participant: Participant;
  /** The layout of the loss and counts after the update (contentsLayout of the plan and the task). */
  contents: ContentsLayout;
  /** Distributed DP: every node's update weighs 1 (the noise is calibrated to one node's clipped update). */
  unweighted?: boolean;
  transform?: UpdateTransform;
  /** SCAFFOLD's extension: it splits the task's tensors, corrects the gradients, and adds Δc_i to the reply. */
  inner?: TrainExtension;
  /** Sees the input vector before it is masked: its update words (weight and Δc included), then the rest. */
  onInput?: (update: Uint32Array, contents: Uint32Array) => void;
  /** Sees the clipped update before it is masked (tests compare it with what the researcher received). */
  onClipped?: (update: Float32Array[]) => void;
  /** Tensors of frozen layers (frozen.ts): trained with, but neither sent back nor in the masked vector. */
  frozen?: (name: string) => boolean;
}): TrainExtension {
  const { masking, participant, inner, frozen } = options;
  const model = inner?.model ?? options.model;
  // The reply's tensors, which the update is taken against: the trained ones (the researcher sizes the sum so).
  const sent = frozen ? model.filter((t) => !frozen(t.name)) : model;
  const state = stateOf(participant);
  // Checked before training: a round this node refused at ShareKeys (too few nodes, a bad signature) has no keys.
  if (!state.graph) {
    throw new SecaggRefusal(
      "secagg_cohort",
      `Secure aggregation session ${masking.session}: this node has not shared keys in it (it refused the round, or restarted)`,
    );
  }
  state.modelDigest = modelDigest(model);
  return {
    model,
    gradientCorrection: inner?.gradientCorrection,
    reply(trained: TrainResult): TrainResult {
      const result = inner ? inner.reply(trained) : trained;
      const clip = masking.clip;
      let update: Float32Array[] = result.params.slice(0, sent.length).map((t, i) => {
        const out = new Float32Array(t.data.length);
        const g = sent[i].data;
        for (let k = 0; k < out.length; k++) out[k] = Math.min(clip, Math.max(-clip, t.data[k] - g[k]));
        return out;
      });
      options.onClipped?.(update);
      if (options.transform) update = options.transform(update, { session: masking.session, clip });
      const weight = options.unweighted ? 1 : result.sampleCount;
      const head = encodeUpdate(update, weight, masking);
      // SCAFFOLD's Δc_i after the weight word, each weighing 1 (encodeUpdate's own weight word dropped).
      const extra = result.params.slice(sent.length).map((t) => t.data as Float32Array);
      const controls = extra.length > 0 ? encodeUpdate(extra, 1, masking).subarray(0, -1) : new Uint32Array(0);
      let masked: Uint32Array;
      try {
        const sets = { global: result.globalMetrics, local: result.localMetrics };
        const tail = encodeContents(
          options.contents,
          // Under dp the node withholds its loss and local metrics (releaseUnderDp): zeros go in their place.
          { loss: result.trainLoss ?? 0, weight },
          options.contents.sets.map((s) => setContents(sets[s])),
        );
        const input = new Uint32Array(head.length + controls.length + tail.length);
        input.set(head);
        input.set(controls, head.length);
        input.set(new Uint32Array(tail.buffer, tail.byteOffset, tail.length), head.length + controls.length);
        options.onInput?.(
          input.subarray(0, head.length + controls.length),
          input.subarray(head.length + controls.length),
        );
        masked = participant.maskInput(masking.shares, input);
      } catch (error) {
        if (error instanceof ProtocolError || error instanceof ShareAuthError) throw new FbmError(error.message, 1);
        if (error instanceof RangeError)
          throw new FbmError(`Secure aggregation cannot mask this update: ${error.message}`, 1);
        throw error;
      }
      const data = new Int32Array(masked.buffer, masked.byteOffset, masked.length);
      // Nothing in the clear: the loss and the metrics went into the masked vector.
      const { globalMetrics: _g, localMetrics: _l, ...rest } = result;
      return {
        ...rest,
        sampleCount: 0,
        trainLoss: 0,
        params: [{ name: MASKED_TENSOR, shape: [data.length], dtype: "int32", data }],
      };
    },
  };
}
