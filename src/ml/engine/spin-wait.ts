/**
 * How the threads of a data-parallel step wait for each other (data-parallel-step.ts, worker.ts): check a
 * control slot for a while, then sleep in `Atomics.wait`. Sleeping is dear when the partner is near: the
 * sleeper wakes late and the waker pays a futex wake in `Atomics.notify`. Spinning is dear when the
 * partner is far, above all on a loaded machine, where the partner may not even be on a core and the spin
 * burns CPU that others could use. Two regimes, chosen for the whole run by the training thread from what
 * it measures (`createCoreWatch`):
 *
 * * **Own cores** (every training thread has a core): spin up to `ownCoreSpins` (~1 ms) before sleeping,
 *   as KVM's halt polling does for an idle vCPU (Linux, Documentation/virt/kvm/halt-polling.rst: poll for
 *   as long as a wake-up is likely to come sooner than the cost of a halt and a wake). On a 2-core
 *   Firecracker VM whose guest does not poll (cpuidle `haltpoll`, `guest_halt_poll_ns` 0), a thread that
 *   sleeps halts its vCPU, and waking it took 0.1–1 ms, worst after the machine idled: 200 MLP steps right
 *   after a 150-ms pause ran at 0.63 ms a step against 0.58 back to back with the ~60-µs spin, and at 0.51
 *   and 0.52 with this one (`npm run bench -- pause`; a node idles between every round).
 * * **Shared cores** (other processes hold cores): each place a thread waits keeps its own budget, learnt
 *   from its recent waits: a sleep that ended within `shortMs` means a little more spinning would have
 *   caught it, so the budget grows back (up to `maxSpins`, ~60 µs); a longer one means the partner was far,
 *   so it halves; within a dozen long waits the threads sleep as soon as the partner is not there. Spinning
 *   ~1 ms here instead cost 1.8× a step with one busy process beside the MLP's two threads.
 */

/** The longest learnt spin (shared cores), in `Atomics.load`s: ~60 µs at ~15 ns a load on a 2-core Xeon VM. */
export const maxSpins = 4096;
/** The spin while the training threads have cores of their own: about 1 ms at that pace. */
export const ownCoreSpins = 65536;
/** One waiting place's spin budget (mutable: `waitFor` adjusts it after each wait). */
export interface SpinBudget {
  /** The learnt spin (shared cores). */
  spins: number;
  /** A sleep this short (ms) would have been caught by the longest spin. */
  shortMs: number;
  /** Whether the run's threads have cores of their own now (the run's `ownCores` slot); shared when absent. */
  ownCores?: () => boolean;
}

export function createSpinBudget(ownCores?: () => boolean): SpinBudget {
  return { spins: maxSpins, shortMs: 0.06, ...(ownCores ? { ownCores } : {}) };
}

/**
 * Waits until `done()` holds, control[slot] being the value that changes when it may (Atomics.wait's
 * address): first up to `ownCoreSpins` checks on own cores, else `budget.spins`, then sleeps of at most
 * `sleepMs` (calling `check`, which may throw to give up, between them). On shared cores the budget learns
 * from the wait (see above).
 */
export function waitFor(
  control: Int32Array,
  slot: number,
  done: (seen: number) => boolean,
  budget: SpinBudget,
  check?: () => void,
  sleepMs = 1000,
): void {
  const own = budget.ownCores?.() === true;
  const spins = own ? ownCoreSpins : budget.spins;
  for (let spin = 0; spin < spins; spin++) if (done(Atomics.load(control, slot))) return;
  const started = performance.now();
  for (;;) {
    const seen = Atomics.load(control, slot);
    if (done(seen)) break;
    check?.();
    Atomics.wait(control, slot, seen, sleepMs);
  }
  if (own) return;
  budget.spins =
    performance.now() - started <= budget.shortMs
      ? Math.min(maxSpins, Math.max(64, budget.spins * 2))
      : budget.spins >> 1;
}

/** The window `createCoreWatch` measures over, in steps (the MLP's ~16 ms, the CNN's ~130 ms on a 2-core VM). */
export const coreWatchSteps = 32;
/**
 * The least CPU ÷ (wall time × threads) of a window that says every training thread had a core: measured on
 * a quiet 2-core VM at 0.77–0.93 with the learnt spin (the threads sleep in some waits) and 0.85–0.99 with
 * the long one; with one busy process beside them, 0.46–0.56 under either.
 */
export const ownCoresShare = 0.7;

export interface CoreWatch {
  /** After each step: at the end of a window, publishes whether the threads had cores of their own. */
  step(): void;
  /** Starts a new window (a round's start: the pause before it is no one's CPU). */
  restart(): void;
}

/**
 * Whether a run's `threads` training threads each have a core, from the process's CPU time over windows of
 * `coreWatchSteps` steps (every thread's: a thread waiting for a core uses none, a spinning one does).
 */
export function createCoreWatch(
  threads: number,
  publish: (own: boolean) => void,
  clock: { cpuMs: () => number; nowMs: () => number } = {
    cpuMs: () => {
      const used = process.cpuUsage();
      return (used.user + used.system) / 1000;
    },
    nowMs: () => performance.now(),
  },
): CoreWatch {
  let steps = 0;
  let cpu0 = 0;
  let wall0 = 0;
  const restart = () => {
    steps = 0;
    cpu0 = clock.cpuMs();
    wall0 = clock.nowMs();
  };
  restart();
  return {
    step() {
      if (++steps < coreWatchSteps) return;
      const wall = clock.nowMs() - wall0;
      if (wall > 0) publish((clock.cpuMs() - cpu0) / (wall * threads) >= ownCoresShare);
      restart();
    },
    restart,
  };
}
