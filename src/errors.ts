// The one error shape every client sees (МойСклад Loyalty API):
// { errors: [ { error, parameter?, code, error_message } ] }
// Titles and messages reach the cashier, so they are short Russian sentences.
import { Type } from "@sinclair/typebox";
import { t } from "elysia";

// The schema is the type and every route's error response in the OpenAPI page. Like the
// protocol's other shapes it admits fields we do not know; `code` is TypeBox's plain
// integer (Elysia's t.Integer would make every error response a transform).
export const ErrorItem = t.Object(
  {
    error: t.String(),
    parameter: t.Optional(t.String()),
    code: Type.Integer(),
    error_message: t.String(),
  },
  { additionalProperties: true },
);
export type ProtocolErrorItem = typeof ErrorItem.static;

export const ErrorBody = t.Object({ errors: t.Array(ErrorItem) }, { additionalProperties: true, description: "Ошибка" });
export type ProtocolErrorBody = typeof ErrorBody.static;

/** Our catalogue of `code` values. 28001 is the protocol's own. */
export const ErrorCode = {
  validation: 40001,
  malformedJson: 40002,
  unauthorized: 40101,
  suspended: 40301,
  customerNotFound: 40401,
  routeNotFound: 40402,
  notFound: 40403,
  conflict: 40901,
  verificationRequired: 28001,
  payloadTooLarge: 41301,
  unsupportedMediaType: 41501,
  rateLimited: 42901,
  unavailable: 50301,
  internal: 50001,
} as const;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly items: ProtocolErrorItem[],
  ) {
    super(items.map((i) => i.error_message).join("; "));
  }

  get body(): ProtocolErrorBody {
    return { errors: this.items };
  }

  static one(status: number, code: number, error: string, error_message: string, parameter?: string): ApiError {
    return new ApiError(status, [parameter ? { error, parameter, code, error_message } : { error, code, error_message }]);
  }
}

// Validation errors use 400 everywhere (the protocol leaves 400 or 412 to us; 412 is
// kept for the protocol's own "confirmation required" answer).
export const VALIDATION_STATUS = 400;

export const errors = {
  validation: (message: string, parameter?: string) =>
    ApiError.one(VALIDATION_STATUS, ErrorCode.validation, "Неверные данные запроса", message, parameter),
  malformedJson: () =>
    ApiError.one(VALIDATION_STATUS, ErrorCode.malformedJson, "Неверный формат запроса", "Тело запроса не является корректным JSON."),
  unauthorized: () =>
    ApiError.one(
      401,
      ErrorCode.unauthorized,
      "Неверный ключ доступа",
      "Ключ доступа не найден. Проверьте ключ в настройках приложения Loyalty API в МойСклад.",
      "Lognex-Discount-API-Auth-Token",
    ),
  suspended: () =>
    ApiError.one(
      403,
      ErrorCode.suspended,
      "Программа лояльности приостановлена",
      "Программа лояльности приостановлена: подписка на приложение в МойСклад не оплачена. Продайте без баллов; баллы покупателей сохранены.",
    ),
  uninstalled: () =>
    ApiError.one(
      401,
      ErrorCode.unauthorized,
      "Программа лояльности отключена",
      "Программа лояльности отключена: приложение удалено из МойСклад. Продайте без баллов.",
      "Lognex-Discount-API-Auth-Token",
    ),
  adminUnauthorized: () =>
    ApiError.one(401, ErrorCode.unauthorized, "Нет доступа", "Нужен заголовок Authorization: Bearer <ADMIN_TOKEN>."),
  customerNotFound: (parameter = "meta") =>
    ApiError.one(404, ErrorCode.customerNotFound, "Покупатель не найден", "Покупатель не найден в программе лояльности.", parameter),
  notFound: (what: string, parameter?: string) =>
    ApiError.one(404, ErrorCode.notFound, "Не найдено", what, parameter),
  routeNotFound: (method: string, path: string) =>
    ApiError.one(404, ErrorCode.routeNotFound, "Метод не найден", `Нет метода ${method} ${path}.`),
  registrationVerificationRequired: () =>
    ApiError.one(
      412,
      ErrorCode.verificationRequired,
      "Необходимо подтверждение создания покупателя.",
      "Покупатель должен подтвердить регистрацию кодом из SMS.",
    ),
  conflict: (message: string, parameter?: string) =>
    ApiError.one(409, ErrorCode.conflict, "Конфликт данных", message, parameter),
  unavailable: (what = "База данных") =>
    ApiError.one(
      503,
      ErrorCode.unavailable,
      "Сервис временно недоступен",
      `${what}: временно недоступно. Повторите через несколько секунд.`,
    ),
  payloadTooLarge: (limitBytes: number) =>
    ApiError.one(
      413,
      ErrorCode.payloadTooLarge,
      "Слишком большой запрос",
      `Тело запроса больше допустимого (${formatBytes(limitBytes)}).`,
    ),
  tooDeep: (maxDepth: number) =>
    ApiError.one(
      VALIDATION_STATUS,
      ErrorCode.malformedJson,
      "Неверный формат запроса",
      `В JSON слишком глубокая вложенность (допустимо не больше ${maxDepth} уровней).`,
    ),
  unsupportedMediaType: () =>
    ApiError.one(
      415,
      ErrorCode.unsupportedMediaType,
      "Неверный формат запроса",
      "Тело запроса принимается только в JSON (Content-Type: application/json).",
    ),
  tooManyRequests: (retryAfterSeconds: number) =>
    ApiError.one(
      429,
      ErrorCode.rateLimited,
      "Слишком много запросов",
      `Слишком много запросов. Повторите через ${retryAfterSeconds} с.`,
    ),
  internal: () =>
    ApiError.one(500, ErrorCode.internal, "Внутренняя ошибка", "Внутренняя ошибка программы лояльности. Повторите операцию."),
};

function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} МБ`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} КБ`;
  return `${n} байт`;
}
