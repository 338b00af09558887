import type { NamedTensor } from "../ml/types.js";

/**
 * How SCAFFOLD's control variates ride along with the parameters, so the schema needs no new fields:
 * a train task carries the server's c as tensors named `scaffold.c:<param>` after the model's, and
 * the reply carries the node's Δc_i as `scaffold.dc:<param>` after its trained parameters.
 */
export const CONTROL_PREFIX = "scaffold.c:";
export const DELTA_PREFIX = "scaffold.dc:";

/** The task's tensors: the model, then the server control variate (if any). */
export function withControl(model: NamedTensor[], control?: Float32Array[]): NamedTensor[] {
  if (!control) return model;
  return [...model, ...model.map((t, i) => ({ ...t, name: `${CONTROL_PREFIX}${t.name}`, data: control[i] }))];
}

/** The tensors a reply must hold: the model's, then (SCAFFOLD) one Δc per model tensor. */
export function expectedReply(model: NamedTensor[], scaffold: boolean): NamedTensor[] {
  return scaffold ? [...model, ...model.map((t) => ({ ...t, name: `${DELTA_PREFIX}${t.name}` }))] : model;
}

/** What a reply to a task carrying `sent` must hold: each `scaffold.c:X` answered by a `scaffold.dc:X`. */
export function replyTensorsFor(sent: NamedTensor[]): NamedTensor[] {
  return sent.map((t) =>
    t.name.startsWith(CONTROL_PREFIX) ? { ...t, name: DELTA_PREFIX + t.name.slice(CONTROL_PREFIX.length) } : t,
  );
}
