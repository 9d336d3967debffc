// Run slots and the FIFO of complete requests waiting for one
// (src/spawner/run-queue.ts).
import { expect, test } from "bun:test";
import { RunQueue } from "../../../src/spawner/run-queue.ts";
import { Refusal, RefusalCode } from "../../../src/spawner/refusal.ts";

const never = new AbortController().signal;

test("a free slot is granted at once; a full queue grants in arrival order as slots free", async () => {
  const queue = new RunQueue(1, 10);
  const release = await queue.acquire(never, 1000);
  const order: string[] = [];
  const a = queue.acquire(never, 1000).then((r) => (order.push("a"), r));
  const b = queue.acquire(never, 1000).then((r) => (order.push("b"), r));
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
  await queue.acquire(never, 1000);
  void queue.acquire(never, 1000);
  const refusal = await queue.acquire(never, 1000).catch((e: unknown) => e);
  expect(refusal).toBeInstanceOf(Refusal);
  expect((refusal as Refusal).code).toBe(RefusalCode.Limit);
  expect((refusal as Refusal).message).toContain("--max-children 1, --max-queue 1");
});

test("a waiting request that is cancelled leaves the queue with the abort reason", async () => {
  const queue = new RunQueue(1, 5);
  const release = await queue.acquire(never, 1000);
  const cancel = new AbortController();
  const gone = queue.acquire(cancel.signal, 1000).catch((e: unknown) => e);
  const next = queue.acquire(never, 1000);
  cancel.abort(new Error("client hung up"));
  expect(((await gone) as Error).message).toBe("client hung up");
  expect(queue.waiting).toBe(1);
  release();
  (await next)();
  expect(queue.running).toBe(0);
});

test("closing refuses every waiting request and every later one with code 4", async () => {
  const queue = new RunQueue(1, 5);
  await queue.acquire(never, 1000);
  const waiting = queue.acquire(never, 1000).catch((e: unknown) => e);
  queue.close("the spawner is shutting down");
  for (const refusal of [await waiting, await queue.acquire(never, 1000).catch((e: unknown) => e)]) {
    expect(refusal).toBeInstanceOf(Refusal);
    expect((refusal as Refusal).code).toBe(RefusalCode.Unavailable);
    expect((refusal as Refusal).message).toBe("the spawner is shutting down");
  }
});

test("the default share of one uid keeps an eighth of the slots (at least one) for the others", async () => {
  const { oneUidsShare } = await import("../../../src/spawner/run-queue.ts");
  expect([1, 2, 4, 8, 16, 64].map(oneUidsShare)).toEqual([1, 1, 3, 7, 14, 56]);
});

test("a uid at its share waits while another uid's later request takes the free slot; its own turn comes as its programs end", async () => {
  const queue = new RunQueue(4, 10, 3);
  const hog = [await queue.acquire(never, 1000), await queue.acquire(never, 1000), await queue.acquire(never, 1000)];
  const order: string[] = [];
  const fourth = queue.acquire(never, 1000).then((r) => (order.push("1000's fourth"), r));
  expect([queue.running, queue.waiting, queue.mustWait(1000), queue.mustWait(2000)]).toEqual([3, 1, true, false]);
  // Uid 2000 arrives later and is not held behind uid 1000's waiting request.
  const other = await queue.acquire(never, 2000);
  expect([queue.running, queue.waiting]).toEqual([4, 1]);
  // Uid 2000's program ends: the free slot is not 1000's (still at its share) ...
  other();
  await Promise.resolve();
  expect([queue.running, queue.waiting, order]).toEqual([3, 1, []]);
  // ... until one of 1000's own programs ends.
  hog[0]!();
  const granted = await fourth;
  expect(order).toEqual(["1000's fourth"]);
  expect([queue.running, queue.waiting]).toEqual([3, 0]);
  for (const release of [granted, hog[1]!, hog[2]!]) release();
  expect(queue.running).toBe(0);
});

test("root is not held to a share; waiters that may run are served in arrival order past one that may not", async () => {
  const queue = new RunQueue(2, 10, 1);
  const roots = [await queue.acquire(never, 0), await queue.acquire(never, 0)];
  expect(queue.mustWait(0)).toBe(true);
  const order: string[] = [];
  const firstA = queue.acquire(never, 1000).then((r) => (order.push("a1"), r));
  const secondA = queue.acquire(never, 1000).then((r) => (order.push("a2"), r));
  const b = queue.acquire(never, 2000).then((r) => (order.push("b"), r));
  roots[0]!();
  roots[1]!();
  const [a1, b1] = await Promise.all([firstA, b]);
  expect(order).toEqual(["a1", "b"]);
  a1();
  (await secondA)();
  b1();
  expect(order).toEqual(["a1", "b", "a2"]);
  expect([queue.running, queue.waiting]).toEqual([0, 0]);
});

test("one uid may fill all but an eighth of the queue (at least one place): another uid can still wait its turn, and the reason names the share", async () => {
  const queue = new RunQueue(2, 4, 1);
  const first = await queue.acquire(never, 1000);
  const other = await queue.acquire(never, 2000);
  const waiting = [0, 1, 2].map(() => queue.acquire(never, 1000).catch((e: unknown) => e));
  const refused = (await queue.acquire(never, 1000).catch((e: unknown) => e)) as Refusal;
  expect(refused).toBeInstanceOf(Refusal);
  expect(refused.message).toBe(
    "busy: 2 programs are running (the spawner's --max-children 2), and 3 of its requests are waiting, its share of the spawner's --max-queue 4",
  );
  // Uid 2000 still gets the last place.
  const last = queue.acquire(never, 2000);
  expect(queue.waiting).toBe(4);
  other();
  first();
  // Uid 1000 runs one at a time (its share is 1): each release lets its next one in.
  expect(((await last) as () => void)()).toBeUndefined();
  for (const next of waiting) ((await next) as () => void)();
  expect([queue.running, queue.waiting]).toEqual([0, 0]);
});
