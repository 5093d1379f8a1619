-- tether schema, version 2: sessions, one write per sign-in.
--
-- A session is one sign-in on one device: the refresh-token chain it
-- started, with the upstream tokens of that sign-in (which used to be
-- rewritten on the identity at every sign-in) and what the account page
-- shows of it. Chains that exist already become sessions.

CREATE TABLE sessions (
	id              TEXT PRIMARY KEY, -- the chain_id of its refresh tokens
	user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	client_id       TEXT NOT NULL,    -- '' for tether's own sessions
	scopes          TEXT NOT NULL,    -- JSON array of strings
	method          TEXT NOT NULL,
	provider_id     TEXT NOT NULL,    -- the identity of an openid sign-in, or ''
	issuer          TEXT NOT NULL,
	subject         TEXT NOT NULL,
	upstream_tokens BLOB,             -- sealed
	checked_at      TEXT,
	created_at      TEXT NOT NULL,
	last_used_at    TEXT NOT NULL,
	last_ip         TEXT NOT NULL,
	user_agent      TEXT NOT NULL,
	expires_at      TEXT NOT NULL,
	revoked_at      TEXT
) STRICT;
CREATE INDEX sessions_user_id ON sessions (user_id, last_used_at);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

INSERT INTO sessions (id, user_id, client_id, scopes, method, provider_id, issuer, subject,
	created_at, last_used_at, last_ip, user_agent, expires_at, revoked_at)
SELECT chain_id, user_id, '', '[]', '', '', '', '', MIN(created_at), MAX(created_at), '', '',
	MAX(expires_at), MIN(revoked_at)
FROM refresh_tokens GROUP BY chain_id, user_id;

-- SQLite adds a foreign key only by rebuilding the table.
CREATE TABLE refresh_tokens_v2 (
	hash       TEXT PRIMARY KEY, -- SHA-256 of the token; the token is never stored
	chain_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	used_at    TEXT,
	revoked_at TEXT
) STRICT;
INSERT INTO refresh_tokens_v2 SELECT hash, chain_id, user_id, created_at, expires_at, used_at, revoked_at FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_v2 RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_chain_id ON refresh_tokens (chain_id);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_revoked_at ON refresh_tokens (revoked_at) WHERE revoked_at IS NOT NULL;

-- Upstream tokens now live on the session that got them.
ALTER TABLE identities DROP COLUMN tokens;

-- An email address belongs to the account that verified it or signs in
-- with it (a password). An account made from an upstream identity whose
-- email the provider did not verify keeps that email as unverified and
-- blocks nobody: anyone could have typed it at that provider.
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (email_key) WHERE email_verified OR password_hash <> '';
CREATE INDEX users_email_any ON users (email_key);

-- Audit events are kept for events.retention and purged by time.
CREATE INDEX events_at ON events (at);
