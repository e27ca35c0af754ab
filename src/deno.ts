// The Deno entry kept for `deno run -A src/deno.ts`: the same start as src/main.ts (which
// runs on Bun and Deno alike). Prefer `deno task start` / `deno task api` (deno.json).
import "./main.ts";
