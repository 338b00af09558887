import type { Participant } from "../../src/researcher/run/roster.js";

/** A round participant named after its node, holding a small CSV dataset of 100 rows. */
export function participant(node: string): Participant {
  return {
    node,
    name: node,
    dataset: {
      id: "d1",
      name: "d",
      type: "csv",
      tags: ["t"],
      description: "",
      shape: [2],
      columns: [],
      sampleCount: 100,
      classes: [],
      target: "y",
      createdAt: "",
    },
  };
}
