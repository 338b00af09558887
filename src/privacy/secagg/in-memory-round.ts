import { neighbourhoods } from "./graph.js";
import type { Peer, Revealed, SealedShare } from "./messages.js";
import { createParticipant, type Participant } from "./participant.js";
import { unmaskSum } from "./unmask.js";

/**
 * One secure aggregation round with every participant in this process, the server's relaying done by
 * plain function calls: for unit tests and benchmarks of the protocol without a network. `dropAfter`
 * loses a node after the named step: "advertise" (no shares sent), "shareKeys" (shares sent, no masked
 * input), "maskInput" (masked input sent, no Unmasking answer).
 */
export function inMemoryRound(options: {
  inputs: ReadonlyMap<string, Uint32Array>;
  threshold: number;
  neighbours?: number;
  dropAfter?: ReadonlyMap<string, "advertise" | "shareKeys" | "maskInput">;
  session?: string;
}): { sum: Uint32Array; survivors: string[]; dropped: string[] } {
  const session = options.session ?? "test-session";
  const ids = [...options.inputs.keys()];
  const gone = (id: string, after: "advertise" | "shareKeys" | "maskInput") => options.dropAfter?.get(id) === after;
  const participants = new Map<string, Participant>(ids.map((id) => [id, createParticipant(session, id)]));
  const peers = new Map<string, Peer>(ids.map((id, i) => [id, { id, index: i + 1, ...participants.get(id)!.keys }]));
  const graph = neighbourhoods(ids, options.neighbours);
  const boxes: SealedShare[] = [];
  const u2 = ids.filter((id) => !gone(id, "advertise"));
  for (const id of u2) {
    const near = graph.get(id)!.map((n) => peers.get(n)!);
    boxes.push(...participants.get(id)!.shareKeys(near, options.threshold));
  }
  const length = options.inputs.get(ids[0])!.length;
  const sum = new Uint32Array(length);
  const survivors: string[] = [];
  for (const id of u2) {
    if (gone(id, "shareKeys")) continue;
    const mine = boxes.filter((b) => b.to === id);
    const masked = participants.get(id)!.maskInput(mine, options.inputs.get(id)!);
    for (let i = 0; i < length; i++) sum[i] += masked[i];
    survivors.push(id);
  }
  const dropped = u2.filter((id) => !survivors.includes(id));
  const revealed = new Map<string, Revealed>();
  for (const id of survivors) {
    if (gone(id, "maskInput")) continue;
    const near = new Set(graph.get(id));
    revealed.set(
      id,
      participants.get(id)!.reveal(
        survivors.filter((s) => near.has(s)),
        dropped.filter((d) => near.has(d)),
      ),
    );
  }
  unmaskSum(sum, {
    session,
    peers: new Map(u2.map((id) => [id, peers.get(id)!])),
    neighbours: graph,
    threshold: options.threshold,
    survivors,
    dropped,
    revealed,
  });
  return { sum, survivors, dropped };
}
