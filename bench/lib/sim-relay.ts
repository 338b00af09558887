/**
 * Helper process of bench/scale.ts: one relay (src/researcher/relay/) as `fbm-researcher relay` runs
 * it, less the signing: the real server and hub for its simulated nodes, and the real node client and
 * poll loop upstream with the relay's executor. It serves on 127.0.0.1:0, tells the parent its url,
 * waits for `nodes` nodes to list their datasets, then polls the researcher at `upstream`. Reports its CPU per upstream task.
 * Usage (from the benchmark): sim-relay.ts <upstream url> <relay id> <nodes>
 */
import { createGrpcTransport } from "@connectrpc/connect-node";
import { runPollLoop } from "../../src/node/serve/poll-loop.js";
import { createRelayExecutor, relayFederation } from "../../src/researcher/relay/relay.js";
import { createHub } from "../../src/researcher/server/hub.js";
import { startServer } from "../../src/researcher/server/server.js";
import { createResearcherClient, createWideSessionManager } from "../../src/wire/index.js";
import { toParent } from "./child.js";
import { createRssWatcher } from "./memory.js";

/** Messages to the parent; `task`: one upstream train task done: its time and the relay's CPU (ms) in it. */
export type RelayEvent =
  | { type: "listening"; url: string }
  | { type: "upstream"; nodes: number }
  | { type: "task"; round: number; ms: number; cpuMs: number; peakRss: number };

const [upstream, id, nodesArg] = process.argv.slice(2);
const stop = new AbortController();
process.once("disconnect", () => stop.abort());
const watcher = await createRssWatcher({ intervalMs: 5 });
const hub = createHub();
// Simulated nodes do not sign their calls, nor does the relay upstream: signatures are not measured.
const server = await startServer({ listen: "127.0.0.1:0", hub, allowUnsignedNodes: true });
await toParent<RelayEvent>({ type: "listening", url: server.url });
const federation = relayFederation(hub);
await federation.until(() => federation.answers().length >= Number(nodesArg), 600_000, stop.signal);
await toParent<RelayEvent>({ type: "upstream", nodes: federation.answers().length });
const relay = createRelayExecutor({ hub, federation, name: id, roundTimeoutMs: 600_000 });
const transport = createGrpcTransport({
  baseUrl: upstream,
  readMaxBytes: 16 * 1024 * 1024,
  sessionManager: createWideSessionManager(upstream),
});
await runPollLoop({
  client: createResearcherClient(transport),
  researcherUrl: upstream,
  nodeId: id,
  name: id,
  version: "bench",
  async execute(task, context) {
    const started = performance.now();
    const before = process.cpuUsage();
    const reply = await relay(task, context);
    if (task.body.kind === "train" && process.connected) {
      const used = process.cpuUsage(before);
      const ms = performance.now() - started;
      await toParent<RelayEvent>({
        type: "task",
        round: task.body.round,
        ms,
        cpuMs: (used.user + used.system) / 1000,
        peakRss: watcher.peak(),
      });
    }
    return reply;
  },
  signal: stop.signal,
  log: () => {},
  waitSeconds: 20,
  heartbeatMs: 60_000,
});
await server.close();
await watcher.stop();
if (process.connected) process.disconnect();
