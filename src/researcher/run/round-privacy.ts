import { RuntimeFailure } from "../../common/errors.js";
import type { DpArgs, TrainResult } from "../../ml/types.js";
import { computeRdp, defaultOrders, epsilonFromRdp } from "../../privacy/dp/rdp.js";

/** A round event's `privacy`: cumulative over the run so far. Central mode also records its sampling rate. */
export interface RoundPrivacy {
  epsilon: number;
  delta: number;
  /** Central: the fraction of connected nodes this round sampled (the accountant's q). */
  sample_rate?: number;
}

/**
 * Local DP: each node accounts for its own dataset and reports its ε; the run's ε is the largest (every
 * dataset is protected at least that well). A node that trained but reported no accounting did not run
 * DP-SGD (an older node): the round fails rather than report a guarantee that does not hold.
 * Central DP: the researcher's accountant, q = nodes sampled / nodes connected, one step per round
 * (McMahan et al. 2018, Section 3), RDP added over the rounds in `history` (resumed runs included).
 */
export function roundPrivacy(options: {
  dp: DpArgs;
  /** The round's updates (train-round.ts `NodeUpdate`), as far as the accounting reads them. */
  updates: { participant: { name: string }; result: Pick<TrainResult, "privacy"> }[];
  history: unknown[];
  sampleRate: number;
}): RoundPrivacy {
  const { dp } = options;
  if (dp.mode === "local") {
    let epsilon = 0;
    for (const u of options.updates) {
      const spent = u.result.privacy;
      if (!spent) {
        throw new RuntimeFailure(
          `Node ${u.participant.name} sent an update without DP accounting: it did not run DP-SGD (is it older than the researcher?)`,
        );
      }
      epsilon = Math.max(epsilon, spent.epsilon);
    }
    return { epsilon, delta: dp.delta };
  }
  const rates = [...pastSampleRates(options.history), options.sampleRate];
  const total = new Array<number>(defaultOrders.length).fill(0);
  for (const q of rates) {
    computeRdp({ q, noiseMultiplier: dp.noiseMultiplier, steps: 1 }).forEach((r, i) => {
      total[i] += r;
    });
  }
  return { epsilon: epsilonFromRdp(total, dp.delta).epsilon, delta: dp.delta, sample_rate: options.sampleRate };
}

function pastSampleRates(history: unknown[]): number[] {
  return history.flatMap((event) => {
    const rate = (event as { privacy?: { sample_rate?: unknown } }).privacy?.sample_rate;
    return typeof rate === "number" ? [rate] : [];
  });
}
