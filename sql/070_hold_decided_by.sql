-- Who decided a sale's held points: an operator through the API, or a МойСклад employee
-- from the cabinet (their name as МойСклад gave it). Null for decisions made before.
alter table document
  add column hold_decided_by text check (length(hold_decided_by) <= 200);
