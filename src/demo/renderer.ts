// A stand-in renderer: it gets a shared buffer at fd 3 (a dmabuf on a Pi, a
// memfd here), commands on stdin and reports status lines on stdout, the way
// an info-beamer content process is wired.
//   fill R G B     paint the whole frame
//   frame N        draw frame N (a moving bar), then report "frame N done"
//   quit           exit 0 (so does end of input)
import { fstatSync, writeSync } from "node:fs";

export const WIDTH = 64;
export const HEIGHT = 16;
const BUFFER_FD = 3;

export function drawFrame(n: number, base: [number, number, number]): Uint8Array {
  const pixels = new Uint8Array(WIDTH * HEIGHT * 4);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const on = (x + n) % 16 < 8;
      const p = (y * WIDTH + x) * 4;
      pixels.set(on ? [255, 255, 255, 255] : [...base, 255], p);
    }
  }
  return pixels;
}

if (import.meta.main) {
  const size = fstatSync(BUFFER_FD).size;
  if (size < WIDTH * HEIGHT * 4) {
    process.stderr.write(`renderer: buffer at fd ${BUFFER_FD} has ${size} bytes, need ${WIDTH * HEIGHT * 4}\n`);
    process.exit(2);
  }
  process.stdout.write(`ready ${WIDTH}x${HEIGHT} pid ${process.pid}\n`);
  let base: [number, number, number] = [0, 0, 0];
  let pending = "";
  for await (const chunk of Bun.stdin.stream()) {
    pending += new TextDecoder().decode(chunk);
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const [command, ...rest] = pending.slice(0, newline).trim().split(/\s+/);
      pending = pending.slice(newline + 1);
      if (command === "fill") {
        base = rest.slice(0, 3).map(Number) as [number, number, number];
        process.stdout.write(`filled ${base.join(" ")}\n`);
      } else if (command === "frame") {
        const n = Number(rest[0]);
        writeSync(BUFFER_FD, drawFrame(n, base), 0, WIDTH * HEIGHT * 4, 0);
        process.stdout.write(`frame ${n} done\n`);
      } else if (command === "quit") {
        process.exit(0);
      } else if (command) {
        process.stderr.write(`renderer: unknown command '${command}'\n`);
      }
    }
  }
}
