/**
 * The intervals of a pooled survival table, as grid steps every node allows. Walking from step 0, each
 * node names the shortest interval it allows from the current cut (`ends`: min_count exits per group
 * in it and after it; undefined when it must stay open; the cut itself when even the open interval
 * holds too few); the largest end holds enough on every node. A node naming the cut itself removes it:
 * the open tail joins the interval before.
 */
export async function commonCuts(ends: (start: number) => Promise<(number | undefined)[]>): Promise<number[]> {
  const cuts = [0];
  for (;;) {
    const start = cuts[cuts.length - 1];
    const named = await ends(start);
    if (named.some((e) => e === start) && cuts.length > 1) cuts.pop();
    if (named.some((e) => e === undefined || e === start)) return cuts;
    cuts.push(Math.max(...(named as number[])));
  }
}
