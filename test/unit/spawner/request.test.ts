// Signals a client sends before the handler listens are kept and handed
// over in order (src/spawner/request.ts, SignalHub).
import { expect, test } from "bun:test";
import { SignalHub } from "../../../src/spawner/request.ts";

test("signals before the first listener are kept, in order, and handed to it; later ones go straight through", () => {
  const hub = new SignalHub();
  hub.emit(28, true);
  hub.emit(15, false);
  const got: Array<[number, boolean]> = [];
  hub.listen((signal, group) => got.push([signal, group]));
  expect(got).toEqual([[28, true], [15, false]]);
  hub.emit(2, true);
  expect(got).toEqual([[28, true], [15, false], [2, true]]);
});

test("at most 64 early signals are kept", () => {
  const hub = new SignalHub();
  for (let i = 1; i <= 100; i++) hub.emit(i % 64 || 64, true);
  const got: number[] = [];
  hub.listen((signal) => got.push(signal));
  expect(got.length).toBe(SignalHub.MAX_EARLY);
  expect(got.slice(0, 3)).toEqual([1, 2, 3]);
});

test("every listener hears every later signal; only the first gets the early ones", () => {
  const hub = new SignalHub();
  hub.emit(10, true);
  const a: number[] = [];
  const b: number[] = [];
  hub.listen((s) => a.push(s));
  hub.listen((s) => b.push(s));
  hub.emit(12, true);
  expect(a).toEqual([10, 12]);
  expect(b).toEqual([12]);
});
