import type { DatasetInfo } from "../../wire/index.js";
import type { Participant } from "../server/discover.js";

/**
 * The one dataset a relay announces upstream for the nodes behind it: their datasets with the tags
 * asked for, seen as one. The researcher above checks each update's sample count against the dataset
 * it was told of, so the relay's total must be the sum of what its nodes hold; it trains only the
 * nodes counted here (`members`), never one that joined after the announcement.
 */
export interface RelayDataset {
  /** What upstream is told (its id names this relay's pool: `relay:<tags>`). */
  info: DatasetInfo;
  /** The nodes counted in it, each with its own dataset. */
  members: Participant[];
  /** Nodes left out: their dataset's kind, columns or shape differ from the first node's. */
  excluded: { node: string; name: string; reason: string }[];
}

/** The dataset id upstream uses for a relay's pool of datasets with `tags`. */
export function relayDatasetId(tags: readonly string[]): string {
  return `relay:${[...tags].sort().join(",")}`;
}

/**
 * Pools `found` (a participant per node, in answer order) into one dataset: the first node sets the
 * kind, columns, target and the shape of one sample, and every node whose dataset agrees is counted
 * (rows and class counts added). Undefined when no node holds a matching dataset.
 */
export function poolDatasets(
  found: Participant[],
  tags: readonly string[],
  relayName: string,
): RelayDataset | undefined {
  const members: Participant[] = [];
  const excluded: RelayDataset["excluded"] = [];
  const first = found[0]?.dataset;
  if (!first) return undefined;
  for (const p of found) {
    const reason = mismatch(first, p.dataset);
    if (reason) excluded.push({ node: p.node, name: p.name, reason });
    else members.push(p);
  }
  const classes = new Map<string, number>();
  for (const { dataset } of members) {
    for (const c of dataset.classes) classes.set(c.name, (classes.get(c.name) ?? 0) + c.count);
  }
  const rows = members.reduce((s, p) => s + (p.dataset.shape[0] ?? 0), 0);
  const info: DatasetInfo = {
    id: relayDatasetId(tags),
    name: `${relayName}: ${members.length} node(s)`,
    type: first.type,
    tags: [...tags],
    description: `pooled by relay ${relayName} from ${members.map((m) => m.name).join(", ")}`,
    shape: [rows, ...first.shape.slice(1)],
    columns: first.columns.map((c) => ({ ...c })),
    sampleCount: members.reduce((s, p) => s + p.dataset.sampleCount, 0),
    classes: [...classes].map(([name, count]) => ({ name, count })),
    target: first.target,
    createdAt: members.map((m) => m.dataset.createdAt).sort()[0],
  };
  return { info, members, excluded };
}

/** Why `other` cannot be trained as part of `first`'s pool (one plan, one input shape), or undefined. */
function mismatch(first: DatasetInfo, other: DatasetInfo): string | undefined {
  if (other.type !== first.type) return `its dataset is ${other.type}, not ${first.type}`;
  if (other.target !== first.target) return `its target is "${other.target}", not "${first.target}"`;
  const columns = (d: DatasetInfo) => d.columns.map((c) => `${c.name}:${c.dtype}`).join(",");
  if (columns(other) !== columns(first)) return "its columns differ from the first node's";
  if (other.shape.slice(1).join("x") !== first.shape.slice(1).join("x"))
    return `its sample shape [${other.shape.slice(1).join(", ")}] differs from [${first.shape.slice(1).join(", ")}]`;
  return undefined;
}
