import { randomBytes } from "node:crypto";
import { thresholdProblem } from "./cohort.js";
import { agree, generateKeyPair, type KeyPair } from "./keys.js";
import type { Peer, PublicKeys, Revealed, SealedShare } from "./messages.js";
import { addMask } from "./prg.js";
import { SHARE_BYTES, splitSecret } from "./shamir.js";
import { openShare, sealShare } from "./share-box.js";

/**
 * A node's side of one secure aggregation round, Bonawitz et al. (CCS 2017, §4, Figure 4): AdvertiseKeys →
 * ShareKeys → MaskedInputCollection → Unmasking. The malicious variant's signatures and ConsistencyCheck
 * wrap it on the node (src/node/executors/secagg-guard.ts). The state lives in memory for the round
 * only: a node that restarts has dropped out.
 */
export interface Participant {
  readonly session: string;
  readonly self: string;
  /** Round 0: my public keys. */
  readonly keys: PublicKeys;
  /** The threshold t this node accepted in ShareKeys (0 before): no sum is unmasked with fewer survivors. */
  readonly threshold: number;
  /** Round 1: my self-mask seed b_u and mask key s_sk Shamir-shared among `peers`, sealed for each. */
  shareKeys(peers: readonly Peer[], threshold: number): SealedShare[];
  /** Round 2: `input` plus my self mask and a pairwise mask for every neighbour whose shares reached me. */
  maskInput(received: readonly SealedShare[], input: Uint32Array): Uint32Array;
  /** Round 3: seed shares of `survivors`, mask-key shares of `dropped`; once, and never both for one node. */
  reveal(survivors: readonly string[], dropped: readonly string[]): Revealed;
}

export class ProtocolError extends Error {}

const SHARE_PURPOSE = "share encryption";
const MASK_PURPOSE = "pairwise mask";

export function createParticipant(session: string, self: string): Participant {
  const cipher: KeyPair = generateKeyPair();
  const mask: KeyPair = generateKeyPair();
  const seed = randomBytes(32);
  let peers: Map<string, Peer> | undefined;
  let threshold = 0;
  /** U2: the neighbours whose shares I hold (and whom I masked with), with my shares of their secrets. */
  let held: Map<string, { key: Uint8Array; seed: Uint8Array }> | undefined;
  let revealed = false;
  const fail = (why: string) => {
    throw new ProtocolError(`Secure aggregation ${session}: ${why}`);
  };

  return {
    session,
    self,
    keys: { cipherKey: cipher.publicKey, maskKey: mask.publicKey },
    get threshold() {
      return threshold;
    },

    shareKeys(list, t) {
      if (peers) fail("keys were already shared in this round");
      const me = list.find((p) => p.id === self);
      if (!me || !same(me.cipherKey, cipher.publicKey) || !same(me.maskKey, mask.publicKey)) {
        fail("the relayed key list does not hold this node's own keys");
      }
      const keys = new Set(list.flatMap((p) => [hex(p.cipherKey), hex(p.maskKey)]));
      if (keys.size !== list.length * 2) fail("two neighbours advertise the same public key");
      // Fewer than half could let two disjoint groups each rebuild one kind of share (§4, t > n/2); t = 1 hands out the secret.
      const problem = thresholdProblem(t, list.length);
      if (problem) fail(problem);
      peers = new Map(list.map((p) => [p.id, p]));
      threshold = t;
      const xs = list.map((p) => p.index);
      const keyShares = splitSecret(mask.privateKey, xs, t);
      const seedShares = splitSecret(seed, xs, t);
      return list.map((p, i) => ({
        from: self,
        to: p.id,
        box: sealShare(
          agree(cipher.privateKey, p.cipherKey, session, SHARE_PURPOSE),
          Buffer.concat([keyShares[i].y, seedShares[i].y]),
          { session, from: self, to: p.id },
        ),
      }));
    },

    maskInput(received, input) {
      if (!peers) fail("masking was asked before keys were shared");
      if (held) fail("an input was already masked in this round");
      const known = peers as Map<string, Peer>;
      const shares = new Map<string, { key: Uint8Array; seed: Uint8Array }>();
      for (const s of received) {
        const from = known.get(s.from);
        if (s.to !== self || !from) fail(`a relayed share from "${s.from}" to "${s.to}" is not for this node`);
        if (shares.has(s.from)) fail(`two shares from "${s.from}"`);
        const plain = openShare(agree(cipher.privateKey, (from as Peer).cipherKey, session, SHARE_PURPOSE), s.box, {
          session,
          from: s.from,
          to: self,
        });
        if (plain.length !== 2 * SHARE_BYTES) fail(`the share from "${s.from}" has ${plain.length} bytes`);
        shares.set(s.from, { key: plain.subarray(0, SHARE_BYTES), seed: plain.subarray(SHARE_BYTES) });
      }
      if (!shares.has(self)) fail("this node's own share was not relayed back");
      if (shares.size < threshold) fail(`only ${shares.size} neighbours shared keys, below the threshold ${threshold}`);
      held = shares;
      const masked = Uint32Array.from(input);
      addMask(masked, seed, 1);
      const me = known.get(self) as Peer;
      for (const id of shares.keys()) {
        if (id === self) continue;
        const v = known.get(id) as Peer;
        addMask(masked, pairwiseSeed(mask.privateKey, v.maskKey, session), maskSign(me, v));
      }
      return masked;
    },

    reveal(survivors, dropped) {
      if (!held) fail("unmasking was asked before this node masked its input");
      if (revealed) fail("shares were already revealed in this round");
      const shares = held as Map<string, { key: Uint8Array; seed: Uint8Array }>;
      const alive = new Set(survivors);
      // The safety rule of §4: revealing both shares of one node would unmask its individual input.
      for (const id of dropped) if (alive.has(id)) fail(`"${id}" is listed both as a survivor and as dropped`);
      for (const id of [...survivors, ...dropped]) {
        if (!shares.has(id)) fail(`"${id}" is not a neighbour whose shares this node holds`);
      }
      if (!alive.has(self)) fail("this node is not listed among the survivors");
      if (alive.size < threshold) fail(`only ${alive.size} survivors, below the threshold ${threshold}`);
      revealed = true;
      return {
        seedShares: survivors.map((id) => ({ of: id, share: (shares.get(id) as { seed: Uint8Array }).seed })),
        keyShares: dropped.map((id) => ({ of: id, share: (shares.get(id) as { key: Uint8Array }).key })),
      };
    },
  };
}

/** The pairwise-mask key of `a` (private) with `b` (public); exported for the server's dropout recovery. */
export function pairwiseSeed(privateMaskKey: Uint8Array, peerMaskKey: Uint8Array, session: string): Buffer {
  return agree(privateMaskKey, peerMaskKey, session, MASK_PURPOSE);
}

/** u adds +PRG(s_uv) when it comes first in index order, −PRG(s_uv) otherwise: the pair cancels. */
export const maskSign = (u: { index: number }, v: { index: number }): 1 | -1 => (u.index < v.index ? 1 : -1);

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
