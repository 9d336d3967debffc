// src/libc is the only layer that touches bun:ffi: every libc symbol is
// loaded lazily there (src/libc/library.ts) and called only by the wrapper
// module that declares it. This scans src/ and fails on any file outside
// src/libc that imports bun:ffi or the loader, or loads symbols itself, and
// on any libc module that hands its symbol table to others.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const SRC = join(import.meta.dir, "..", "..", "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

const FFI_IMPORT = [
  /\bfrom\s*["']bun:ffi["']/, // import { x } from "bun:ffi"; export { x } from "bun:ffi"
  /^\s*import\s*["']bun:ffi["']/m, // import "bun:ffi"
  /\bimport\s*\(\s*["']bun:ffi["']\s*\)/, // await import("bun:ffi")
  /\brequire\s*\(\s*["']bun:ffi["']\s*\)/,
];
const LOADER_IMPORT = /\bfrom\s*["'][^"']*\blibc\/library(\.ts)?["']|\bimport\s*\(\s*["'][^"']*\blibc\/library(\.ts)?["']\s*\)/;
const SYMBOL_LOADING = /\b(lazySymbols|optionalSymbol|dlopen)\s*\(/;
const TABLE = /\b(?:const|let|var)\s+(\w+)\s*=\s*(?:lazySymbols|optionalSymbol)\s*\(/g;

/** Whether a libc module hands out one of its symbol tables (`const c = lazySymbols(...)`), directly or by name. */
function exportsTable(text: string): boolean {
  return [...text.matchAll(TABLE)].some(([declaration, name]) => {
    const exported = new RegExp(`\\bexport\\s*\\{[^}]*\\b${name}\\b[^}]*\\}|\\bexport\\s+default\\s+${name}\\b`);
    return text.includes(`export ${declaration}`) || exported.test(text);
  });
}

/** What is wrong with `text`, the source of src/`path` (relative, with '/'). */
function boundaryViolations(path: string, text: string): string[] {
  const found: string[] = [];
  if (path.startsWith("libc/")) {
    if (exportsTable(text)) found.push(`${path} exports its libc symbol table`);
    return found;
  }
  if (FFI_IMPORT.some((pattern) => pattern.test(text))) found.push(`${path} imports bun:ffi`);
  if (LOADER_IMPORT.test(text)) found.push(`${path} imports the libc loader (src/libc/library.ts)`);
  if (SYMBOL_LOADING.test(text)) found.push(`${path} loads libc symbols itself`);
  return found;
}

describe("the libc boundary", () => {
  test("no file outside src/libc imports bun:ffi or the loader, or loads symbols; no libc module exports its symbols", () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(50);
    const violations = files.flatMap((file) => boundaryViolations(relative(SRC, file).split("\\").join("/"), readFileSync(file, "utf8")));
    expect(violations).toEqual([]);
  });

  test("src/libc itself does use bun:ffi through the lazy loader (the scan looks at the right files)", () => {
    const libc = sourceFiles(join(SRC, "libc")).map((file) => readFileSync(file, "utf8"));
    expect(libc.some((text) => FFI_IMPORT[0]!.test(text))).toBe(true);
    expect(libc.filter((text) => /\blazySymbols\s*\(/.test(text)).length).toBeGreaterThan(5);
  });

  test("the scan catches each way across the boundary, and ignores prose", () => {
    const cases: Array<[string, string, number]> = [
      ["cli/a.ts", 'import { ptr } from "bun:ffi";', 1],
      ["cli/a.ts", 'import type { Pointer } from "bun:ffi";', 1],
      ["spawner/a.ts", 'export { ptr } from "bun:ffi";', 1],
      ["client/a.ts", 'const ffi = await import("bun:ffi");', 1],
      ["client/a.ts", 'const ffi = require("bun:ffi");', 1],
      ["launch/a.ts", 'import "bun:ffi";', 1],
      ["process/a.ts", 'import { lazySymbols } from "../libc/library.ts";\nconst c = lazySymbols({});', 2],
      ["process/a.ts", 'const { dlopen } = Bun; dlopen("libc.so.6", {});', 1],
      ["cli/a.ts", "// Read with libc through bun:ffi, which the client loads anyway", 0],
      ["cli/a.ts", 'import { readLink } from "../libc/file.ts";', 0],
      ["libc/a.ts", 'import { FFIType } from "bun:ffi";\nconst c = lazySymbols({});', 0],
      ["libc/a.ts", "export const c = lazySymbols({});", 1],
      ["libc/a.ts", "const c = lazySymbols({});\nexport { c };", 1],
      ["libc/a.ts", "const c = lazySymbols({});\nexport { OwnedFd, closeAll };", 0],
      ["libc/a.ts", "const withInt = lazySymbols({});\nexport { x, withInt as ioctls };", 1],
      ["libc/a.ts", "const addFchdir = optionalSymbol('f', {});\nexport default addFchdir;", 1],
    ];
    expect(cases.map(([path, text]) => boundaryViolations(path, text).length)).toEqual(cases.map(([, , count]) => count));
  });
});
