import { InputError } from "../../common/errors.js";
import { numberCell, type TableRows } from "./table-rows.js";

/** Survival rows of one node: each kept row's grid step, event flag and group. */
export interface SurvivalRows {
  /** Group names, sorted; [""] when the query has no group column. */
  groups: string[];
  /** Per group: exits (events + censorings) per grid step, and events per grid step. */
  exits: Map<number, number>[];
  events: Map<number, number>[];
  /** Rows kept, and rows left out (a missing cell, or a group with fewer than minCount rows here). */
  rows: number;
  excluded: number;
}

/**
 * The rows of a survival query on a grid of `grid` time units: step ⌊time / grid⌋. A negative time or
 * an event that is not 0/1 is an InputError naming the value; a group held by fewer than minCount rows
 * on this node is left out, like a rare category.
 */
export function survivalRows(
  rows: TableRows,
  q: { time: string; event: string; group: string; grid: number },
  minCount: number,
  where: string,
): SurvivalRows {
  if (!(Number.isFinite(q.grid) && q.grid > 0))
    throw new InputError(`Invalid survival grid "${q.grid}": give a time step above 0`);
  const [ti, ei, gi] = [q.time, q.event, q.group].map((c) => rows.columns.indexOf(c));
  const byGroup = new Map<string, { step: number; event: boolean }[]>();
  for (const row of rows.cells) {
    const [t, e, g] = [row[ti], row[ei], q.group ? row[gi] : ""];
    if (t === undefined || e === undefined || g === undefined) continue;
    const time = numberCell(t, q.time, where);
    if (time < 0)
      throw new InputError(`Column "${q.time}" holds a negative time "${t}" in ${where}: times must be 0 or more`);
    const event = numberCell(e, q.event, where);
    if (event !== 0 && event !== 1)
      throw new InputError(
        `Column "${q.event}" holds "${e}" in ${where}: an event column holds 1 (event) or 0 (censored)`,
      );
    const list = byGroup.get(g) ?? [];
    list.push({ step: Math.floor(time / q.grid), event: event === 1 });
    byGroup.set(g, list);
  }
  const groups = [...byGroup.keys()].filter((g) => byGroup.get(g)!.length >= minCount).sort();
  const exits = groups.map(() => new Map<number, number>());
  const events = groups.map(() => new Map<number, number>());
  let rowsKept = 0;
  groups.forEach((g, k) => {
    for (const { step, event } of byGroup.get(g)!) {
      exits[k].set(step, (exits[k].get(step) ?? 0) + 1);
      if (event) events[k].set(step, (events[k].get(step) ?? 0) + 1);
      rowsKept++;
    }
  });
  return { groups, exits, events, rows: rowsKept, excluded: rows.cells.length - rowsKept };
}

/** Exits of each group per interval between `cuts` (the last interval open). */
function exitsPerInterval(s: SurvivalRows, cuts: number[]): number[][] {
  return s.exits.map((exits) => {
    const out = new Array(cuts.length).fill(0);
    for (const [step, n] of exits) {
      let i = cuts.length - 1;
      while (i > 0 && cuts[i] > step) i--;
      out[i] += n;
    }
    return out;
  });
}

/**
 * The end of the shortest interval from step `start` this node allows: the first step e > start such
 * that [start, e) holds at least minCount exits in every group and so does everything from e on;
 * undefined when no such step exists (the interval from `start` must stay open), and `start` itself
 * when even that open interval holds fewer than minCount exits in a group. The researcher walks
 * from step 0 taking the largest end any node names, so every interval holds min_count exits per group
 * on every node (README "Clinical statistics").
 */
export function nextCut(s: SurvivalRows, minCount: number, start: number): number | undefined {
  const steps = [...new Set(s.exits.flatMap((e) => [...e.keys()]))].filter((k) => k >= start).sort((a, b) => a - b);
  const total = s.exits.map((e) => [...e].reduce((t, [k, n]) => t + (k >= start ? n : 0), 0));
  if (total.some((t) => t < minCount)) return start;
  const held = s.exits.map(() => 0);
  for (const step of steps) {
    s.exits.forEach((e, g) => {
      held[g] += e.get(step) ?? 0;
    });
    if (held.every((h, g) => h >= minCount && total[g] - h >= minCount)) return step + 1;
    if (held.some((h, g) => total[g] - h < minCount)) return undefined;
  }
  return undefined;
}

/**
 * Events and censorings per group and interval between `cuts`. Refuses (the executor sends
 * below_min_count) cuts that leave an interval of some group with fewer than minCount exits: the node,
 * not the researcher, decides how finely time is told.
 */
export function intervalCounts(
  s: SurvivalRows,
  cuts: number[],
  minCount: number,
): { events: number[]; censored: number[] } | { refused: string } {
  if (cuts[0] !== 0 || cuts.some((c, i) => i > 0 && c <= cuts[i - 1]))
    return { refused: "survival intervals must start at step 0 and increase" };
  const exits = exitsPerInterval(s, cuts);
  const short = exits.findIndex((g) => g.some((n) => n < minCount));
  if (short >= 0)
    return {
      refused: `an interval of group "${s.groups[short]}" holds fewer exits than min_count ${minCount}: ask for the cuts the node allows (km_cuts)`,
    };
  const intervals = cuts.length;
  const events: number[] = new Array(s.groups.length * intervals).fill(0);
  const censored: number[] = new Array(s.groups.length * intervals).fill(0);
  s.groups.forEach((_, g) => {
    for (const [step, n] of s.exits[g]) {
      let i = intervals - 1;
      while (i > 0 && cuts[i] > step) i--;
      const d = s.events[g].get(step) ?? 0;
      events[g * intervals + i] += d;
      censored[g * intervals + i] += n - d;
    }
  });
  return { events, censored };
}
