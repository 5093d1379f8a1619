-- tether schema, version 3: tether as an OpenID Provider for apps.
--
-- Signing keys are shared by every instance; their private halves are
-- sealed with the encryption key. Authorization codes are single use and
-- remember the session their exchange started, so a replayed code can
-- end it. Consents are remembered per person and app. Access tokens are
-- JWTs, checked without the database, except for the ones revoked before
-- they expire, listed here.

CREATE TABLE signing_keys (
	id          text PRIMARY KEY, -- the kid
	seq         bigint GENERATED ALWAYS AS IDENTITY,
	alg         text NOT NULL,    -- RS256 | ES256 | EdDSA
	public_jwk  text NOT NULL,    -- JSON
	private_key bytea NOT NULL,   -- PKCS#8, sealed
	created_at  timestamptz NOT NULL,
	retired_at  timestamptz,      -- when a newer key took over signing
	expires_at  timestamptz       -- when the last token it signed expires
);
-- One key of each algorithm signs at a time.
CREATE UNIQUE INDEX signing_keys_current ON signing_keys (alg) WHERE retired_at IS NULL;

CREATE TABLE auth_codes (
	hash           text PRIMARY KEY, -- SHA-256 of the code
	client_id      text NOT NULL,
	redirect_uri   text NOT NULL,
	user_id        text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	scopes         text[] NOT NULL,
	nonce          text NOT NULL,
	code_challenge text NOT NULL,
	auth_time      timestamptz NOT NULL,
	amr            text NOT NULL,
	created_at     timestamptz NOT NULL,
	expires_at     timestamptz NOT NULL,
	used_at        timestamptz,
	session_id     text NOT NULL,    -- the session its exchange started
	browser        text NOT NULL     -- the tether session of the browser it was issued to
);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

CREATE TABLE consents (
	user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	client_id  text NOT NULL,
	scopes     text[] NOT NULL,
	granted_at timestamptz NOT NULL,
	PRIMARY KEY (user_id, client_id)
);

CREATE TABLE revoked_tokens (
	id         text PRIMARY KEY, -- an access token's jti
	expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);

-- What an app's ID tokens repeat at every refresh: when and how the
-- person authenticated, and the nonce of the first.
ALTER TABLE sessions ADD COLUMN auth_time timestamptz;
ALTER TABLE sessions ADD COLUMN amr text NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN nonce text NOT NULL DEFAULT '';
-- An app's session remembers the tether session that authorized it, whose
-- upstream sign-in its refreshes re-check.
ALTER TABLE sessions ADD COLUMN parent_id text NOT NULL DEFAULT '';
CREATE INDEX sessions_client_id ON sessions (user_id, client_id) WHERE client_id <> '';

-- Events of an app's sign-ins, refreshes and revocations name the app.
ALTER TABLE events ADD COLUMN client_id text NOT NULL DEFAULT '';
