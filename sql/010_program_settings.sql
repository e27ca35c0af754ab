-- Program settings declared once: the typebox schema in src/loyalty/program.ts is the
-- type, the validation and the defaults; the database keeps only what the merchant set
-- (absent keys take the current default), so a new setting needs no migration.

alter table program add column settings jsonb not null default '{}' check (jsonb_typeof(settings) = 'object');

update program set settings = jsonb_strip_nulls(jsonb_build_object(
  'earnPercent', earn_percent,
  'spendRate', spend_rate,
  'maxSpendPercent', max_spend_percent,
  'earnWhileRedeeming', earn_while_redeeming,
  'accrualDelayDays', accrual_delay_days,
  'excludedAssortmentIds', to_jsonb(excluded_assortment_ids),
  'requireSpendVerification', require_spend_verification,
  'requireRegistrationVerification', require_registration_verification,
  'receiptTemplate', receipt_template,
  'codeLength', code_length,
  'codeTtlSeconds', code_ttl_seconds,
  'codeRepeatSeconds', code_repeat_seconds,
  'codesPerPhonePerHour', codes_per_phone_per_hour,
  'codesPerTenantPerHour', codes_per_tenant_per_hour,
  'codeMessageTemplate', code_message_template,
  'pointsMessageTemplate', points_message_template,
  'returnMessageTemplate', return_message_template));

alter table program
  drop column earn_percent,
  drop column spend_rate,
  drop column max_spend_percent,
  drop column earn_while_redeeming,
  drop column accrual_delay_days,
  drop column excluded_assortment_ids,
  drop column require_spend_verification,
  drop column require_registration_verification,
  drop column receipt_template,
  drop column code_length,
  drop column code_ttl_seconds,
  drop column code_repeat_seconds,
  drop column codes_per_phone_per_hour,
  drop column codes_per_tenant_per_hour,
  drop column code_message_template,
  drop column points_message_template,
  drop column return_message_template;
