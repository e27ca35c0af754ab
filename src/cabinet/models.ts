import { t } from "elysia";

export const StatsQuery = t.Object({
  from: t.Optional(t.String({ description: "ГГГГ-ММ-ДД, включительно; по умолчанию 29 дней до `to`" })),
  to: t.Optional(t.String({ description: "ГГГГ-ММ-ДД, включительно; по умолчанию сегодня (Москва)" })),
});

const DayStats = t.Object({
  day: t.String({ description: "ГГГГ-ММ-ДД, московское время" }),
  receipts: t.Integer({ description: "все продажи" }),
  memberReceipts: t.Integer({ description: "продажи с известным покупателем" }),
  memberKopecks: t.Integer({ description: "их сумма, копейки" }),
  allKopecks: t.Integer({ description: "сумма всех продаж, копейки" }),
  pointsEarned: t.Integer({ description: "начислено (за покупки, приветственные, ко дню рождения)" }),
  pointsSpent: t.Integer({ description: "списано в оплату" }),
  pointsBurned: t.Integer({ description: "сгорело" }),
  newCustomers: t.Integer({ description: "первая покупка в этот день" }),
  returningCustomers: t.Integer({ description: "покупка в этот день — не первая" }),
});

export const Stats = t.Object({
  period: t.Object({ from: t.String(), to: t.String() }),
  totals: t.Object({
    receipts: t.Integer(),
    memberReceipts: t.Integer(),
    memberKopecks: t.Integer(),
    allKopecks: t.Integer(),
    memberShare: t.Number({ description: "доля чеков с известным покупателем, %" }),
    pointsEarned: t.Integer(),
    pointsSpent: t.Integer(),
    pointsBurned: t.Integer(),
    newCustomers: t.Integer({ description: "разных покупателей с первой покупкой в периоде" }),
    returningCustomers: t.Integer({ description: "разных покупателей с повторной покупкой в периоде" }),
    memberAverageKopecks: t.Integer({ description: "средний чек участника, копейки" }),
  }),
  days: t.Array(DayStats),
  top: t.Array(
    t.Object({
      id: t.String(),
      name: t.Nullable(t.String()),
      phone: t.Nullable(t.String()),
      erased: t.Boolean(),
      receipts: t.Integer(),
      kopecks: t.Integer(),
      balance: t.Integer(),
    }),
  ),
});

export const ImportCreated = t.Object({ id: t.String() });

export const ImportStatus = t.Object({
  id: t.String(),
  fileName: t.Nullable(t.String()),
  state: t.Union([t.Literal("queued"), t.Literal("running"), t.Literal("done"), t.Literal("failed")]),
  encoding: t.Nullable(t.String({ description: "utf-8 или windows-1251 — как прочитан файл" })),
  delimiter: t.Nullable(t.String()),
  total: t.Integer({ description: "строк данных в файле (без заголовка)" }),
  processed: t.Integer(),
  failed: t.Integer({ description: "строк отклонено" }),
  created: t.Integer({ description: "новых покупателей" }),
  credited: t.Integer({ description: "перенесено начальных балансов" }),
  failure: t.Nullable(t.String({ description: "почему файл не прочитан целиком" })),
  errors: t.Array(t.Object({ row: t.Integer({ description: "номер строки файла (заголовок — строка 1)" }), error: t.String() })),
  errorsTruncated: t.Boolean({ description: "ошибок больше, чем показано: полный список — errors.csv" }),
  createdAt: t.String(),
  finishedAt: t.Nullable(t.String()),
});

export const ImportQuery = t.Object({ fileName: t.Optional(t.String({ maxLength: 300 })) });

export const ProfilePatch = t.Object({
  phone: t.Optional(t.String({ maxLength: 40, description: "в любой записи; пустая строка удаляет" })),
  name: t.Optional(t.String({ maxLength: 200, description: "пустая строка удаляет" })),
  birthDate: t.Optional(t.String({ maxLength: 10, description: "ГГГГ-ММ-ДД; пустая строка удаляет" })),
});

export const CustomerMessage = t.Object({
  channel: t.String({ description: "sms | push | log" }),
  status: t.String({ description: "sent | failed" }),
  purpose: t.String({ description: "code | points" }),
  text: t.Nullable(t.String({ description: "текст кода не хранится" })),
  error: t.Nullable(t.String()),
  createdAt: t.String(),
});
