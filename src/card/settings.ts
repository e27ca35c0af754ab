// The merchant's texts for the customer's side: the consent to the processing of personal
// data shown at self-registration, and the SMS with the card link.
import { t } from "elysia";
import type { Sql } from "../db/client.ts";
import { errors } from "../errors.ts";
import { DEFAULT_CARD_MESSAGE } from "./card.ts";
import { DEFAULT_CONSENT_TEXT } from "./join.ts";

export const CardSettings = t.Object({
  consentText: t.String({ minLength: 1, maxLength: 5000, description: "текст согласия на обработку персональных данных (152-ФЗ)" }),
  cardMessageTemplate: t.String({ minLength: 1, maxLength: 500, description: "SMS со ссылкой на карту: {url} (обязательно) {shop}" }),
});
export const CardSettingsPatch = t.Partial(CardSettings);

export async function cardSettings(sql: Sql, tenantId: string): Promise<typeof CardSettings.static> {
  const [row] = await sql<{ consent_text: string | null; card_message_template: string | null }[]>`
    select consent_text, card_message_template from program where tenant_id = ${tenantId}`;
  return { consentText: row?.consent_text ?? DEFAULT_CONSENT_TEXT, cardMessageTemplate: row?.card_message_template ?? DEFAULT_CARD_MESSAGE };
}

export async function updateCardSettings(sql: Sql, tenantId: string, patch: typeof CardSettingsPatch.static): Promise<typeof CardSettings.static> {
  if (patch.cardMessageTemplate !== undefined && !patch.cardMessageTemplate.includes("{url}")) {
    throw errors.validation("Шаблон SMS со ссылкой на карту должен содержать {url}.", "cardMessageTemplate");
  }
  const columns: Record<string, string> = {};
  if (patch.consentText !== undefined) columns.consent_text = patch.consentText;
  if (patch.cardMessageTemplate !== undefined) columns.card_message_template = patch.cardMessageTemplate;
  if (Object.keys(columns).length > 0) await sql`update program set ${sql(columns)}, updated_at = now() where tenant_id = ${tenantId}`;
  return cardSettings(sql, tenantId);
}
