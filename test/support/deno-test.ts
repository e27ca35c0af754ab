// describe/test/beforeAll/afterAll/beforeEach/afterEach over Deno.test, with Jest's
// `expect` (the npm package "expect", the one Jest itself uses; Deno's own @std/expect is
// on JSR, which this project does not install from). Loaded only under `deno test`.
//
// Each test is its own Deno.test named "suite > test". Deno runs a file's tests in the
// order they were registered, one at a time, so a suite's beforeAll runs before its first
// test and its afterAll after its last. Resource and op sanitizers are off: tests keep
// pools and servers open across tests on purpose (closed in afterAll).
import { expect as jestExpect } from "expect";

declare const Deno: {
  test(def: {
    name: string;
    fn: () => Promise<void>;
    ignore?: boolean;
    sanitizeOps?: boolean;
    sanitizeResources?: boolean;
    sanitizeExit?: boolean;
  }): void;
};

type Fn = () => unknown | Promise<unknown>;

interface Suite {
  name: string;
  parent: Suite | null;
  beforeAll: Fn[];
  afterAll: Fn[];
  beforeEach: Fn[];
  afterEach: Fn[];
  /** Tests in this suite and below, registered; counted down as they finish. */
  remaining: number;
  started: Promise<void> | null;
  skipped: boolean;
}

const newSuite = (name: string, parent: Suite | null, skipped = false): Suite => ({
  name,
  parent,
  beforeAll: [],
  afterAll: [],
  beforeEach: [],
  afterEach: [],
  remaining: 0,
  started: null,
  skipped,
});

const root = newSuite("", null);
let current = root;

const chain = (s: Suite): Suite[] => {
  const out: Suite[] = [];
  for (let x: Suite | null = s; x; x = x.parent) out.unshift(x);
  return out;
};

async function runAll(fns: Fn[]): Promise<void> {
  for (const f of fns) await f();
}

// bun:test's per-test timeout, which Deno.test lacks: the same default as `npm test`
// (--timeout 120000), or the test's third argument. Each hook and the test body get it,
// so a hung test fails by name and the file goes on instead of stalling the whole run.
const DEFAULT_TIMEOUT_MS = 120_000;

async function within(ms: number, what: string, run: () => unknown): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      run(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const runAllWithin = (fns: Fn[], what: string) => within(DEFAULT_TIMEOUT_MS, what, () => runAll(fns));

function register(name: string, fn: Fn | undefined, skip: boolean, timeoutMs = DEFAULT_TIMEOUT_MS): void {
  const suite = current;
  const suites = chain(suite);
  const fullName = suites.map((s) => s.name).filter(Boolean).concat(name).join(" > ");
  const ignore = skip || suites.some((s) => s.skipped) || !fn;
  if (!ignore) for (const s of suites) s.remaining++;
  Deno.test({
    name: fullName,
    ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    sanitizeExit: false,
    async fn() {
      try {
        // Outer suites first; a failing beforeAll fails every test of its suite.
        for (const s of suites) await (s.started ??= runAllWithin(s.beforeAll, "beforeAll"));
        for (const s of suites) await runAllWithin(s.beforeEach, "beforeEach");
        try {
          await within(timeoutMs, "the test", fn!);
        } finally {
          for (const s of [...suites].reverse()) await runAllWithin(s.afterEach, "afterEach");
        }
      } finally {
        for (const s of [...suites].reverse()) {
          if (--s.remaining === 0) await runAllWithin(s.afterAll, "afterAll");
        }
      }
    },
  });
}

function describeImpl(name: string, body: () => void, skipped = false): void {
  const parent = current;
  const suite = newSuite(name, parent, skipped);
  current = suite;
  try {
    body();
  } finally {
    current = parent;
  }
}

type TestFn = ((name: string, fn?: Fn, timeout?: number) => void) & {
  skip(name: string, fn?: Fn, timeout?: number): void;
  skipIf(condition: boolean): (name: string, fn?: Fn, timeout?: number) => void;
  if(condition: boolean): (name: string, fn?: Fn, timeout?: number) => void;
  todo(name: string, fn?: Fn): void;
};

export const test: TestFn = Object.assign((name: string, fn?: Fn, timeout?: number) => register(name, fn, false, timeout), {
  skip: (name: string, fn?: Fn) => register(name, fn, true),
  skipIf: (condition: boolean) => (name: string, fn?: Fn, timeout?: number) => register(name, fn, condition, timeout),
  if: (condition: boolean) => (name: string, fn?: Fn, timeout?: number) => register(name, fn, !condition, timeout),
  todo: (name: string) => register(name, undefined, true),
});

export const describe = Object.assign((name: string, body: () => void) => describeImpl(name, body), {
  skip: (name: string, body: () => void) => describeImpl(name, body, true),
  skipIf: (condition: boolean) => (name: string, body: () => void) => describeImpl(name, body, condition),
  if: (condition: boolean) => (name: string, body: () => void) => describeImpl(name, body, !condition),
});

export const beforeAll = (fn: Fn) => void current.beforeAll.push(fn);
export const afterAll = (fn: Fn) => void current.afterAll.push(fn);
export const beforeEach = (fn: Fn) => void current.beforeEach.push(fn);
export const afterEach = (fn: Fn) => void current.afterEach.push(fn);

// bun:test matchers Jest does not have.
jestExpect.extend({
  toStartWith(received: unknown, prefix: string) {
    const pass = typeof received === "string" && received.startsWith(prefix);
    return { pass, message: () => `expected ${JSON.stringify(received)} ${pass ? "not " : ""}to start with ${JSON.stringify(prefix)}` };
  },
});

export const expect = jestExpect;
