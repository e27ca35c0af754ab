// Fallback load generator for bench/run.ts when wrk is not installed: the same request
// files and the same "BENCH_RESULT {json}" line as bench/wrk.lua, from N keep-alive
// fetch loops in one Bun process. It costs more CPU than wrk, so on a small machine its
// figures are lower for every target alike; prefer `apt-get install -y wrk`.
//   bun bench/load.ts <base url> <file> <api key> <marker> <every> <seconds> <connections>
import { readFileSync } from "node:fs";

const [base, file, key, marker, everyArg, secondsArg, connectionsArg] = process.argv.slice(2);
if (!base || !file || !key || !marker) {
  console.error("usage: bun bench/load.ts <base url> <file> <api key> <marker> <every> <seconds> <connections>");
  process.exit(2);
}
const every = Number(everyArg ?? 50);
const seconds = Number(secondsArg ?? 10);
const connections = Number(connectionsArg ?? 64);

const requests = readFileSync(file, "utf8")
  .split("\n")
  .filter(Boolean)
  .map((line) => {
    const [method, path, body] = line.split("\t");
    return { method: method!, url: base + path!, body: body || undefined };
  });
const headers = { "Lognex-Discount-API-Auth-Token": key, Accept: "application/json" };
const jsonHeaders = { ...headers, "Content-Type": "application/json" };

const latencies: number[] = [];
let answered = 0;
let non2xx = 0;
let checked = 0;
let badBody = 0;
let socketErrors = 0;
let badSample = "";

const start = performance.now();
const deadline = start + seconds * 1000;

async function loop(): Promise<void> {
  while (performance.now() < deadline) {
    const q = requests[Math.floor(Math.random() * requests.length)]!;
    const t0 = performance.now();
    try {
      const res = await fetch(q.url, { method: q.method, headers: q.body ? jsonHeaders : headers, body: q.body });
      const text = await res.text();
      latencies.push(performance.now() - t0);
      answered++;
      if (res.status < 200 || res.status > 299) {
        non2xx++;
        badSample ||= `${res.status} ${text.slice(0, 300)}`;
      } else if (every > 0 && answered % every === 0) {
        checked++;
        if (!text.includes(marker!)) {
          badBody++;
          badSample ||= `200 ${text.slice(0, 300)}`;
        }
      }
    } catch (e) {
      socketErrors++;
      badSample ||= String(e).slice(0, 300);
    }
  }
}

await Promise.all(Array.from({ length: connections }, loop));
const durationUs = Math.round((performance.now() - start) * 1000);
latencies.sort((a, b) => a - b);
const pct = (p: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0) * 1000);
const mean = latencies.reduce((s, x) => s + x, 0) / Math.max(1, latencies.length);
const result = {
  requests: answered,
  durationUs,
  latencyUs: { p50: pct(50), p90: pct(90), p99: pct(99), max: pct(100), mean: Math.round(mean * 1000 * 10) / 10 },
  non2xx,
  socketErrors: { connect: 0, read: socketErrors, write: 0, timeout: 0 },
  checked,
  badBody,
  badSample,
};
console.log("BENCH_RESULT " + JSON.stringify(result));
process.exit(0);
