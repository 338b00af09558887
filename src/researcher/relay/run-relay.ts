import { randomUUID } from "node:crypto";
import { InputError } from "../../common/errors.js";
import { packageVersion } from "../../common/version.js";
import { runPollLoop } from "../../node/serve/poll-loop.js";
import { createNodeTransport } from "../../node/serve/transport.js";
import { createResearcherClient } from "../../wire/index.js";
import { createHub } from "../server/hub.js";
import { createRefusals } from "../server/refusals.js";
import { type ResearcherTls, startServer } from "../server/server.js";
import { createRelayExecutor, relayFederation } from "./relay.js";

export interface RelayRunOptions {
  /** The researcher above, as a node would be given it (http:// on loopback, else https:// pinned). */
  upstream: string;
  /** Folder of the relay's node identity upstream (its key pair, created on first use). */
  homeDir: string;
  /** The relay's node id upstream. */
  id: string;
  /** Its name upstream (default: the id). */
  name?: string;
  /** The upstream researcher's certificate fingerprint (https:// upstream). */
  upstreamFingerprint?: string;
  /** Where the relay's own nodes connect: the serving flags of any researcher command. */
  listen: string;
  tls?: ResearcherTls;
  allowList?: string;
  insecure: boolean;
  /** Connect upstream once this many nodes are connected (or `waitMs` passed): they are then in its dataset. */
  nodes: number;
  waitMs: number;
  roundTimeoutMs: number;
  signal: AbortSignal;
  log: (line: string) => void;
  /** Told the URL its nodes connect to, once it serves (tests, scripts). */
  onListening?: (url: string) => void;
}

/**
 * `fbm-researcher relay`: serve nodes like a researcher (the same server, node auth and allow-list),
 * wait for the first `nodes` of them, then be a node of the researcher above (the node's own
 * transport, identity and poll loop) until `signal` aborts.
 */
export async function runRelay(options: RelayRunOptions): Promise<void> {
  const upstream = checkUpstream(options.upstream);
  const { log } = options;
  const hub = createHub({ log });
  const server = await startServer({
    listen: options.listen,
    hub,
    refusals: createRefusals(log),
    tls: options.tls,
    insecure: options.insecure,
    allowList: options.allowList,
    log,
  });
  try {
    log(`Relay listening on ${server.url} for nodes; upstream researcher ${upstream}`);
    options.onListening?.(server.url);
    // Each node lists its datasets as it connects; upstream is joined once `nodes` of them answered.
    const federation = relayFederation(hub, log);
    await federation.until(() => federation.answers().length >= options.nodes, options.waitMs, options.signal);
    if (options.signal.aborted) return;
    const answered = federation.answers().length;
    if (answered < options.nodes)
      log(
        `Warning: ${answered} of ${options.nodes} node(s) answered within ${options.waitMs / 1000} s; connecting upstream`,
      );
    const sessionId = randomUUID();
    const transport = await createNodeTransport({
      url: upstream,
      homeDir: options.homeDir,
      config: {
        node_id: options.id,
        ...(options.upstreamFingerprint ? { researcher_fingerprint: options.upstreamFingerprint } : {}),
      },
      sessionId,
      log,
    });
    await runPollLoop({
      client: createResearcherClient(transport),
      researcherUrl: upstream,
      nodeId: options.id,
      sessionId,
      name: options.name ?? options.id,
      version: packageVersion(),
      execute: createRelayExecutor({
        hub,
        federation,
        name: options.name ?? options.id,
        roundTimeoutMs: options.roundTimeoutMs,
        log,
      }),
      signal: options.signal,
      log,
    });
  } finally {
    await server.close();
  }
}

function checkUpstream(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InputError(
      `Invalid --upstream "${url}": expected the researcher's URL, e.g. https://researcher.example:50051`,
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new InputError(`Invalid --upstream "${url}": expected an http:// or https:// URL`);
  return url.replace(/\/+$/, "");
}
