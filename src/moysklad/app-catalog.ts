// The МойСклад app catalog feature as one plugin: the Vendor API endpoints, the settings
// page and the descriptor. Without MOYSKLAD_* configuration it adds nothing, so those
// paths answer 404 like any unknown one and the rest works as before.
import { Elysia } from "elysia";
import type { AppDeps } from "../deps.ts";
import { settingsController } from "./settings.tsx";
import { vendorController } from "./vendor.ts";

export const moyskladAppController = (deps: AppDeps) => {
  const cfg = deps.config.moysklad;
  const app = new Elysia({ name: "moysklad-app-catalog" });
  if (!cfg) return app;
  return app.use(vendorController(deps, cfg)).use(settingsController(deps, cfg));
};
