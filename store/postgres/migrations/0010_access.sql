-- Token scopes and the audit trail (issue 14): every API token has a scope
-- (read: view only; admin: everything) and a label that names it; issuing a
-- token revokes the older live tokens of its label. Tokens stored before
-- this migration were admin tokens, labelled admin. admin_actions records
-- what administrators did (approve, reject, pause, provision, settings,
-- token rotation) with the label of the token they did it with.
ALTER TABLE api_tokens
    ADD COLUMN scope text NOT NULL DEFAULT 'admin' CHECK (scope IN ('read', 'admin')),
    ADD COLUMN label text NOT NULL DEFAULT 'admin';
CREATE INDEX api_tokens_live_label ON api_tokens (label) WHERE revoked_at IS NULL;

CREATE TABLE admin_actions (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    action    text NOT NULL,
    tenant_id text NOT NULL DEFAULT '',
    target    text NOT NULL DEFAULT '',
    detail    text NOT NULL DEFAULT ''
);
CREATE INDEX admin_actions_tenant ON admin_actions (tenant_id, id);
