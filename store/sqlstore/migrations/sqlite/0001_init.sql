-- tether schema, version 1.
--
-- Times are UTC text in one fixed-width format (2006-01-02T15:04:05.000000Z)
-- so they read well and compare correctly as strings; NULL means "not yet"
-- (used_at, revoked_at, last_sign_in_at). Booleans are 0 or 1. Tables are
-- STRICT so a wrong type is an error, not a silent conversion.

CREATE TABLE users (
	id             TEXT PRIMARY KEY,
	email          TEXT NOT NULL,
	-- core.EmailKey(email). Its unique index makes emails unique
	-- case-insensitively, whatever the Go code does.
	email_key      TEXT NOT NULL,
	email_verified INTEGER NOT NULL,
	nickname       TEXT NOT NULL,
	avatar         TEXT NOT NULL,
	password_hash  TEXT NOT NULL, -- '' for passwordless accounts
	status         TEXT NOT NULL,
	permissions    TEXT NOT NULL, -- JSON array of strings
	language       TEXT NOT NULL,
	created_at     TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_email_key ON users (email_key);
CREATE INDEX users_created_at ON users (created_at);

CREATE TABLE identities (
	provider_id     TEXT NOT NULL,
	issuer          TEXT NOT NULL,
	subject         TEXT NOT NULL,
	user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	email           TEXT NOT NULL,
	email_verified  INTEGER NOT NULL,
	name            TEXT NOT NULL,
	avatar          TEXT NOT NULL,
	claims          TEXT,         -- raw upstream claims, JSON
	tokens          BLOB,         -- upstream tokens, sealed
	linked_at       TEXT NOT NULL,
	last_sign_in_at TEXT,
	-- An upstream identity belongs to one account at most.
	PRIMARY KEY (provider_id, issuer, subject)
) STRICT;
-- An account has at most one identity per provider.
CREATE UNIQUE INDEX identities_user_provider ON identities (user_id, provider_id);

CREATE TABLE flows (
	id            TEXT PRIMARY KEY, -- the OAuth state
	provider_id   TEXT NOT NULL,
	purpose       TEXT NOT NULL,
	user_id       TEXT NOT NULL,    -- '' for sign-in
	code_verifier TEXT NOT NULL,
	nonce         TEXT NOT NULL,
	redirect_uri  TEXT NOT NULL,
	return_to     TEXT NOT NULL,
	browser_hash  TEXT NOT NULL,
	created_at    TEXT NOT NULL,
	expires_at    TEXT NOT NULL
) STRICT;
CREATE INDEX flows_expires_at ON flows (expires_at);

CREATE TABLE refresh_tokens (
	hash       TEXT PRIMARY KEY, -- SHA-256 of the token; the token is never stored
	chain_id   TEXT NOT NULL,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	used_at    TEXT,
	revoked_at TEXT
) STRICT;
CREATE INDEX refresh_tokens_chain_id ON refresh_tokens (chain_id);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_revoked_at ON refresh_tokens (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE events (
	id          TEXT PRIMARY KEY,
	user_id     TEXT NOT NULL, -- '' when the event is tied to no account
	kind        TEXT NOT NULL,
	method      TEXT NOT NULL,
	provider_id TEXT NOT NULL,
	success     INTEGER NOT NULL,
	ip          TEXT NOT NULL,
	user_agent  TEXT NOT NULL,
	detail      TEXT NOT NULL,
	at          TEXT NOT NULL
) STRICT;
CREATE INDEX events_user_id_at ON events (user_id, at);
