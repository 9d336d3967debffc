// Who gets a connection at all (src/spawner/admission.ts): the policy, the
// connection cap and the per-uid cap, with the codes a refused v2 client sees.
import { expect, test } from "bun:test";
import { Admission, type Admitted } from "../../../src/spawner/admission.ts";
import { Refusal, RefusalCode } from "../../../src/spawner/refusal.ts";

const policy = { uids: new Set([0, 1000, 1001]), gids: new Set<number>() };
const who = (uid: number) => ({ pid: 100 + uid, uid, gid: uid });

function admitted(verdict: Admitted | Refusal): Admitted {
  if (verdict instanceof Refusal) throw new Error(`refused: ${verdict.message}`);
  return verdict;
}

test("a peer outside the policy is refused with code 3 and never counted", () => {
  const admission = new Admission(policy, { maxConnections: 10, maxConnectionsPerUid: 10 });
  const verdict = admission.admit(who(2000));
  expect(verdict).toBeInstanceOf(Refusal);
  expect((verdict as Refusal).code).toBe(RefusalCode.NotAllowed);
  expect((verdict as Refusal).message).toBe("uid 2000 (gid 2000) is not allowed");
  expect(admission.open).toBe(0);
});

test("past --max-connections every peer is refused with code 2 until one is released", () => {
  const admission = new Admission(policy, { maxConnections: 2, maxConnectionsPerUid: 10 });
  const first = admitted(admission.admit(who(1000)));
  admitted(admission.admit(who(1001)));
  const busy = admission.admit(who(0));
  expect(busy).toBeInstanceOf(Refusal);
  expect((busy as Refusal).code).toBe(RefusalCode.Limit);
  expect((busy as Refusal).message).toContain("--max-connections");
  first.release();
  first.release();
  expect(admission.open).toBe(1);
  admitted(admission.admit(who(0)));
  expect(admission.admit(who(1000))).toBeInstanceOf(Refusal);
});

test("one uid is capped at --max-connections-per-uid; other uids and root are not held back by it", () => {
  const admission = new Admission(policy, { maxConnections: 100, maxConnectionsPerUid: 2 });
  const mine = [admitted(admission.admit(who(1000))), admitted(admission.admit(who(1000)))];
  const third = admission.admit(who(1000));
  expect((third as Refusal).code).toBe(RefusalCode.Limit);
  expect((third as Refusal).message).toBe("uid 1000 has 2 connections open (the spawner's --max-connections-per-uid)");
  admitted(admission.admit(who(1001)));
  for (let i = 0; i < 5; i++) admitted(admission.admit(who(0)));
  mine[0]!.release();
  admitted(admission.admit(who(1000)));
});
