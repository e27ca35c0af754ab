import { expect, test } from "./support/test.ts";
import { migrate } from "../src/db/migrate.ts";
import { createSql } from "../src/db/client.ts";
import { createTestDatabase } from "./support/db.ts";

test("several instances starting at once apply each migration exactly once", async () => {
  const db = await createTestDatabase({ migrate: false });
  const others = [1, 2, 3].map(() => createSql(db.url, { max: 1 }));
  try {
    const results = await Promise.all([db.sql, ...others].map((sql) => migrate(sql)));
    const applied = results.flatMap((r) => r.applied);
    expect(applied).toContain("001_init.sql");
    expect(applied.filter((f) => f === "001_init.sql")).toHaveLength(1);
    const again = await migrate(db.sql);
    expect(again.applied).toEqual([]);
  } finally {
    await Promise.all(others.map((s) => s.end()));
    await db.drop();
  }
});
