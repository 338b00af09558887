import assert from "node:assert/strict";
import { createPrivateKey, sign, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fingerprintOfPem, generateKeyPair } from "../../../src/common/certificates.js";
import type { NamedTensor } from "../../../src/ml/types.js";
import { createSecaggSessions, executeSecagg, secaggExtension } from "../../../src/node/executors/secagg.js";
import type { SecaggPolicy } from "../../../src/node/executors/secagg-guard.js";
import { decodeSum, quantizationBound } from "../../../src/privacy/secagg/fixed-point.js";
import { agree, type KeyPair, generateKeyPair as x25519Pair } from "../../../src/privacy/secagg/keys.js";
import type { Peer, SealedShare } from "../../../src/privacy/secagg/messages.js";
import { maskSign, pairwiseSeed } from "../../../src/privacy/secagg/participant.js";
import { addMask } from "../../../src/privacy/secagg/prg.js";
import { combineShares, SHARE_BYTES } from "../../../src/privacy/secagg/shamir.js";
import { openShare, sealShare } from "../../../src/privacy/secagg/share-box.js";
import type { ReplyBody, SecaggTaskBody } from "../../../src/wire/index.js";
import { NO_CONTENTS } from "../../support/secagg-driver.js";

/**
 * A malicious researcher against secure aggregation (README "Secure aggregation", issue 24 finding 4):
 * it relays every key, share and survivor list, so it can hand a node its own X25519 keys in place of
 * the node's neighbours' (a man in the middle of the key agreement). The node then seals its shares of
 * its self-mask seed and mask key for the researcher, and masks with pairwise keys the researcher knows:
 * the researcher unmasks that one node's update. Each hospital node here runs the node's own code
 * (executeSecagg, secaggExtension) with a real identity key pair, as `fbm-node serve` does.
 */

const SHARE = "share encryption"; // participant.ts's HKDF purpose for share boxes
const LENGTH = 64;
const FP = { clip: 1, bits: 16 };

interface HonestNode {
  id: string;
  sessions: ReturnType<typeof createSecaggSessions>;
  policy: SecaggPolicy;
  update: Float32Array;
}

/** What the node answered: its reply, or the refusal it threw (as executors/index.ts turns it into a reply). */
function ask(node: HonestNode, task: SecaggTaskBody): ReplyBody {
  try {
    return executeSecagg(node.sessions, node.id, task, node.policy);
  } catch (error) {
    const code = (error as { code?: string }).code ?? "failed";
    return { kind: "error", code: code as "failed", message: (error as Error).message };
  }
}

const global: NamedTensor[] = [{ name: "w", shape: [LENGTH], dtype: "float32", data: new Float32Array(LENGTH) }];

/** The node's masked input, as its train task would make it after training to `global + update`. */
function maskedInput(node: HonestNode, session: string, shares: SealedShare[], model = global): Uint32Array {
  const participant = node.sessions.get(session);
  const extension = secaggExtension({ model, masking: { session, shares, ...FP }, participant, contents: NO_CONTENTS });
  const params = [{ ...model[0], data: Float32Array.from(model[0].data, (g, k) => g + node.update[k]) }];
  const reply = extension.reply({ params, sampleCount: 1, trainLoss: 0, seconds: 0 });
  const data = reply.params[0].data as Int32Array;
  return new Uint32Array(data.buffer, data.byteOffset, data.length);
}

describe("attack: a researcher that swaps the keys it relays", () => {
  const home = mkdtempSync(join(tmpdir(), "fbm-keyswap-"));
  const nodes: HonestNode[] = [];
  /** Identities the researcher made, one per node it impersonates (a node refuses two peers with one identity). */
  const researcherIdentities = new Map<string, { certPem: string; keyPem: string }>();
  after(() => rmSync(home, { recursive: true, force: true }));
  before(async () => {
    for (const [i, id] of ["a", "b", "c"].entries()) {
      const pair = await generateKeyPair({ commonName: `fbm node ${id}` });
      nodes.push({
        id,
        sessions: createSecaggSessions(),
        policy: { minNodes: 3, identity: { certPem: pair.cert, keyPem: pair.key } },
        update: Float32Array.from({ length: LENGTH }, (_, k) => Math.sin(k + i) / 2),
      });
    }
    for (const id of ["b", "c"]) {
      const own = await generateKeyPair({ commonName: `fbm node ${id}` });
      researcherIdentities.set(id, { certPem: own.cert, keyPem: own.key });
    }
  });

  /**
   * The attack on node `a` (nodes[0] unless given): AdvertiseKeys as asked, then ShareKeys with b's and
   * c's keys replaced by the researcher's (with `forgeIdentity`, signed under a certificate of its own);
   * a's shares for "b" and "c" open under the researcher's keys and rebuild a's seed and mask key (t = 2);
   * a's masked input then unmasks to a's update. Returns a's refusal, or the update the researcher recovered.
   */
  function attack(session: string, options: { verify: boolean; forgeIdentity?: boolean; a?: HonestNode }) {
    const a = options.a ?? nodes[0];
    const all = [a, ...nodes.slice(1)];
    const others = all.slice(1);
    const ids = all.map((n) => n.id);
    const advertised = all.map((n) =>
      ask(n, { kind: "secagg", session, phase: "advertiseKeys", cohort: 3, verify: options.verify }),
    );
    const peers: Peer[] = advertised.map((r, i) => {
      assert.equal(r.kind, "secagg", JSON.stringify(r));
      const keys = r as Extract<ReplyBody, { phase: "keys" }>;
      return { id: ids[i], index: i + 1, ...keys.keys, ...(keys.signed ? { signed: keys.signed } : {}) };
    });
    // The researcher's own key pairs, relayed to a as b's and c's.
    const fake = new Map(others.map((n) => [n.id, { cipher: x25519Pair(), mask: x25519Pair() }]));
    const fakeOf = (id: string) => fake.get(id) as { cipher: KeyPair; mask: KeyPair };
    const swapped = peers.map((p) => {
      if (!fake.has(p.id)) return p;
      const keys = { cipherKey: fakeOf(p.id).cipher.publicKey, maskKey: fakeOf(p.id).mask.publicKey };
      // Without forgeIdentity, b's and c's signatures are kept: they are over their real keys.
      return options.forgeIdentity
        ? {
            ...p,
            ...keys,
            signed: signAs(researcherIdentities.get(p.id) as { certPem: string; keyPem: string }, session, p.id, keys),
          }
        : { ...p, ...keys };
    });
    const shared = ask(a, {
      kind: "secagg",
      session,
      phase: "shareKeys",
      peers: swapped,
      threshold: 2,
      cohort: ids,
      neighbours: 0,
    });
    if (shared.kind === "error") return { refused: shared };
    const boxes = (shared as Extract<ReplyBody, { phase: "shares" }>).shares;
    const toA = (id: string) => agree(fakeOf(id).cipher.privateKey, peers[0].cipherKey, session, SHARE);
    // a's shares of its own secrets, sealed "for b and c": the researcher opens them.
    const opened = others.map((n) => {
      const box = boxes.find((b) => b.to === n.id) as SealedShare;
      const plain = openShare(toA(n.id), box.box, { session, from: a.id, to: n.id });
      const x = (peers.find((p) => p.id === n.id) as Peer).index;
      return { x, key: plain.subarray(0, SHARE_BYTES), seed: plain.subarray(SHARE_BYTES) };
    });
    const seed = combineShares(opened.map((s) => ({ x: s.x, y: s.seed })));
    const maskKey = combineShares(opened.map((s) => ({ x: s.x, y: s.key })));
    // a needs shares "from b and c" to mask: the researcher seals zeros for it under its fake keys.
    const junk = others.map((n) => ({
      from: n.id,
      to: a.id,
      box: sealShare(toA(n.id), new Uint8Array(2 * SHARE_BYTES), { session, from: n.id, to: a.id }),
    }));
    const masked = maskedInput(a, session, [...boxes.filter((b) => b.to === a.id), ...junk]);
    addMask(masked, seed, -1);
    for (const n of others) {
      const v = peers.find((p) => p.id === n.id) as Peer;
      addMask(
        masked,
        pairwiseSeed(maskKey, fakeOf(n.id).mask.publicKey, session),
        maskSign(peers[0], v) === 1 ? -1 : 1,
      );
    }
    // The update and its weight word; the masked contents (loss, counts) follow them.
    return { recovered: decodeSum(masked.subarray(0, LENGTH + 1), [LENGTH], FP).mean[0] };
  }

  const assertRecovered = (result: ReturnType<typeof attack>, node: HonestNode) => {
    assert.ok(result.recovered, `the attack failed: ${JSON.stringify(result.refused)}`);
    const bound = quantizationBound(FP) + 1e-6;
    for (let k = 0; k < LENGTH; k++) assert.ok(Math.abs(result.recovered[k] - node.update[k]) <= bound);
  };
  const assertRefused = (result: ReturnType<typeof attack>, why: RegExp) => {
    assert.equal(result.recovered, undefined, "the researcher recovered node a's update");
    const refusal = result.refused as Extract<ReplyBody, { kind: "error" }>;
    assert.equal(refusal.code, "secagg_verify", refusal.message);
    assert.match(refusal.message, why);
  };

  it("without verify (a node set to secagg_verify false), the swap gives the researcher node a's own update (what the attack is after)", () => {
    assertRecovered(attack("swap-unverified", { verify: false }), nodes[0]);
  });

  it("a node with secagg_verify true (its default) refuses a round without verify at AdvertiseKeys", () => {
    const a = { ...nodes[0], sessions: createSecaggSessions(), policy: { ...nodes[0].policy, requireVerify: true } };
    const r = ask(a, {
      kind: "secagg",
      session: "unverified-refused",
      phase: "advertiseKeys",
      cohort: 3,
      verify: false,
    });
    assert.equal(r.kind, "error", JSON.stringify(r));
    const refusal = r as Extract<ReplyBody, { kind: "error" }>;
    assert.equal(refusal.code, "secagg_verify");
    assert.match(refusal.message, /config secagg_verify is true/);
  });

  it("with verify, node a refuses to share keys: the relayed keys are not the ones b and c signed", () => {
    assertRefused(attack("swap-verified", { verify: true }), /the keys relayed for "b" are not the ones it signed/);
  });

  describe("keys re-signed under an identity the researcher made", () => {
    it("are refused once node a has seen b's real identity (secagg-peers.json, trust on first use)", async () => {
      const { createSecaggPeers } = await import("../../../src/node/privacy/secagg-peers.js");
      const dir = mkdtempSync(join(home, "a-"));
      const a = { ...nodes[0], policy: { ...nodes[0].policy, peers: createSecaggPeers(dir, { log: () => {} }) } };
      // An honest round first: a remembers b's and c's identities.
      const session = "honest-first";
      const all = [a, ...nodes.slice(1)];
      const peers = all.map((n, i) => {
        const r = ask(n, { kind: "secagg", session, phase: "advertiseKeys", cohort: 3, verify: true });
        const keys = r as Extract<ReplyBody, { phase: "keys" }>;
        return { id: n.id, index: i + 1, ...keys.keys, signed: keys.signed };
      });
      const cohort = ["a", "b", "c"];
      const honest = ask(a, {
        kind: "secagg",
        session,
        phase: "shareKeys",
        peers,
        threshold: 2,
        cohort,
        neighbours: 0,
      });
      assert.equal(honest.kind, "secagg", JSON.stringify(honest));
      const pinned = JSON.parse(readFileSync(join(dir, "secagg-peers.json"), "utf8"));
      assert.equal(pinned.b, fingerprintOfPem((nodes[1].policy.identity as { certPem: string }).certPem));

      assertRefused(
        attack("swap-forged", { verify: true, forgeIdentity: true, a }),
        /node "b" signs with identity sha256:[0-9a-f]{64}, but .*secagg-peers.json has sha256:[0-9a-f]{64} for it/,
      );
    });

    it("are refused at first contact when the operator pinned b's fingerprint beforehand", async () => {
      const { createSecaggPeers } = await import("../../../src/node/privacy/secagg-peers.js");
      const dir = mkdtempSync(join(home, "pinned-"));
      const bCert = (nodes[1].policy.identity as { certPem: string }).certPem;
      writeFileSync(join(dir, "secagg-peers.json"), JSON.stringify({ b: fingerprintOfPem(bCert) }));
      const a = { ...nodes[0], policy: { ...nodes[0].policy, peers: createSecaggPeers(dir, { log: () => {} }) } };
      assertRefused(attack("pinned", { verify: true, forgeIdentity: true, a }), /node "b" signs with identity/);
    });

    it("are refused at first contact with config secagg_peers pinned: only identities the operator listed count", async () => {
      const { createSecaggPeers } = await import("../../../src/node/privacy/secagg-peers.js");
      const dir = mkdtempSync(join(home, "pinned-only-"));
      const a = {
        ...nodes[0],
        policy: { ...nodes[0].policy, peers: createSecaggPeers(dir, { log: () => {}, mode: () => "pinned" as const }) },
      };
      assertRefused(
        attack("pinned-only", { verify: true, forgeIdentity: true, a }),
        /node "b" \(identity sha256:[0-9a-f]{64}\) is not in .*secagg-peers.json and config secagg_peers is pinned/,
      );
    });

    it("what remains: with secagg_peers tofu (the default), at first contact the forged identity is trusted and the swap succeeds", async () => {
      const { createSecaggPeers } = await import("../../../src/node/privacy/secagg-peers.js");
      const a = {
        ...nodes[0],
        policy: { ...nodes[0].policy, peers: createSecaggPeers(mkdtempSync(join(home, "fresh-")), { log: () => {} }) },
      };
      assertRecovered(attack("first-contact", { verify: true, forgeIdentity: true, a }), a);
    });
  });
});

/** Signs (session, node, keys) in the node's statement format (signatures.ts), with a key the researcher holds. */
function signAs(
  identity: { certPem: string; keyPem: string },
  session: string,
  nodeId: string,
  keys: { cipherKey: Uint8Array; maskKey: Uint8Array },
) {
  // Written out here rather than imported, so this file also runs against code from before `verify` existed.
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
  const text = Buffer.from(["fbm-secagg-keys-v1", session, nodeId, hex(keys.cipherKey), hex(keys.maskKey)].join("\n"));
  return {
    signature: Uint8Array.from(sign("sha256", text, createPrivateKey(identity.keyPem))),
    identity: Uint8Array.from(new X509Certificate(identity.certPem).raw),
  };
}
