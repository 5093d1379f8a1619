-- tether schema, version 1.
--
-- Tables live in the connection's current schema (the first of its
-- search_path), so one database can hold several tether schemas. Times are
-- timestamptz (microseconds); NULL means "not yet" (used_at, revoked_at,
-- last_sign_in_at). seq columns only keep insertion order for ties.

CREATE TABLE users (
	id             text PRIMARY KEY,
	seq            bigint GENERATED ALWAYS AS IDENTITY,
	email          text NOT NULL,
	-- core.EmailKey(email). Its unique index makes emails unique
	-- case-insensitively, whatever the Go code does.
	email_key      text NOT NULL,
	email_verified boolean NOT NULL,
	nickname       text NOT NULL,
	avatar         text NOT NULL,
	password_hash  text NOT NULL, -- '' for passwordless accounts
	status         text NOT NULL,
	permissions    text[] NOT NULL,
	language       text NOT NULL,
	created_at     timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email_key);
CREATE INDEX users_created_at ON users (created_at, seq);

CREATE TABLE identities (
	provider_id     text NOT NULL,
	issuer          text NOT NULL,
	subject         text NOT NULL,
	user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	seq             bigint GENERATED ALWAYS AS IDENTITY,
	email           text NOT NULL,
	email_verified  boolean NOT NULL,
	name            text NOT NULL,
	avatar          text NOT NULL,
	claims          jsonb,  -- raw upstream claims
	tokens          bytea,  -- upstream tokens, sealed
	linked_at       timestamptz NOT NULL,
	last_sign_in_at timestamptz,
	-- An upstream identity belongs to one account at most.
	CONSTRAINT identities_pkey PRIMARY KEY (provider_id, issuer, subject)
);
-- An account has at most one identity per provider.
CREATE UNIQUE INDEX identities_user_provider ON identities (user_id, provider_id);

CREATE TABLE flows (
	id            text PRIMARY KEY, -- the OAuth state
	provider_id   text NOT NULL,
	purpose       text NOT NULL,
	user_id       text NOT NULL,    -- '' for sign-in
	code_verifier text NOT NULL,
	nonce         text NOT NULL,
	redirect_uri  text NOT NULL,
	return_to     text NOT NULL,
	browser_hash  text NOT NULL,
	created_at    timestamptz NOT NULL,
	expires_at    timestamptz NOT NULL
);
CREATE INDEX flows_expires_at ON flows (expires_at);

CREATE TABLE refresh_tokens (
	hash       text PRIMARY KEY, -- SHA-256 of the token; the token is never stored
	chain_id   text NOT NULL,
	user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	used_at    timestamptz,
	revoked_at timestamptz
);
CREATE INDEX refresh_tokens_chain_id ON refresh_tokens (chain_id);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_revoked_at ON refresh_tokens (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE events (
	id          text PRIMARY KEY,
	seq         bigint GENERATED ALWAYS AS IDENTITY,
	user_id     text NOT NULL, -- '' when the event is tied to no account
	kind        text NOT NULL,
	method      text NOT NULL,
	provider_id text NOT NULL,
	success     boolean NOT NULL,
	ip          text NOT NULL,
	user_agent  text NOT NULL,
	detail      text NOT NULL,
	at          timestamptz NOT NULL
);
CREATE INDEX events_user_id_at ON events (user_id, at DESC, seq DESC);
