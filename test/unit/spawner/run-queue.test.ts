// Run slots and the FIFO of complete requests waiting for one
// (src/spawner/run-queue.ts).
import { expect, test } from "bun:test";
import { RunQueue } from "../../../src/spawner/run-queue.ts";
import { Refusal, RefusalCode } from "../../../src/spawner/refusal.ts";

const never = new AbortController().signal;

test("a free slot is granted at once; a full queue grants in arrival order as slots free", async () => {
  const queue = new RunQueue(1, 10);
  const release = await queue.acquire(never);
  const order: string[] = [];
  const a = queue.acquire(never).then((r) => (order.push("a"), r));
  const b = queue.acquire(never).then((r) => (order.push("b"), r));
  expect([queue.running, queue.waiting]).toEqual([1, 2]);
  release();
  release();
  (await a)();
  (await b)();
  expect(order).toEqual(["a", "b"]);
  expect([queue.running, queue.waiting]).toEqual([0, 0]);
});

test("past --max-queue a request is refused with code 2 and a reason naming both options", async () => {
  const queue = new RunQueue(1, 1);
  await queue.acquire(never);
  void queue.acquire(never);
  const refusal = await queue.acquire(never).catch((e: unknown) => e);
  expect(refusal).toBeInstanceOf(Refusal);
  expect((refusal as Refusal).code).toBe(RefusalCode.Limit);
  expect((refusal as Refusal).message).toContain("--max-children 1, --max-queue 1");
});

test("a waiting request that is cancelled leaves the queue with the abort reason", async () => {
  const queue = new RunQueue(1, 5);
  const release = await queue.acquire(never);
  const cancel = new AbortController();
  const gone = queue.acquire(cancel.signal).catch((e: unknown) => e);
  const next = queue.acquire(never);
  cancel.abort(new Error("client hung up"));
  expect(((await gone) as Error).message).toBe("client hung up");
  expect(queue.waiting).toBe(1);
  release();
  (await next)();
  expect(queue.running).toBe(0);
});

test("closing refuses every waiting request and every later one with code 4", async () => {
  const queue = new RunQueue(1, 5);
  await queue.acquire(never);
  const waiting = queue.acquire(never).catch((e: unknown) => e);
  queue.close("the spawner is shutting down");
  for (const refusal of [await waiting, await queue.acquire(never).catch((e: unknown) => e)]) {
    expect(refusal).toBeInstanceOf(Refusal);
    expect((refusal as Refusal).code).toBe(RefusalCode.Unavailable);
    expect((refusal as Refusal).message).toBe("the spawner is shutting down");
  }
});
