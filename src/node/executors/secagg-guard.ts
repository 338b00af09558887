import { MIN_SECURE_COHORT } from "../../privacy/secagg/cohort.js";
import { neighbourhoods, survivorsConnected } from "../../privacy/secagg/graph.js";
import type { ConsistencySignature, Peer } from "../../privacy/secagg/messages.js";
import {
  consistencyStatement,
  createSigner,
  type IdentityKey,
  identityFingerprint,
  keysStatement,
  verifiesUnder,
} from "../../privacy/secagg/signatures.js";
import type { ReplyErrorCode } from "../../wire/index.js";
import { TaskRefusal } from "../plans/task-refusal.js";
import type { SecaggPeers } from "../privacy/secagg-peers.js";

/**
 * What the node itself checks in a secure aggregation round before it shares keys or reveals shares,
 * whatever the researcher says (README "Secure aggregation"): the cohort is at least `secagg_min_nodes`,
 * the neighbourhood is the one the graph gives, the survivors are connected, and with `verify` every
 * peer's keys are signed by an identity this node trusts and every survivor signed the same survivor set
 * and global model (Bonawitz et al., CCS 2017, §4, malicious variant, Figure 4 ConsistencyCheck).
 */

/** A secure aggregation refusal: a TaskRefusal (its code goes out as the error reply's) of the secagg codes. */
export class SecaggRefusal extends TaskRefusal {
  constructor(code: Extract<ReplyErrorCode, "secagg_cohort" | "secagg_verify">, message: string) {
    super(code, message);
  }
}

/** The node's settings and keys the checks use; read at every task, so config changes apply at once. */
export interface SecaggPolicy {
  /** Config `secagg_min_nodes`. */
  minNodes: number;
  /** Config `secagg_verify`: refuse rounds without verify (undefined: false). */
  requireVerify?: boolean;
  /** The node's identity key (node.key / node.crt), for `verify`. */
  identity?: IdentityKey;
  /** Which identity each peer node id has shown before (secagg-peers.json); undefined: not remembered. */
  peers?: SecaggPeers;
}

/** A node's defaults: config secagg_min_nodes 3, secagg_verify true. */
export const DEFAULT_SECAGG_POLICY: SecaggPolicy = { minNodes: MIN_SECURE_COHORT, requireVerify: true };

/** What a round has established so far, kept beside its Participant. */
export interface RoundState {
  verify: boolean;
  /** From ShareKeys: the whole graph (rebuilt here), my neighbours as relayed, the threshold. */
  graph?: Map<string, string[]>;
  peers?: Map<string, Peer>;
  threshold?: number;
  /** The digest of the global model this node masked an update of (signatures.ts modelDigest). */
  modelDigest?: string;
  /** The survivor set this node signed in ConsistencyCheck (sorted). */
  signed?: string[];
}

const cohortRefusal = (policy: SecaggPolicy, what: string, count: number) =>
  new SecaggRefusal(
    "secagg_cohort",
    `This node takes part in secure aggregation only with at least ${policy.minNodes} nodes (config secagg_min_nodes is ${policy.minNodes}), but ${what} ${count}: run the round with more nodes${count >= MIN_SECURE_COHORT ? `, or run \`fbm-node config set secagg_min_nodes ${count}\` on the node` : ""}`,
  );

const verifyRefusal = (why: string) =>
  new SecaggRefusal(
    "secagg_verify",
    `Secure aggregation verification failed: ${why}; this node will not go on with the round`,
  );

/** AdvertiseKeys: refuses a cohort below the minimum, and verify without an identity key to sign with. */
export function checkAdvertise(policy: SecaggPolicy, cohort: number, verify: boolean): void {
  if (cohort < policy.minNodes) throw cohortRefusal(policy, "the researcher asks", cohort);
  if (!verify && policy.requireVerify) {
    throw new SecaggRefusal(
      "secagg_verify",
      "This node takes part in secure aggregation only with verify (config secagg_verify is true): remove `verify: false` from the experiment's secagg, or run `fbm-node config set secagg_verify false` on the node",
    );
  }
  if (verify && !policy.identity) throw verifyRefusal("this node has no identity key (node.key) to sign its keys with");
}

/** With verify: my signature over my keys for this session, and the certificate that checks it. */
export function signKeys(
  policy: SecaggPolicy,
  session: string,
  self: string,
  keys: { cipherKey: Uint8Array; maskKey: Uint8Array },
) {
  if (!policy.identity) throw verifyRefusal("this node has no identity key (node.key) to sign its keys with");
  const signer = createSigner(policy.identity);
  return { signature: signer.sign(keysStatement(session, self, keys)), identity: signer.identity };
}

/**
 * ShareKeys: the cohort and my neighbourhood are large enough, my neighbourhood is the one H(k, n) over
 * the cohort gives (so the graph I check survivors against is the one used), and with verify each
 * neighbour's keys are signed by the identity it showed before (or first shows now).
 */
export function checkShareKeys(
  policy: SecaggPolicy,
  state: RoundState,
  task: { session: string; peers: Peer[]; cohort: string[]; neighbours: number },
  self: string,
): Map<string, string[]> {
  const { session, peers, cohort } = task;
  if (new Set(cohort).size < policy.minNodes) throw cohortRefusal(policy, "the round's cohort has", cohort.length);
  if (peers.length < policy.minNodes) throw cohortRefusal(policy, "this node's neighbourhood has", peers.length);
  if (new Set(cohort).size !== cohort.length) throw verifyRefusal("the cohort names a node twice");
  const graph = neighbourhoods(cohort, task.neighbours > 0 ? task.neighbours : undefined, session);
  const mine = [...(graph.get(self) ?? [])].sort().join(",");
  if (
    mine !==
    peers
      .map((p) => p.id)
      .sort()
      .join(",")
  ) {
    throw verifyRefusal("the neighbours relayed to this node are not its neighbourhood in the round's graph");
  }
  if (state.verify) {
    if (!policy.identity) throw verifyRefusal("this node has no identity key (node.key) to check its own entry with");
    const own = identityFingerprint(createSigner(policy.identity).identity);
    const seen = new Set<string>();
    for (const p of peers) {
      if (!p.signed) throw verifyRefusal(`the keys of "${p.id}" come without a signature`);
      if (!verifiesUnder(p.signed.identity, keysStatement(session, p.id, p), p.signed.signature)) {
        throw verifyRefusal(`the keys relayed for "${p.id}" are not the ones it signed`);
      }
      const fingerprint = identityFingerprint(p.signed.identity);
      if (seen.has(fingerprint)) throw verifyRefusal(`two neighbours show the same identity ${fingerprint}`);
      seen.add(fingerprint);
      if (p.id === self) {
        if (fingerprint !== own) throw verifyRefusal("this node's own identity was replaced");
        continue;
      }
      const problem = policy.peers?.check(p.id, fingerprint);
      if (problem) throw verifyRefusal(problem);
    }
  }
  return graph;
}

/** ConsistencyCheck: sign the survivor set (with the model digest) once, after checking it is safe to reveal. */
export function signConsistency(
  policy: SecaggPolicy,
  state: RoundState,
  session: string,
  self: string,
  survivors: string[],
): Uint8Array {
  if (!state.verify) throw verifyRefusal("this round was not started with verify");
  if (state.modelDigest === undefined) throw verifyRefusal("asked to sign survivors before this node masked its input");
  if (state.signed) throw verifyRefusal("asked to sign a second survivor set in one round");
  checkSurvivors(policy, state, self, survivors);
  if (!policy.identity) throw verifyRefusal("this node has no identity key (node.key) to sign with");
  state.signed = [...survivors].sort();
  return createSigner(policy.identity).sign(consistencyStatement(session, survivors, state.modelDigest));
}

/**
 * Unmasking: the whole survivor set is large enough and connected; with verify, it is the set this node
 * signed and at least t of its neighbours signed the same set and global model (any that signed another
 * aborts the round: Bonawitz et al. 2017, §4, Figure 4, Unmasking step 1).
 */
export function checkUnmask(
  policy: SecaggPolicy,
  state: RoundState,
  task: {
    session: string;
    survivors: string[];
    dropped: string[];
    allSurvivors: string[];
    signatures: ConsistencySignature[];
  },
  self: string,
): void {
  const all = new Set(task.allSurvivors);
  for (const id of task.survivors) {
    if (!all.has(id)) throw verifyRefusal(`"${id}" is asked of as a survivor but is not in the survivor set`);
  }
  for (const id of task.dropped)
    if (all.has(id)) throw verifyRefusal(`"${id}" is listed both as a survivor and as dropped`);
  checkSurvivors(policy, state, self, task.allSurvivors);
  if (!state.verify) return;
  const shown = [...task.allSurvivors].sort().join(",");
  if (!state.signed) throw verifyRefusal("asked to reveal shares before the consistency check");
  if (state.signed.join(",") !== shown) throw verifyRefusal("the survivor set differs from the one this node signed");
  const statement = consistencyStatement(task.session, task.allSurvivors, state.modelDigest as string);
  const signers = new Set([self]);
  for (const s of task.signatures) {
    const peer = state.peers?.get(s.node);
    if (!peer?.signed || s.node === self) continue; // only neighbours' identities are known here
    if (!all.has(s.node) || !verifiesUnder(peer.signed.identity, statement, s.signature)) {
      throw verifyRefusal(`"${s.node}" signed another survivor set or trained another global model`);
    }
    signers.add(s.node);
  }
  const t = state.threshold ?? Number.POSITIVE_INFINITY;
  if (signers.size < t) {
    throw verifyRefusal(`only ${signers.size} neighbour(s) signed the survivor set, below the threshold ${t}`);
  }
}

/** The survivors whose sum would come unmasked: enough of them, all in the cohort, and connected. */
function checkSurvivors(policy: SecaggPolicy, state: RoundState, self: string, survivors: readonly string[]): void {
  const graph = state.graph;
  if (!graph) throw verifyRefusal("asked about survivors before keys were shared");
  if (new Set(survivors).size !== survivors.length) throw verifyRefusal("the survivor set names a node twice");
  if (!survivors.includes(self)) throw verifyRefusal("this node is not among the survivors");
  for (const id of survivors) if (!graph.has(id)) throw verifyRefusal(`survivor "${id}" was not in the round's cohort`);
  if (survivors.length < policy.minNodes) throw cohortRefusal(policy, "the sum to unmask holds", survivors.length);
  if (!survivorsConnected(graph, survivors)) {
    throw new SecaggRefusal(
      "secagg_cohort",
      "The survivors' neighbourhood graph is split: unmasking would reveal the sum of each piece (Bell et al. 2020); this node will not reveal shares",
    );
  }
}
