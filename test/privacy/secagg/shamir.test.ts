import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { combineShares, splitSecret } from "../../../src/privacy/secagg/shamir.js";

const rebuilds = (got: () => Uint8Array, secret: Uint8Array) => {
  try {
    return Buffer.from(got()).equals(Buffer.from(secret));
  } catch {
    return false;
  }
};

describe("Shamir secret sharing", () => {
  const secret = randomBytes(32);
  const shares = splitSecret(secret, [1, 2, 3, 4, 5, 6, 7], 4);

  it("any threshold shares rebuild the secret, in any order", () => {
    for (const pick of [
      [0, 1, 2, 3],
      [6, 4, 2, 0],
      [3, 5, 1, 6],
    ]) {
      assert.deepEqual(Buffer.from(combineShares(pick.map((i) => shares[i]))), secret);
    }
    assert.deepEqual(Buffer.from(combineShares(shares)), secret);
  });

  it("fewer than threshold shares do not rebuild it", () => {
    assert.equal(
      rebuilds(() => combineShares(shares.slice(0, 3)), secret),
      false,
    );
  });

  it("a share from another split does not combine into the secret", () => {
    const other = splitSecret(randomBytes(32), [1, 2, 3, 4, 5, 6, 7], 4);
    assert.equal(
      rebuilds(() => combineShares([shares[0], shares[1], shares[2], other[3]]), secret),
      false,
    );
  });

  it("refuses a threshold above the shareholders and repeated x coordinates", () => {
    assert.throws(() => splitSecret(secret, [1, 2], 3), /Threshold 3/);
    assert.throws(() => splitSecret(secret, [1, 1, 2], 2), /distinct/);
    assert.throws(() => combineShares([shares[0], shares[0]]), /same x/);
  });
});
