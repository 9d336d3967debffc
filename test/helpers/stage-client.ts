// A client process that stops at a chosen point of the protocol, says so on
// stdout ("at STAGE"), and then waits to be killed by the test. It passes
// its own fd 3 (a pipe end the test gave it) at target 3, so the test can
// tell from the other end when every copy is gone.
//
//   bun stage-client.ts SOCKET 1|2 STAGE PROGRAM [ARGS...]
//
// v2 stages: connected hello request fds-partial fds fds-in-flight running
// v1 stages: connected env args numbers fds-in-flight running
// "fds-in-flight" SIGKILLs itself right after the fd record is sent.
import { connectSeqpacket, sendRecord } from "../../src/fdpass/seqpacket.ts";
import { RecordReader } from "../../src/fdpass/record-reader.ts";
import { encodeFdTargets, encodeHello, encodeRecord, encodeStart, joinNulTerminated, RecordType, decodeRecord, decodeStarted } from "../../src/protocol/v2.ts";
import { encodeV1FdNumbers, encodeV1Strings } from "../../src/protocol/v1.ts";

const [socket, protocol, stage, ...argv] = process.argv.slice(2);
if (!socket || !stage || argv.length === 0) throw new Error("usage: stage-client.ts SOCKET 1|2 STAGE PROGRAM [ARGS...]");
const enc = (s: string) => new TextEncoder().encode(s);
const sock = connectSeqpacket(Buffer.from(socket));
const reader = new RecordReader(sock);
const send = (data: Uint8Array, fds: number[] = []) => {
  if (!sendRecord(sock, data, fds)) throw new Error("send would block");
};

/** Reports the stage and keeps the process (and its half of the connection) alive until killed. */
function reached(detail = ""): void {
  process.stdout.write(`at ${stage}${detail}\n`);
  setInterval(() => {}, 1 << 30);
}

async function nextRecord() {
  const result = await reader.next(65536, 0);
  if (result.kind !== "record") throw new Error(`spawner sent ${result.kind}`);
  return decodeRecord(result.data);
}

async function v2(): Promise<void> {
  if (stage === "connected") return reached();
  send(encodeHello());
  if ((await nextRecord()).type !== RecordType.HelloAck) throw new Error("no HELLO_ACK");
  if (stage === "hello") return reached();
  send(encodeRecord(RecordType.Args, joinNulTerminated(argv.map(enc), "args")));
  send(encodeRecord(RecordType.Cwd, enc("/")));
  if (stage === "request") return reached();
  send(encodeFdTargets([3]), [3]);
  if (stage === "fds-in-flight") process.kill(process.pid, "SIGKILL");
  if (stage === "fds-partial") return reached();
  send(encodeFdTargets([4]), [3]);
  if (stage === "fds") return reached();
  send(encodeStart({ argc: argv.length, envc: 0, fdCount: 2, flags: 0 }));
  const started = await nextRecord();
  if (started.type !== RecordType.Started) throw new Error(`expected STARTED, got 0x${started.type.toString(16)}`);
  reached(` pid=${decodeStarted(started.payload)}`);
}

function v1(): void {
  if (stage === "connected") return reached();
  send(encodeV1Strings([], "env"));
  if (stage === "env") return reached();
  send(encodeV1Strings(argv.map(enc), "args"));
  if (stage === "args") return reached();
  send(encodeV1FdNumbers([3]));
  if (stage === "numbers") return reached();
  send(new Uint8Array(2), [3]);
  if (stage === "fds-in-flight") process.kill(process.pid, "SIGKILL");
  reached();
}

if (protocol === "1") v1();
else await v2();
