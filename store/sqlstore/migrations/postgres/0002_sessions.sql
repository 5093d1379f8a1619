-- tether schema, version 2: sessions, one write per sign-in.
--
-- A session is one sign-in on one device: the refresh-token chain it
-- started, with the upstream tokens of that sign-in (which used to be
-- rewritten on the identity at every sign-in) and what the account page
-- shows of it. Chains that exist already become sessions.

CREATE TABLE sessions (
	id              text PRIMARY KEY, -- the chain_id of its refresh tokens
	seq             bigint GENERATED ALWAYS AS IDENTITY,
	user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	client_id       text NOT NULL,    -- '' for tether's own sessions
	scopes          text[] NOT NULL,
	method          text NOT NULL,
	provider_id     text NOT NULL,    -- the identity of an openid sign-in, or ''
	issuer          text NOT NULL,
	subject         text NOT NULL,
	upstream_tokens bytea,            -- sealed
	checked_at      timestamptz,
	created_at      timestamptz NOT NULL,
	last_used_at    timestamptz NOT NULL,
	last_ip         text NOT NULL,
	user_agent      text NOT NULL,
	expires_at      timestamptz NOT NULL,
	revoked_at      timestamptz
);
CREATE INDEX sessions_user_id ON sessions (user_id, last_used_at);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

INSERT INTO sessions (id, user_id, client_id, scopes, method, provider_id, issuer, subject,
	created_at, last_used_at, last_ip, user_agent, expires_at, revoked_at)
SELECT chain_id, user_id, '', '{}', '', '', '', '', min(created_at), max(created_at), '', '',
	max(expires_at), min(revoked_at)
FROM refresh_tokens GROUP BY chain_id, user_id;

ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_chain_id_fkey
	FOREIGN KEY (chain_id) REFERENCES sessions (id) ON DELETE CASCADE;

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
