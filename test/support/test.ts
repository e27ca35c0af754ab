// The test API every test file imports: bun:test under `bun test`, a small BDD layer over
// Deno.test with Jest's `expect` (the npm package) under `deno test`. Test files say
//   import { afterAll, beforeAll, describe, expect, test } from "./support/test.ts";
// and run unchanged on both.
import type * as BunTest from "bun:test";
import "./preload.ts";

// A specifier Deno cannot see at load time: "bun:test" exists only inside `bun test`.
const BUN_TEST = "bun:" + "test";
const impl: typeof BunTest = typeof Bun !== "undefined" ? await import(BUN_TEST) : ((await import("./deno-test.ts")) as any);

export const describe: typeof BunTest.describe = impl.describe;
export const test: typeof BunTest.test = impl.test;
export const it: typeof BunTest.test = impl.test;
export const expect: typeof BunTest.expect = impl.expect;
export const beforeAll: typeof BunTest.beforeAll = impl.beforeAll;
export const afterAll: typeof BunTest.afterAll = impl.afterAll;
export const beforeEach: typeof BunTest.beforeEach = impl.beforeEach;
export const afterEach: typeof BunTest.afterEach = impl.afterEach;

/** "bun" or "deno": which runtime runs the tests (processes they start use the same). */
export const testRuntime: "bun" | "deno" = typeof Bun !== "undefined" ? "bun" : "deno";
