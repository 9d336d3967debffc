// A library client that asks for more than it has: nice -20, SCHED_FIFO 99
// and a personality without address randomization, in a forged SCHEDULING
// record. Run it as an unprivileged user against a root spawner.
//   bun forged-scheduling.ts SOCKET ARGV...
import { exec } from "../../src/index.ts";
import { callerContext } from "../../src/client/caller-context.ts";

const [socket, ...args] = process.argv.slice(2);
const context = callerContext();
context.scheduling = { ...context.scheduling!, nice: -20, policy: 1, priority: 99, personality: 0x0140000 };
const result = await exec({ socket: socket!, args, fds: { 0: 0, 1: 1, 2: 2 }, context });
process.exit(result.exitCode ?? 125);
