// The SCHEDULING record of revision 4 (src/protocol/scheduling.ts): its
// layout, and what a spawner refuses before it would set any of it.
import { expect, test } from "bun:test";
import { decodeSchedulingPayload, encodeSchedulingPayload, type Scheduling } from "../../../src/protocol/scheduling.ts";
import { ProtocolError } from "../../../src/protocol/errors.ts";

const sample: Scheduling = { nice: -3, ioPriority: (2 << 13) | 4, policy: 0x40000003, priority: 0, affinity: new Uint8Array([0x0f, 0x00]), oomScoreAdjust: 500, personality: 0x40000 };

test("the payload: i32 nice, u32 I/O priority, u32 policy, u32 priority, i32 OOM adjustment, u32 personality, u32 n, n mask bytes", () => {
  const bytes = encodeSchedulingPayload(sample);
  expect([...bytes]).toEqual([
    0xfd, 0xff, 0xff, 0xff, 0x04, 0x40, 0, 0, 0x03, 0, 0, 0x40, 0, 0, 0, 0, 0xf4, 0x01, 0, 0, 0, 0, 0x04, 0, 2, 0, 0, 0, 0x0f, 0x00,
  ]);
  expect(decodeSchedulingPayload(bytes)).toEqual(sample);
});

test("values no kernel would hold are refused as protocol errors", () => {
  const bad = (change: Partial<Scheduling>) => () => decodeSchedulingPayload(encodeSchedulingPayload({ ...sample, ...change }));
  expect(bad({ nice: -21 })).toThrow(/nice value -21/);
  expect(bad({ nice: 20 })).toThrow(ProtocolError);
  expect(bad({ policy: 4 })).toThrow(/policy 4 is unknown/);
  expect(bad({ priority: 100 })).toThrow(/priority 100/);
  expect(bad({ oomScoreAdjust: 1001 })).toThrow(/OOM score adjustment 1001/);
  expect(bad({ ioPriority: 0x10000 })).toThrow(/I\/O priority/);
  expect(bad({ affinity: new Uint8Array(129) })).toThrow(/malformed/);
  const miscounted = encodeSchedulingPayload(sample);
  miscounted[24] = 3;
  expect(() => decodeSchedulingPayload(miscounted)).toThrow(/says 3 mask bytes but carries 2/);
  expect(() => decodeSchedulingPayload(new Uint8Array(27))).toThrow(/malformed/);
});

test("what is asked is given where it is no more favoured than what the client has, else the client's own", async () => {
  const { boundScheduling } = await import("../../../src/protocol/scheduling.ts");
  const has: Scheduling = { nice: 5, ioPriority: (2 << 13) | 4, policy: 0, priority: 0, affinity: new Uint8Array([0x03]), oomScoreAdjust: 100, personality: 0 };
  const more: Scheduling = { nice: -20, ioPriority: (1 << 13) | 0, policy: 1, priority: 99, affinity: new Uint8Array([0xff]), oomScoreAdjust: -1000, personality: 0x40000 };
  expect(boundScheduling(more, has)).toEqual({ ...has, affinity: new Uint8Array([0x03]), personality: 0x40000 });
  const less: Scheduling = { nice: 10, ioPriority: 3 << 13, policy: 5, priority: 0, affinity: new Uint8Array([0x02]), oomScoreAdjust: 500, personality: 0 };
  expect(boundScheduling(less, has)).toEqual(less);
  expect(boundScheduling(null, has)).toBe(has);
});
