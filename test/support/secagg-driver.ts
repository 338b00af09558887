import { generateKeyPair } from "../../src/common/certificates.js";
import type { ContentsLayout } from "../../src/ml/masked-contents.js";
import type { NamedTensor } from "../../src/ml/types.js";
import { createSecaggSessions, executeSecagg, secaggExtension } from "../../src/node/executors/secagg.js";
import type { SecaggPolicy } from "../../src/node/executors/secagg-guard.js";
import { neighbourhoods } from "../../src/privacy/secagg/graph.js";
import type { Peer, SealedShare } from "../../src/privacy/secagg/messages.js";
import type { ReplyBody, SecaggTaskBody } from "../../src/wire/index.js";

/** The masked contents of a task with no validation sets: the update, then only the weighted loss. */
export const NO_CONTENTS: ContentsLayout = { kind: "regression", classes: 2, sets: [] };

/**
 * Nodes running the node's own secure aggregation code (executeSecagg, secaggExtension) in this process,
 * each with a real identity key pair, and a researcher driving them step by step: for tests that play a
 * malicious researcher by changing any task on the way. `ask` returns a refusal as the error reply
 * executors/index.ts would send.
 */
export interface DrivenNode {
  id: string;
  sessions: ReturnType<typeof createSecaggSessions>;
  policy: SecaggPolicy;
}

export async function drivenNodes(ids: readonly string[], policy: Partial<SecaggPolicy> = {}): Promise<DrivenNode[]> {
  return Promise.all(
    ids.map(async (id) => {
      const pair = await generateKeyPair({ commonName: `fbm node ${id}` });
      return {
        id,
        sessions: createSecaggSessions(),
        policy: { minNodes: 3, identity: { certPem: pair.cert, keyPem: pair.key }, ...policy },
      };
    }),
  );
}

export function ask(node: DrivenNode, task: SecaggTaskBody): ReplyBody {
  try {
    return executeSecagg(node.sessions, node.id, task, node.policy);
  } catch (error) {
    const code = (error as { code?: string }).code ?? "failed";
    return { kind: "error", code: code as "failed", message: (error as Error).message };
  }
}

const LENGTH = 8;
export const driverModel = (value = 0): NamedTensor[] => [
  { name: "w", shape: [LENGTH], dtype: "float32", data: new Float32Array(LENGTH).fill(value) },
];

/**
 * An honest round up to the masked inputs: AdvertiseKeys, ShareKeys, MaskedInputCollection for every
 * node not in `dropAfterShares`. `model(id)` is the global model each node is sent (the same for all
 * unless a test says otherwise). Returns what the researcher holds then.
 */
export function roundToMasking(
  nodes: DrivenNode[],
  options: {
    session: string;
    verify: boolean;
    neighbours?: number;
    threshold: number;
    dropAfterShares?: readonly string[];
    model?: (id: string) => NamedTensor[];
  },
) {
  const { session, verify } = options;
  const ids = nodes.map((n) => n.id).sort();
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const expect = <P extends string>(r: ReplyBody, phase: P) => {
    if (r.kind !== "secagg" || r.phase !== phase) throw new Error(`expected ${phase}, got ${JSON.stringify(r)}`);
    return r as Extract<ReplyBody, { phase: P }>;
  };
  const peers = new Map<string, Peer>(
    ids.map((id, i) => {
      const r = expect(
        ask(byId.get(id) as DrivenNode, {
          kind: "secagg",
          session,
          phase: "advertiseKeys",
          cohort: ids.length,
          verify,
        }),
        "keys",
      );
      return [id, { id, index: i + 1, ...r.keys, ...(r.signed ? { signed: r.signed } : {}) }];
    }),
  );
  const k = options.neighbours !== undefined && options.neighbours < ids.length - 1 ? options.neighbours : 0;
  const graph = neighbourhoods(ids, k || undefined, session);
  const boxes: SealedShare[] = [];
  for (const id of ids) {
    const task: SecaggTaskBody = {
      kind: "secagg",
      session,
      phase: "shareKeys",
      peers: (graph.get(id) as string[]).map((p) => peers.get(p) as Peer),
      threshold: options.threshold,
      cohort: ids,
      neighbours: k,
    };
    boxes.push(...expect(ask(byId.get(id) as DrivenNode, task), "shares").shares);
  }
  const survivors = ids.filter((id) => !options.dropAfterShares?.includes(id));
  const masked = new Map<string, Uint32Array>();
  for (const id of survivors) {
    const node = byId.get(id) as DrivenNode;
    const model = options.model?.(id) ?? driverModel();
    const extension = secaggExtension({
      model,
      contents: NO_CONTENTS,
      masking: {
        session,
        shares: boxes.filter((b) => b.to === id && graph.get(b.from)?.includes(id)),
        clip: 1,
        bits: 16,
      },
      participant: node.sessions.get(session),
    });
    const reply = extension.reply({ params: model, sampleCount: 1, trainLoss: 0, seconds: 0 });
    const data = reply.params[0].data as Int32Array;
    masked.set(id, new Uint32Array(data.buffer, data.byteOffset, data.length));
  }
  const dropped = ids.filter((id) => !survivors.includes(id));
  /** The Unmasking task for `id`, as an honest researcher would send it. */
  const unmaskTask = (id: string, signatures: { node: string; signature: Uint8Array }[] = []): SecaggTaskBody => {
    const near = new Set(graph.get(id));
    return {
      kind: "secagg",
      session,
      phase: "unmask",
      survivors: survivors.filter((s) => near.has(s)),
      dropped: dropped.filter((d) => near.has(d)),
      allSurvivors: survivors,
      signatures: signatures.filter((s) => near.has(s.node)),
    };
  };
  return { ids, peers, graph, survivors, dropped, masked, unmaskTask, byId };
}
