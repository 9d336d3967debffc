// The one parser for numeric option values (seconds, counts, fds): a plain
// decimal number, nothing around it. Each command says in its own words
// what it wanted; this only says whether the text is such a number.

export interface NumberRule {
  /** Smallest value allowed (default 0). */
  min?: number;
  /** The value must be above `min`, not equal to it. */
  aboveMin?: boolean;
  /** Whole numbers only. */
  integer?: boolean;
}

/** The number `text` names, or null if it is not one the rule allows ("", " 1", "1e3x", "-1", NaN, Infinity). */
export function optionNumber(text: string, { min = 0, aboveMin = false, integer = false }: NumberRule = {}): number | null {
  if (!/^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text)) return null;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || (aboveMin && n === min) || (integer && !Number.isInteger(n))) return null;
  return n;
}
