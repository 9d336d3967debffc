import { test, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve, exec } from "../src/index.ts";

test("a program runs through an in-process spawner and its exit code comes back", async () => {
  const dir = mkdtempSync(join(tmpdir(), "portal-smoke-"));
  const server = serve({ socket: join(dir, "s.sock") });
  try {
    const result = await exec({ socket: server.path, args: ["sh", "-c", "exit 42"], fds: [] });
    expect(result.exitCode).toBe(42);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
