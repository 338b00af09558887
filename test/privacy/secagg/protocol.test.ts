import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeSum, encodeUpdate, quantizationBound } from "../../../src/privacy/secagg/fixed-point.js";
import { inMemoryRound } from "../../../src/privacy/secagg/in-memory-round.js";
import { createParticipant, ProtocolError } from "../../../src/privacy/secagg/participant.js";
import { ShareAuthError } from "../../../src/privacy/secagg/share-box.js";

const LENGTH = 1000;
const ids = ["a", "b", "c", "d", "e"];
/** Node i's input: i·1000 + coordinate, so any missing or extra input shows in the sum. */
const inputs = () => new Map(ids.map((id, i) => [id, Uint32Array.from({ length: LENGTH }, (_, k) => i * 1000 + k)]));
const plainSum = (which: string[]) =>
  Uint32Array.from({ length: LENGTH }, (_, k) => which.reduce((s, id) => s + ids.indexOf(id) * 1000 + k, 0));

describe("secure aggregation round (Bonawitz et al. 2017)", () => {
  it("masks cancel: the unmasked sum is the plain sum of all inputs", () => {
    const { sum, survivors } = inMemoryRound({ inputs: inputs(), threshold: 3 });
    assert.deepEqual(survivors, ids);
    assert.deepEqual(sum, plainSum(ids));
  });

  it("a node lost after sharing keys is removed with the shares of its mask key", () => {
    const { sum, dropped } = inMemoryRound({
      inputs: inputs(),
      threshold: 3,
      dropAfter: new Map([["c", "shareKeys"]]),
    });
    assert.deepEqual(dropped, ["c"]);
    assert.deepEqual(sum, plainSum(["a", "b", "d", "e"]));
  });

  it("a node lost after sending its masked input still counts", () => {
    const { sum } = inMemoryRound({ inputs: inputs(), threshold: 3, dropAfter: new Map([["e", "maskInput"]]) });
    assert.deepEqual(sum, plainSum(ids));
  });

  it("a node lost before sharing keys is left out", () => {
    const { sum } = inMemoryRound({ inputs: inputs(), threshold: 3, dropAfter: new Map([["e", "advertise"]]) });
    assert.deepEqual(sum, plainSum(["a", "b", "c", "d"]));
  });

  it("nodes lost before and after sharing keys leave the sum of the other three", () => {
    const dropAfter = new Map<string, "advertise" | "shareKeys" | "maskInput">([
      ["a", "shareKeys"],
      ["b", "advertise"],
    ]);
    const { sum } = inMemoryRound({ inputs: inputs(), threshold: 3, dropAfter });
    assert.deepEqual(sum, plainSum(["c", "d", "e"]));
  });

  it("below the threshold the round fails instead of unmasking", () => {
    const dropAfter = new Map<string, "shareKeys">([
      ["a", "shareKeys"],
      ["b", "shareKeys"],
      ["c", "shareKeys"],
    ]);
    // The survivors' nodes refuse to reveal (ProtocolError) before the server could try (BelowThresholdError).
    assert.throws(() => inMemoryRound({ inputs: inputs(), threshold: 3, dropAfter }), /below the threshold 3/);
  });

  it("SecAgg+ neighbourhoods (Bell et al. 2020) give the same sum, with dropouts", () => {
    const many = new Map(Array.from({ length: 12 }, (_, i) => [`n${i}`, Uint32Array.from([i, 2 * i, 1])]));
    const { sum } = inMemoryRound({
      inputs: many,
      threshold: 4,
      neighbours: 6,
      dropAfter: new Map([["n3", "shareKeys"]]),
    });
    assert.deepEqual([...sum], [66 - 3, 132 - 6, 11]);
  });

  it("a masked input looks random: uncorrelated with the input", () => {
    const p = new Map(ids.map((id) => [id, createParticipant("s", id)]));
    const peers = ids.map((id, i) => ({ id, index: i + 1, ...p.get(id)!.keys }));
    const boxes = ids.flatMap((id) => p.get(id)!.shareKeys(peers, 3));
    const input = Uint32Array.from({ length: 10_000 }, (_, k) => k);
    const masked = p.get("a")!.maskInput(
      boxes.filter((b) => b.to === "a"),
      input,
    );
    assert.ok(Math.abs(correlation(input, masked)) < 0.05);
  });
});

describe("the node's safety rules", () => {
  const setUp = () => {
    const p = new Map(ids.map((id) => [id, createParticipant("s1", id)]));
    const peers = ids.map((id, i) => ({ id, index: i + 1, ...p.get(id)!.keys }));
    const boxes = ids.flatMap((id) => p.get(id)!.shareKeys(peers, 3));
    return { p, peers, boxes, to: (id: string) => boxes.filter((b) => b.to === id) };
  };

  it("a tampered share fails authentication", () => {
    const { p, to } = setUp();
    const mine = to("a").map((b) => ({ ...b, box: Uint8Array.from(b.box) }));
    mine[1].box[20] ^= 1;
    assert.throws(() => p.get("a")!.maskInput(mine, new Uint32Array(4)), ShareAuthError);
  });

  it("a share replayed from another round, or relayed to another node, fails authentication", () => {
    const { p, to } = setUp();
    const other = setUp();
    // Same sender and receiver ids, another session: the key and the associated data differ.
    const replayed = to("a").map((b) => (b.from === "b" ? other.to("a").find((o) => o.from === "b")! : b));
    assert.throws(() => p.get("a")!.maskInput(replayed, new Uint32Array(4)), ShareAuthError);
    // b's share for c handed to a, relabelled as if b had sealed it for a.
    const { p: p2, to: to2 } = setUp();
    const misrouted = to2("a").map((b) => (b.from === "b" ? { ...to2("c").find((o) => o.from === "b")!, to: "a" } : b));
    assert.throws(() => p2.get("a")!.maskInput(misrouted, new Uint32Array(4)), ShareAuthError);
  });

  it("never reveals both kinds of share for one node, and reveals once", () => {
    const { p, to } = setUp();
    p.get("a")!.maskInput(to("a"), new Uint32Array(4));
    assert.throws(() => p.get("a")!.reveal(["a", "b", "c"], ["b"]), /both as a survivor and as dropped/);
    p.get("a")!.reveal(["a", "b", "c"], ["d", "e"]);
    assert.throws(() => p.get("a")!.reveal(["a", "b", "c"], []), /already revealed/);
  });

  it("refuses a threshold at or below half of the neighbours", () => {
    const p = createParticipant("s2", "a");
    const peers = ["a", "b", "c", "d"].map((id, i) =>
      id === "a" ? { id, index: 1, ...p.keys } : { id, index: i + 1, ...createParticipant("s2", id).keys },
    );
    assert.throws(() => p.shareKeys(peers, 2), ProtocolError);
  });
});

describe("fixed-point encoding", () => {
  it("decodes the sum of count-weighted inputs to the weighted mean within half a step", () => {
    const fp = { clip: 2, bits: 16 };
    const a = [Float32Array.from([0.5, -1.25, 1.999])];
    const b = [Float32Array.from([-0.3, 0.7, 1.5])];
    const sum = encodeUpdate(a, 30, fp);
    const eb = encodeUpdate(b, 10, fp);
    for (let i = 0; i < sum.length; i++) sum[i] += eb[i];
    const { mean, samples } = decodeSum(sum, [3], fp);
    assert.equal(samples, 40);
    const want = [0.5 * 0.75 - 0.3 * 0.25, -1.25 * 0.75 + 0.7 * 0.25, 1.999 * 0.75 + 1.5 * 0.25];
    for (const [i, v] of mean[0].entries()) {
      assert.ok(Math.abs(v - want[i]) <= quantizationBound(fp) + 1e-7, `${v} vs ${want[i]}`);
    }
  });

  it("clips values outside the range", () => {
    const fp = { clip: 1, bits: 8 };
    const { mean } = decodeSum(encodeUpdate([Float32Array.from([5, -7])], 3, fp), [2], fp);
    assert.deepEqual([...mean[0]], [1, -1]);
  });
});

function correlation(x: Uint32Array, y: Uint32Array): number {
  const n = x.length;
  let sx = 0,
    sy = 0,
    sxx = 0,
    syy = 0,
    sxy = 0;
  for (let i = 0; i < n; i++) {
    const a = x[i];
    const b = y[i] | 0; // masked words read as signed, as a decoder would
    sx += a;
    sy += b;
    sxx += a * a;
    syy += b * b;
    sxy += a * b;
  }
  return (n * sxy - sx * sy) / Math.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy));
}
