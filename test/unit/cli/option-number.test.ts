// The one parser of numeric option values (src/cli/option-number.ts).
import { expect, test } from "bun:test";
import { optionNumber } from "../../../src/cli/option-number.ts";

test("plain decimal numbers, fractions and exponents pass", () => {
  expect(["0", "5", "0.5", ".5", "2.", "1e3", "+7"].map((text) => optionNumber(text))).toEqual([0, 5, 0.5, 0.5, 2, 1000, 7]);
});

test("anything else is not a number here: blanks, signs below the minimum, hex, words, Infinity", () => {
  for (const text of ["", " ", " 1", "1 ", "-1", "0x10", "1e3x", "ten", "Infinity", "NaN", "1,5"]) expect(optionNumber(text)).toBeNull();
});

test("the rule's minimum, strictness and whole-number demand", () => {
  expect(optionNumber("1", { min: 1 })).toBe(1);
  expect(optionNumber("0.5", { min: 1 })).toBeNull();
  expect(optionNumber("0", { aboveMin: true })).toBeNull();
  expect(optionNumber("0.1", { aboveMin: true })).toBe(0.1);
  expect(optionNumber("3.5", { integer: true })).toBeNull();
  expect(optionNumber("1e2", { integer: true })).toBe(100);
});
