// The points engine alone: time per receipt of computeReceipt on 50-line receipts that
// spend from a huge balance (every line gets a share of the discount). Pure CPU, no I/O.
//   bun bench/engine.ts        (ENGINE_RECEIPTS=200 receipts, ENGINE_ROUNDS=50 passes over them)
import { computeReceipt, DEFAULT_RECEIPT_TEMPLATE, type ProgramRules, type ReceiptLine } from "../src/loyalty/engine.ts";

const RECEIPTS = Number(process.env.ENGINE_RECEIPTS ?? 200);
const ROUNDS = Number(process.env.ENGINE_ROUNDS ?? 50);
const LINES = 50;

// A fixed-seed generator, so runs compare like with like.
let seed = 42;
const rand = (n: number) => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed % n;
};

const rules: ProgramRules = {
  earnPercentBp: 500,
  spendRateKopecks: 1,
  maxSpendPercentBp: 10000,
  earnWhileRedeeming: false,
  excludedAssortmentIds: new Set(["f"]),
  requireSpendVerification: false,
  receiptTemplate: DEFAULT_RECEIPT_TEMPLATE,
};

const receipts: ReceiptLine[][] = Array.from({ length: RECEIPTS }, () =>
  Array.from({ length: LINES }, () => ({
    assortmentId: "abcdef"[rand(6)]!,
    priceKopecks: 1 + rand(10_000_000),
    quantityMilli: rand(2) === 0 ? (1 + rand(20)) * 1000 : 1 + rand(1_000_000),
  })),
);

const run = () => {
  for (const lines of receipts) computeReceipt(rules, { lines, balance: 10 ** 12, transactionType: "SPENDING" });
};
run(); // warm-up
const t0 = performance.now();
for (let i = 0; i < ROUNDS; i++) run();
const perReceipt = ((performance.now() - t0) * 1000) / (ROUNDS * RECEIPTS);
console.log(`computeReceipt, ${LINES} lines: ${perReceipt.toFixed(1)} µs per receipt (${ROUNDS * RECEIPTS} receipts)`);
