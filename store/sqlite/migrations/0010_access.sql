-- Token scopes and the audit trail (mirrors postgres/migrations/0010_access.sql).
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin' CHECK (scope IN ('read', 'admin'));
ALTER TABLE api_tokens ADD COLUMN label TEXT NOT NULL DEFAULT 'admin';
CREATE INDEX api_tokens_live_label ON api_tokens (label) WHERE revoked_at IS NULL;

CREATE TABLE admin_actions (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    target    TEXT NOT NULL DEFAULT '',
    detail    TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX admin_actions_tenant ON admin_actions (tenant_id, id);
