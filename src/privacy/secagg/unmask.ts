import { publicKeyOf } from "./keys.js";
import type { Peer, Revealed } from "./messages.js";
import { maskSign, pairwiseSeed } from "./participant.js";
import { addMask } from "./prg.js";
import { combineShares, type Share } from "./shamir.js";

/**
 * The server's last step of Bonawitz et al. (CCS 2017, §4 Unmasking): from the sum of the survivors'
 * masked inputs, remove each survivor's self mask (its seed rebuilt from t shares) and, for each node
 * that dropped after sharing keys, the pairwise masks its surviving neighbours added with it (its mask
 * key rebuilt from t shares). Only sums are ever unmasked: no individual input is recovered.
 */

export class BelowThresholdError extends Error {}

export interface UnmaskInput {
  session: string;
  /** U2: every node whose shares were relayed (it may have masked with its neighbours), by id. */
  peers: ReadonlyMap<string, Peer>;
  /** Each node's neighbourhood (itself included), as the ShareKeys round sent it. */
  neighbours: ReadonlyMap<string, readonly string[]>;
  threshold: number;
  /** U3: nodes whose masked input is in `sum`. */
  survivors: readonly string[];
  /** U2 \ U3: nodes that shared keys but sent no masked input. */
  dropped: readonly string[];
  /** What each answering survivor revealed, by its id. */
  revealed: ReadonlyMap<string, Revealed>;
}

/** Unmasks `sum` (Σ masked inputs of the survivors) in place; BelowThresholdError when shares are missing. */
export function unmaskSum(sum: Uint32Array, input: UnmaskInput): void {
  const { peers, neighbours, threshold, session } = input;
  const gather = (of: string, kind: "seedShares" | "keyShares"): Share[] => {
    const shares: Share[] = [];
    for (const [holder, r] of input.revealed) {
      const s = r[kind].find((x) => x.of === of);
      if (s && neighbours.get(of)?.includes(holder)) shares.push({ x: (peers.get(holder) as Peer).index, y: s.share });
    }
    if (shares.length < threshold) {
      const what = kind === "seedShares" ? "self-mask seed" : "mask key";
      throw new BelowThresholdError(
        `only ${shares.length} share(s) of the ${what} of "${of}" came back, below the threshold ${threshold}`,
      );
    }
    return shares.slice(0, threshold);
  };
  const rebuild = (of: string, kind: "seedShares" | "keyShares") => {
    try {
      return combineShares(gather(of, kind));
    } catch (error) {
      if (error instanceof RangeError) throw new BelowThresholdError(`the shares of "${of}" do not rebuild a secret`);
      throw error;
    }
  };
  for (const u of input.survivors) addMask(sum, rebuild(u, "seedShares"), -1);
  for (const v of input.dropped) {
    const key = rebuild(v, "keyShares");
    const dropped = peers.get(v) as Peer;
    if (!Buffer.from(publicKeyOf(key)).equals(Buffer.from(dropped.maskKey))) {
      throw new BelowThresholdError(`the shares of the mask key of "${v}" rebuild a key that does not match its own`);
    }
    for (const u of input.survivors) {
      if (!neighbours.get(v)?.includes(u)) continue;
      const survivor = peers.get(u) as Peer;
      // u added maskSign(u, v)·PRG(s_uv) for the dropped v; nobody added the opposite: take it out.
      addMask(sum, pairwiseSeed(key, survivor.maskKey, session), maskSign(survivor, dropped) === 1 ? -1 : 1);
    }
  }
}
