import { Elysia, t } from "elysia";
import type { AppDeps } from "./deps.ts";
import type { StuckCalls } from "./request-guard.ts";
import { within } from "./within.ts";

const Ready = t.Object({ status: t.String(), checks: t.Record(t.String(), t.Boolean()) });

export const healthController = (deps: AppDeps, stuck?: StuckCalls) =>
  new Elysia({ detail: { tags: ["Служебное"] } })
    .get("/health", () => ({ status: "ok" }), {
      response: t.Object({ status: t.String() }),
      detail: { summary: "Процесс жив" },
    })
    .get(
      "/health/ready",
      async ({ set }) => {
        const probes: Record<string, () => Promise<boolean>> = {
          postgres: async () => (await deps.sql`select 1 as ok`)[0]?.ok === 1,
          ...deps.readiness,
        };
        const checks: Record<string, boolean> = {};
        await Promise.all(
          Object.entries(probes).map(async ([name, probe]) => {
            checks[name] = await within(2000, probe()).catch(() => false);
          }),
        );
        // A pool can answer `select 1` on one connection while others hang (a stalled
        // network path): calls stuck past every deadline say so.
        if (stuck) checks.requests = stuck.stalled() === 0;
        const ok = Object.values(checks).every(Boolean);
        set.status = ok ? 200 : 503;
        return { status: ok ? "ready" : "unavailable", checks };
      },
      { response: { 200: Ready, 503: Ready }, detail: { summary: "Готовность: отвечают ли Postgres и Redis, нет ли зависших запросов" } },
    );
