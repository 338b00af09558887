import { appendFileSync } from "node:fs";
import { join } from "node:path";
import type { NodeRuntime } from "../executors/index.js";

/**
 * The serving process's test hooks, in one place: end-to-end tests drive real `fbm-node serve` processes
 * and can reach them only through their environment. Each is named FBM_TEST_*, off unless set, and
 * never set in production.
 */

/**
 * Test-only, never set in production: FBM_TEST_LOST_RESEARCHER_MS=N shortens the window after which a
 * running task whose feedback keeps failing is cancelled (LOST_RESEARCHER_MS, 65 s) to N ms, with
 * heartbeats every N/4 ms, so end-to-end tests see a vanished researcher's task stop without waiting a minute.
 */
export function testLostResearcher(): { lostResearcherMs?: number; heartbeatMs?: number } {
  const ms = Number(process.env.FBM_TEST_LOST_RESEARCHER_MS);
  if (!Number.isFinite(ms) || ms <= 0) return {};
  return { lostResearcherMs: ms, heartbeatMs: Math.max(10, Math.floor(ms / 4)) };
}

/**
 * Test-only, never set in production: with FBM_TEST_SECAGG_UPDATES=DIR the node appends each clipped
 * update it masks to DIR/<node id>.jsonl, so end-to-end tests can check that what the researcher
 * received is uncorrelated with it. The file stays on the node's own machine.
 */
export function testUpdateLog(nodeId: string): Pick<NodeRuntime, "onSecaggUpdate"> {
  const dir = process.env.FBM_TEST_SECAGG_UPDATES;
  if (!dir) return {};
  return {
    onSecaggUpdate: (session, update) =>
      appendFileSync(
        join(dir, `${nodeId}.jsonl`),
        `${JSON.stringify({ session, update: update.map((t) => [...t]) })}\n`,
      ),
  };
}
