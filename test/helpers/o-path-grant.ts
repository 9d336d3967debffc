// A raw v2 client that grants whatever it names through an O_PATH fd (which
// needs no permission on the object) with whatever GRANT flags it is told,
// bypassing the real client's own check. Run it as an unprivileged user:
// only the spawner's check stands between it and the object.
//   bun o-path-grant.ts SOCKET [--cwd=PATH] FLAGS:DEST=SRC [FLAGS:DEST=SRC...] -- ARGV...
// --cwd sends a CWD record with that path (in the sandbox's view) and no fd.
// Prints the conversation's end as JSON.
import { openFile } from "../../src/libc/file.ts";
import { O_NOFOLLOW, O_PATH } from "../../src/libc/constants.ts";
import { encodeHello, encodeRecord, encodeStart, joinNulTerminated, RecordType } from "../../src/protocol/v2.ts";
import { RawClient, summarizeV2 } from "./raw-client.ts";

const [socket, ...options] = process.argv.slice(2);
const cwd = options[0]?.startsWith("--cwd=") ? options.shift()!.slice("--cwd=".length) : null;
const rest = options;
const split = rest.indexOf("--");
const grants = rest.slice(0, split).map((grant) => /^(\d+):([^=]+)=(.*)$/.exec(grant)!.slice(1) as [string, string, string]);
const argv = rest.slice(split + 1);
const enc = (s: string) => new TextEncoder().encode(s);

const client = RawClient.connect(socket!);
client.send(encodeHello());
client.send(encodeRecord(RecordType.Args, joinNulTerminated(argv.map(enc), "args")));
if (cwd !== null) client.send(encodeRecord(RecordType.Cwd, enc(cwd)));
for (const [flagsArg, dest, src] of grants) {
  const flags = Number(flagsArg);
  const fd = openFile(src, O_PATH | ((flags & 2) !== 0 ? O_NOFOLLOW : 0));
  const payload = new Uint8Array(4 + dest.length);
  new DataView(payload.buffer).setUint32(0, flags, true);
  payload.set(enc(dest), 4);
  client.send(encodeRecord(RecordType.Grant, payload), [fd.fd]);
  fd.close();
}
// START counts FDS fds only: grants are not among them.
client.send(encodeStart({ argc: argv.length, envc: 0, fdCount: 0, flags: 0 }));
const ending = summarizeV2(await client.repliesUntilClose(20_000));
client.close();
console.log(JSON.stringify(ending));
