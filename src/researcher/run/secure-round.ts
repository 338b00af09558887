import { randomUUID } from "node:crypto";
import { errorMessage, InputError, RuntimeFailure } from "../../common/errors.js";
import { type ContentsLayout, contentsLayout, contentsLength, decodeContents } from "../../ml/masked-contents.js";
import { metricsFromCounts } from "../../ml/metric-counts.js";
import { defaultMetrics } from "../../ml/metrics.js";
import { parsePlan } from "../../ml/plan.js";
import type { NamedTensor } from "../../ml/types.js";
import { MIN_SECURE_COHORT, thresholdProblem } from "../../privacy/secagg/cohort.js";
import { bitsFor, capacityProblem, decodeSum, decodeTotal, type FixedPoint } from "../../privacy/secagg/fixed-point.js";
import { minNeighbours, neighbourhoods, survivorsConnected } from "../../privacy/secagg/graph.js";
import type {
  ConsistencySignature,
  KeySignature,
  Peer,
  PublicKeys,
  Revealed,
  SealedShare,
} from "../../privacy/secagg/messages.js";
import { identityFingerprint, keysStatement, verifiesUnder } from "../../privacy/secagg/signatures.js";
import { BelowThresholdError, unmaskSum } from "../../privacy/secagg/unmask.js";
import { MASKED_TENSOR, type ReplyBody, type SecaggTaskBody } from "../../wire/index.js";
import type { Update } from "../aggregators/index.js";
import { TaskFailure } from "../server/hub-error.js";
import type { FailureCode, NodeFailure } from "./events.js";
import type { Participant } from "./roster.js";
import { type SecaggConfig, thresholdFor } from "./secagg-config.js";
import { type NodeUpdate, type RoundCommon, runTrainRound } from "./train-round.js";

/**
 * One training round under secure aggregation (Bonawitz et al., CCS 2017, §4; SecAgg+ neighbourhoods of
 * Bell et al., CCS 2020, §3), driven by the researcher as ordinary tasks through the hub: AdvertiseKeys,
 * ShareKeys (sealed shares relayed), a train task per node carrying its shares (MaskedInputCollection,
 * each masked reply folded into a 32-bit running sum and dropped), then Unmasking. The researcher only
 * ever holds masked inputs and their sum; it learns the sample-weighted mean update and the total count.
 */
export type SecureRoundInput = RoundCommon & {
  secagg: SecaggConfig;
  /** The tensors nodes send back, whose update is masked (default: `global`; frozen layers left out: frozen.ts). */
  trained?: NamedTensor[];
  /**
   * SCAFFOLD: the tensors train tasks carry (the model, then the control variate c); the masked vector
   * then holds each node's Δc_i too, unweighted, and the result's `controlDelta` is Σ Δc_i.
   */
  outgoing?: NamedTensor[];
  log?: (line: string) => void;
  /** Node id → the identity fingerprint its requests are signed with (the run's key bindings), if known. */
  identities?: () => Record<string, string>;
  /** Each node's failure as it happens (a round that then stops still reports every refusal's code). */
  onFailure?: (failure: NodeFailure) => void;
};

export interface SecureRoundResult {
  /** The sample-weighted mean of the survivors' parameters (global + mean update) and their total count. */
  update: Update;
  /** The survivors' replies: no parameters, loss or metrics of their own (those went into the sum). */
  updates: NodeUpdate[];
  failures: NodeFailure[];
  /** The survivors' training loss and validation metrics, from the unmasked sums only. */
  pooled: PooledContents;
}

/** The round's loss (weighted as the update is) and pooled validation metrics, from the masked sums. */
export interface PooledContents {
  loss: number;
  metrics: { global?: Record<string, number>; local?: Record<string, number> };
}

/**
 * Fixed-point settings for these participants: explicit bits are checked, `auto` picks the most that fit.
 * `unweighted` (distributed DP): each update weighs 1, so the sum's capacity is counted in nodes.
 */
export function fixedPointFor(config: SecaggConfig, participants: Participant[], unweighted = false): FixedPoint {
  const total = unweighted ? participants.length : participants.reduce((n, p) => n + p.dataset.sampleCount, 0);
  if (config.bits === "auto") {
    const bits = bitsFor(total);
    if (bits < 8) {
      throw new InputError(
        `Secure aggregation cannot encode updates of ${total} samples in a 32-bit sum with 8 or more bits per value`,
      );
    }
    return { clip: config.clip, bits };
  }
  const fp = { clip: config.clip, bits: config.bits };
  const problem = capacityProblem(fp, total);
  if (problem) throw new InputError(`Invalid secagg settings: ${problem}`);
  return fp;
}

/**
 * Refuses, before any node is asked, a secure round of fewer than MIN_SECURE_COHORT nodes (exit 1: not
 * enough nodes now) and SecAgg+ neighbours below the bound for this many nodes (exit 2: the config).
 */
export function checkCohort(config: SecaggConfig, nodes: number): void {
  if (nodes < MIN_SECURE_COHORT) {
    throw new RuntimeFailure(
      `Secure aggregation needs at least ${MIN_SECURE_COHORT} nodes in a round, but only ${nodes} take part: with fewer, the sum tells each node's update; connect more nodes`,
    );
  }
  const k = config.neighbours;
  if (k === undefined || k >= nodes - 1) return;
  const least = minNeighbours(nodes, config);
  if (k < least) {
    throw new InputError(
      `Invalid secagg.neighbours ${k}: ${nodes} nodes with dropout ${config.dropout} and collusion ${config.collusion} need at least ${least} neighbours each, so that the nodes left after that many are lost stay connected (Bell et al. 2020); raise neighbours or lower the rates`,
    );
  }
}

export async function secureRound(input: SecureRoundInput): Promise<SecureRoundResult> {
  const { hub, round } = input;
  const session = `${input.experiment}/round-${round}/${randomUUID()}`;
  const failures: NodeFailure[] = [];
  const byNode = new Map(input.participants.map((p) => [p.node, p]));
  const fail = (node: string, code: FailureCode, message: string) => {
    const failure = { node, name: byNode.get(node)?.name ?? node, code, message };
    failures.push(failure);
    input.onFailure?.(failure);
  };
  const unweighted = input.args.dp?.mode === "central";
  const fp = fixedPointFor(input.secagg, input.participants, unweighted);
  checkCohort(input.secagg, input.participants.length);
  const plan = parsePlan(JSON.parse(input.planJson));
  const layout = contentsLayout(plan, input.args);
  const stop = (why: string) => {
    const lost = failures.map((f) => `${f.name}: ${f.message}`).join("; ");
    return new RuntimeFailure(
      `Round ${round}: secure aggregation cannot complete: ${why}${lost ? ` (${lost})` : ""}; the round's result is discarded (run again with --resume once enough nodes are connected)`,
    );
  };

  /** One protocol step: the task to every node at once; answers of the wrong kind or errors are failures. */
  const ask = async <R>(
    nodes: string[],
    body: (node: string) => SecaggTaskBody,
    read: (reply: ReplyBody) => R | undefined,
  ) => {
    const answers = new Map<string, R>();
    await Promise.all(
      nodes.map(async (node) => {
        try {
          const reply = await hub.send(node, body(node), {
            timeoutMs: input.timeoutMs,
            signal: input.signal,
            experiment: input.experiment,
          });
          if (reply.kind === "error") return fail(node, reply.code, reply.message);
          const value = read(reply);
          if (value === undefined)
            return fail(
              node,
              "bad_reply",
              `Node answered a secagg ${body(node).phase} task with a ${reply.kind} reply`,
            );
          answers.set(node, value);
        } catch (error) {
          if (error instanceof TaskFailure) return fail(node, error.reason, error.message);
          input.signal?.throwIfAborted();
          fail(node, "internal", errorMessage(error));
        }
      }),
    );
    return answers;
  };

  const { verify } = input.secagg;

  // Round 0, AdvertiseKeys (with verify, each node signs its keys with its identity key).
  const keys = await ask(
    input.participants.map((p) => p.node),
    () => ({ kind: "secagg", session, phase: "advertiseKeys", cohort: input.participants.length, verify }),
    (r): { keys: PublicKeys; signed?: KeySignature } | undefined =>
      r.kind === "secagg" && r.phase === "keys" ? r : undefined,
  );
  if (verify) {
    // Checked here too, so a node whose keys do not check out drops at once instead of failing everyone's
    // ShareKeys; and against the identity the node's own requests proved, where the run bound one.
    const bound = input.identities?.() ?? {};
    for (const [node, k] of keys) {
      if (!k.signed || !verifiesUnder(k.signed.identity, keysStatement(session, node, k.keys), k.signed.signature)) {
        keys.delete(node);
        fail(node, "secagg_verify", "Its advertised keys do not carry a valid signature of its identity key");
      } else if (bound[node] !== undefined && bound[node] !== identityFingerprint(k.signed.identity)) {
        keys.delete(node);
        fail(
          node,
          "secagg_verify",
          `Its keys are signed by identity ${identityFingerprint(k.signed.identity)}, but its requests by ${bound[node]}`,
        );
      }
    }
  }
  const u1 = [...keys.keys()].sort();
  if (u1.length < MIN_SECURE_COHORT) {
    throw stop(`${u1.length} node(s) advertised keys, fewer than the ${MIN_SECURE_COHORT} a secure round needs`);
  }
  const peers = new Map<string, Peer>(
    u1.map((id, i) => {
      const k = keys.get(id) as { keys: PublicKeys; signed?: KeySignature };
      return [id, { id, index: i + 1, ...k.keys, ...(k.signed ? { signed: k.signed } : {}) }];
    }),
  );
  // The graph is drawn from the session so that every node can rebuild it (graph.ts).
  const graph = neighbourhoods(u1, input.secagg.neighbours, session);
  const size = Math.max(0, ...[...graph.values()].map((n) => n.length));
  const threshold = thresholdFor(input.secagg, size);
  if (threshold > Math.min(...[...graph.values()].map((n) => n.length))) {
    throw stop(`${u1.length} node(s) advertised keys, below the threshold ${threshold}`);
  }
  const problem = thresholdProblem(threshold, size);
  if (problem) throw new InputError(`Invalid secagg.threshold: ${problem}`);

  // Round 1, ShareKeys: each node's shares, sealed for its neighbours, relayed later.
  const sealed = await ask(
    u1,
    (node) => ({
      kind: "secagg",
      session,
      phase: "shareKeys",
      threshold,
      peers: (graph.get(node) as string[]).map((id) => peers.get(id) as Peer),
      cohort: u1,
      neighbours:
        input.secagg.neighbours !== undefined && input.secagg.neighbours < u1.length - 1 ? input.secagg.neighbours : 0,
    }),
    (r): SealedShare[] | undefined => (r.kind === "secagg" && r.phase === "shares" ? r.shares : undefined),
  );
  const u2 = u1.filter((id) => sealed.has(id));
  if (u2.length < threshold) throw stop(`${u2.length} node(s) shared keys, below the threshold ${threshold}`);
  const inbox = new Map<string, SealedShare[]>(u2.map((id) => [id, []]));
  for (const [from, shares] of sealed) {
    for (const s of shares) {
      // Only what `from` may send: its own shares, to its neighbours that are still in the round.
      if (s.from === from && graph.get(from)?.includes(s.to)) inbox.get(s.to)?.push(s);
    }
  }

  // Round 2, MaskedInputCollection: local training, the masked reply folded into the sum at once.
  const trained = input.trained ?? input.global;
  // The masked vector holds the trained tensors' update (frozen layers are not sent back: frozen.ts).
  const head = trained.reduce((n, t) => n + t.data.length, 0) + 1;
  const controls = input.outgoing ? head - 1 : 0;
  const length = head + controls + contentsLength(layout);
  const sum = new Uint32Array(length);
  const { updates, failures: trainFailures } = await runTrainRound({
    hub,
    experiment: input.experiment,
    participants: u2.map((id) => byNode.get(id) as Participant),
    round,
    planId: input.planId,
    planJson: input.planJson,
    args: input.args,
    normalization: input.normalization,
    preparation: input.preparation,
    global: input.outgoing ?? input.global,
    expected: [{ name: MASKED_TENSOR, shape: [length], dtype: "int32", data: new Int32Array(0) }],
    taskFor: (p, task) => ({ ...task, secagg: { session, shares: inbox.get(p.node) ?? [], ...fp } }),
    check: (result) => {
      const [t] = result.params;
      const ok =
        result.params.length === 1 && t.name === MASKED_TENSOR && t.dtype === "int32" && t.data.length === length;
      return ok ? undefined : `a masked reply holds one int32 tensor "${MASKED_TENSOR}" of ${length} values`;
    },
    fold: (u) => {
      const masked = u.result.params[0].data;
      for (let i = 0; i < length; i++) sum[i] += masked[i];
    },
    timeoutMs: input.timeoutMs,
    signal: input.signal,
  });
  for (const f of trainFailures) fail(f.node, f.code, f.message);
  const u3 = updates.map((u) => u.participant.node);
  if (u3.length < threshold) throw stop(`${u3.length} masked update(s) came back, below the threshold ${threshold}`);
  const dropped = u2.filter((id) => !u3.includes(id));
  if (u3.length < MIN_SECURE_COHORT) {
    throw stop(`${u3.length} masked update(s) came back, fewer than the ${MIN_SECURE_COHORT} a secure round needs`);
  }
  // Bell et al. 2020: a split survivor graph would unmask the sum of each piece; the nodes refuse it too.
  if (!survivorsConnected(graph, u3)) {
    throw stop("the survivors' neighbourhood graph is split by the dropouts, so unmasking would reveal partial sums");
  }

  // With verify, ConsistencyCheck (Bonawitz et al. 2017, §4, Figure 4): each survivor signs the survivor
  // set it is shown and the model it trained; every node checks its neighbours' signatures before revealing.
  const signatures: ConsistencySignature[] = [];
  /** U4 of Bonawitz et al.: the survivors asked to reveal (with verify, those that signed the survivor set). */
  let u4 = u3;
  if (verify) {
    const signed = await ask(
      u3,
      () => ({ kind: "secagg", session, phase: "consistency", survivors: u3 }),
      (r): Uint8Array | undefined => (r.kind === "secagg" && r.phase === "consistency" ? r.signature : undefined),
    );
    for (const [node, signature] of signed) signatures.push({ node, signature });
    u4 = u3.filter((id) => signed.has(id));
    if (signed.size < threshold) {
      throw stop(`${signed.size} survivor(s) signed the consistency check, below the threshold ${threshold}`);
    }
  }

  // Round 3, Unmasking: seed shares of the survivors, mask-key shares of the dropped, per neighbourhood.
  const revealed = await ask(
    u4,
    (node) => {
      const near = new Set(graph.get(node));
      return {
        kind: "secagg",
        session,
        phase: "unmask",
        survivors: u3.filter((id) => near.has(id)),
        dropped: dropped.filter((id) => near.has(id)),
        allSurvivors: u3,
        signatures: signatures.filter((s) => near.has(s.node)),
      };
    },
    (r): Revealed | undefined => (r.kind === "secagg" && r.phase === "revealed" ? r.revealed : undefined),
  );
  try {
    unmaskSum(sum, {
      session,
      peers: new Map(u2.map((id) => [id, peers.get(id) as Peer])),
      neighbours: graph,
      threshold,
      survivors: u3,
      dropped,
      revealed,
    });
  } catch (error) {
    if (error instanceof BelowThresholdError) throw stop(error.message);
    throw error;
  }
  input.log?.(
    `Round ${round}: securely aggregated ${u3.length} masked update(s)${dropped.length ? `, ${dropped.length} dropped after sharing keys` : ""}`,
  );
  const lengths = trained.map((t) => t.data.length);
  const { mean, samples } = decodeSum(sum.subarray(0, head), lengths, fp);
  const contents = decodeContents(layout, new Int32Array(sum.buffer, (head + controls) * 4, length - head - controls));
  const controlDelta = input.outgoing ? decodeTotal(sum.subarray(head, head + controls), lengths, fp) : undefined;
  const params = trained.map((t, i) => {
    const out = new Float32Array(t.data.length);
    for (let k = 0; k < out.length; k++) out[k] = t.data[k] + mean[i][k];
    return out;
  });
  return {
    update: {
      nodeId: `sum of ${u3.length} masked updates`,
      samples,
      params,
      ...(controlDelta ? { controlDelta } : {}),
    },
    updates,
    failures,
    pooled: pooledContents(layout, contents, samples, input.args.metrics),
  };
}

/**
 * The round's figures from the unmasked contents: loss = Σ w·loss / Σ w; each validation set's metrics
 * from its pooled counts (exact, as pooled-metrics.ts computes them from every node's counts), its loss
 * the row-weighted mean. AUC needs score histograms the masked vector does not carry: it is left out.
 */
function pooledContents(
  layout: ContentsLayout,
  contents: ReturnType<typeof decodeContents>,
  weights: number,
  requested: string[],
): PooledContents {
  const names = requested.length > 0 ? requested : defaultMetrics(layout.kind);
  const metrics: PooledContents["metrics"] = {};
  layout.sets.forEach((set, i) => {
    const { rows, lossSum, counts } = contents.sets[i];
    if (rows === 0) return;
    const { values } = metricsFromCounts(
      names.filter((n) => n !== "loss" && n !== "auc"),
      counts,
      layout.kind,
    );
    if (names.includes("loss")) values.loss = lossSum / rows;
    metrics[set] = Object.fromEntries(Object.entries(values).sort(([a], [b]) => a.localeCompare(b)));
  });
  return { loss: contents.trainLossSum / weights, metrics };
}
