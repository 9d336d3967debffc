// Opens COUNT connections to a spawner and sends nothing on them (a peer
// trying to use up the spawner's connections), then, with --then-hello, one
// more that sends HELLO and reports what the spawner answered. Prints
//   {"opened": N, "hello": V2Ending | null}
// then waits for its stdin to close and prints how many of the silent
// connections the spawner closes within the next few seconds (a refused peer
// may be given a moment to send HELLO first): {"closedBySpawner": K}.
//   bun connection-flood.ts SOCKET COUNT [--then-hello]
import { connectSeqpacket, receiveRecord } from "../../src/fdpass/seqpacket.ts";
import { closeAll } from "../../src/libc/owned-fd.ts";
import { encodeHello } from "../../src/protocol/v2.ts";
import { RawClient, summarizeV2 } from "./raw-client.ts";

const [socket, countArg, option] = process.argv.slice(2);
const path = new TextEncoder().encode(socket!);
const silent = Array.from({ length: Number(countArg) }, () => connectSeqpacket(path));
let hello = null;
if (option === "--then-hello") {
  const client = RawClient.connect(socket!);
  client.send(encodeHello());
  hello = summarizeV2(await client.repliesUntilClose(20_000));
  client.close();
}
console.log(JSON.stringify({ opened: silent.length, hello }));
for await (const _ of Bun.stdin.stream()) void _;
// End of file (or a reset) on a connection we never wrote to: the spawner closed it.
const closedBySpawner = (sock: (typeof silent)[number]) => {
  try {
    return receiveRecord(sock, 16, 0).kind === "eof";
  } catch {
    return true;
  }
};
const open = new Set(silent);
const deadline = performance.now() + 5_000;
while (open.size > 0 && performance.now() < deadline) {
  for (const sock of open) if (closedBySpawner(sock)) open.delete(sock);
  if (open.size > 0) await Bun.sleep(20);
}
closeAll(silent);
console.log(JSON.stringify({ closedBySpawner: silent.length - open.size }));
