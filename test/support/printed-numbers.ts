/**
 * Every number written in `text` as a number: a run of digits (with sign, decimals, exponent) that is not
 * part of a word. Identifiers such as node ids (`node_b3772db297e7`) and hashes hold digit runs that are
 * not numbers the program printed; counting them made the disclosure tests fail whenever a random id
 * happened to contain a secret value (a CI run saw "47", a subject's age, inside one).
 */
export function printedNumbers(text: string): Set<number> {
  const found = text.match(/(?<![\w.])-?\d+(\.\d+)?(e[-+]?\d+)?(?!\w|\.\d)/g) ?? [];
  return new Set(found.map(Number));
}
