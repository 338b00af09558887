import { InputError } from "../../common/errors.js";

/** A whole number above 0 from a flag's text, or an InputError naming the flag. */
export function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InputError(`Invalid ${flag} "${value}": give a whole number above 0`);
  return n;
}
