import type { NamedTensor, TrainResult } from "../../ml/types.js";
import { CONTROL_PREFIX, DELTA_PREFIX } from "../../wire/index.js";
import type { TrainExtension } from "./train-extension.js";

/**
 * The node's half of SCAFFOLD (Karimireddy et al., 2020, option II). The researcher sends its control
 * variate c as extra tensors named `scaffold.c:<param>`; the node keeps its own c_i per experiment and
 * plan, trains with the gradient correction c − c_i, then sends back Δc_i = c_i⁺ − c_i as tensors named
 * `scaffold.dc:<param>`, where c_i⁺ = c_i − c + (x − y) / (K·η).
 */

export interface ControlStore {
  get(key: string): NamedTensor[] | undefined;
  set(key: string, value: NamedTensor[]): void;
}

/** How many experiments' control variates a node keeps (each is a model's size). */
export const MAX_CONTROL_ENTRIES = 4;

/**
 * In memory: a node restarted mid-experiment starts again from c_i = 0, as a new node would. Only the
 * `capacity` most recently used experiments are kept (a model-sized entry each, which researchers could
 * otherwise pile up without end); an experiment pushed out starts again from c_i = 0 the same way.
 */
export function createControlStore(capacity = MAX_CONTROL_ENTRIES): ControlStore {
  const store = new Map<string, NamedTensor[]>();
  return {
    get: (k) => store.get(k),
    set(k, v) {
      store.delete(k); // re-inserted last: the most recently used
      store.set(k, v);
      while (store.size > capacity) store.delete(store.keys().next().value!);
    },
  };
}

/** Splits a task's tensors into the model's and the server control variate (absent: not SCAFFOLD). */
export function splitControl(params: NamedTensor[]): { model: NamedTensor[]; control?: NamedTensor[] } {
  const model = params.filter((p) => !p.name.startsWith(CONTROL_PREFIX));
  const control = params
    .filter((p) => p.name.startsWith(CONTROL_PREFIX))
    .map((p) => ({ ...p, name: p.name.slice(CONTROL_PREFIX.length) }));
  return control.length ? { model, control } : { model };
}

const zerosLike = (ts: NamedTensor[]) => ts.map((t) => ({ ...t, data: new Float32Array(t.data.length) }));
/**
 * f(a, b) element by element, by a plain loop: `Float32Array.from(data, mapFn)` lists every value as a JS
 * number first (tens of MiB of heap and ~0.2 s of CPU at 1M parameters, see running-mean.ts).
 */
const combine = (a: NamedTensor[], b: NamedTensor[], f: (x: number, y: number) => number): NamedTensor[] =>
  a.map((t, i) => {
    const data = new Float32Array(t.data.length);
    const other = b[i].data;
    for (let j = 0; j < data.length; j++) data[j] = f(t.data[j], other[j]);
    return { ...t, data };
  });

/** The correction c − c_i for this round's training. */
export function correctionFor(control: NamedTensor[], local: NamedTensor[] | undefined): NamedTensor[] {
  return combine(control, local ?? zerosLike(control), (c, ci) => c - ci);
}

/** c_i⁺ and the Δc_i tensors to send (named with DELTA_PREFIX). */
export function controlUpdate(options: {
  global: NamedTensor[];
  trained: NamedTensor[];
  control: NamedTensor[];
  local?: NamedTensor[];
  steps: number;
  learningRate: number;
}): { next: NamedTensor[]; delta: NamedTensor[] } {
  const { global, trained, control, steps, learningRate } = options;
  const local = options.local ?? zerosLike(control);
  const k = steps * learningRate;
  const drift = combine(global, trained, (x, y) => (k > 0 ? (x - y) / k : 0));
  const next = local.map((t, i) => {
    const data = new Float32Array(t.data.length);
    const [c, d] = [control[i].data, drift[i].data];
    for (let j = 0; j < data.length; j++) data[j] = t.data[j] - c[j] + d[j];
    return { ...t, data };
  });
  const delta = combine(next, local, (n, ci) => n - ci).map((t) => ({ ...t, name: `${DELTA_PREFIX}${t.name}` }));
  return { next, delta };
}

/**
 * SCAFFOLD as a TrainExtension: the gradient correction c − c_i while training, then c_i⁺ kept in
 * `store` under `key` and Δc_i sent after the trained parameters (zero when only validating).
 * Undefined when the task carries no control variate.
 */
export function scaffoldExtension(options: {
  params: NamedTensor[];
  store: ControlStore;
  key: string;
  training: boolean;
  learningRate: number;
}): TrainExtension | undefined {
  const { model: global, control } = splitControl(options.params);
  if (!control) return undefined;
  const { store, key, training } = options;
  const local = store.get(key);
  return {
    model: global,
    gradientCorrection: training ? correctionFor(control, local) : undefined,
    reply(result: TrainResult) {
      const { next, delta } = controlUpdate({
        global,
        trained: result.params,
        control,
        local,
        steps: training ? (result.steps ?? 0) : 0,
        learningRate: options.learningRate,
      });
      if (training) store.set(key, next);
      const sent = training ? delta : delta.map((d) => ({ ...d, data: new Float32Array(d.data.length) }));
      return { ...result, params: [...result.params, ...sent] };
    },
  };
}
