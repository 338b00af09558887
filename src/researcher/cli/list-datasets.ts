import { InputError } from "../../common/errors.js";
import { discover, type NodeDatasets } from "../server/discover.js";
import { createHub } from "../server/hub.js";
import { createRefusals } from "../server/refusals.js";
import { type ResearcherTls, startServer } from "../server/server.js";

export type { NodeDatasets };

/**
 * `fbm-researcher datasets`: serve for `waitSeconds` (or until `nodes` nodes answered), ask every node
 * that connects for its datasets (matching `tags`, or all), and return them per node. What nodes send
 * carries no paths.
 */
export async function listDatasets(options: {
  tags: string[];
  listen: string;
  waitSeconds: number;
  /** Stop waiting once this many nodes answered. */
  nodes?: number;
  /** Serve HTTPS with mutual TLS (see startServer). */
  tls?: ResearcherTls;
  /** Serve cleartext beyond loopback (`--insecure`). */
  insecure?: boolean;
  /** Cleartext: the allow-list the nodes' signing keys must be on. */
  allowList?: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
}): Promise<NodeDatasets[]> {
  if (!(options.waitSeconds > 0))
    throw new InputError(`Invalid --wait "${options.waitSeconds}": give a number of seconds above 0`);
  const hub = createHub({ pollWindowMs: 5000, log: options.log });
  const refusals = createRefusals(options.log);
  const server = await startServer({
    listen: options.listen,
    hub,
    refusals,
    tls: options.tls,
    insecure: options.insecure,
    allowList: options.allowList,
    log: options.log,
  });
  options.log?.(`Listening on ${server.url}; collecting datasets for ${options.waitSeconds} s`);
  // Every node is asked for all its datasets (or those with the tags), not for one to work on.
  const federation = discover(hub, {
    tags: options.tags.length ? options.tags : undefined,
    timeoutMs: options.waitSeconds * 1000 + 5000,
  });
  try {
    const wanted = options.nodes ?? Infinity;
    await federation.until(() => federation.answers().length >= wanted, options.waitSeconds * 1000, options.signal);
    federation.close();
    await federation.settled();
    const listed = federation.answers().sort((a, b) => a.name.localeCompare(b.name));
    // An empty listing must not look like "no node has data" when nodes were turned away.
    const refused = refusals.lines();
    if (refused.length > 0)
      options.log?.(`Warning: ${refused.length} node(s) were refused and are not listed: ${refused.join("; ")}`);
    return listed;
  } finally {
    federation.close();
    await server.close();
  }
}

/**
 * The human listing of `fbm-researcher datasets`: per node its datasets, and for a medical folder its
 * modalities (columns whose type is a volume shape, see src/node/catalogue.ts).
 */
export function formatNodeDatasets(result: NodeDatasets[]): string {
  const lines: string[] = [];
  for (const node of result) {
    lines.push(`${node.name} (${node.node}): ${node.datasets.length} dataset(s)`);
    for (const d of node.datasets) {
      lines.push(
        `  ${d.id}  ${d.name}  ${d.type}  [${d.tags.join(", ")}]  ${d.sampleCount} samples  shape [${d.shape.join(", ")}]`,
      );
      const volumes = d.columns.filter((c) => c.dtype.startsWith("volume "));
      if (d.type === "medical-folder" && volumes.length > 0)
        lines.push(`    modalities: ${volumes.map((c) => `${c.name} (${c.dtype})`).join(", ")}`);
    }
  }
  return lines.map((line) => `${line}\n`).join("");
}
