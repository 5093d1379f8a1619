-- tether schema, version 3: tether as an OpenID Provider for apps.
--
-- Signing keys are shared by every instance; their private halves are
-- sealed with the encryption key. Authorization codes are single use and
-- remember the session their exchange started, so a replayed code can
-- end it. Consents are remembered per person and app. Access tokens are
-- JWTs, checked without the database, except for the ones revoked before
-- they expire, listed here.

CREATE TABLE signing_keys (
	id          TEXT PRIMARY KEY, -- the kid
	alg         TEXT NOT NULL,    -- RS256 | ES256 | EdDSA
	public_jwk  TEXT NOT NULL,    -- JSON
	private_key BLOB NOT NULL,    -- PKCS#8, sealed
	created_at  TEXT NOT NULL,
	retired_at  TEXT,             -- when a newer key took over signing
	expires_at  TEXT              -- when the last token it signed expires
) STRICT;
-- One key of each algorithm signs at a time.
CREATE UNIQUE INDEX signing_keys_current ON signing_keys (alg) WHERE retired_at IS NULL;

CREATE TABLE auth_codes (
	hash           TEXT PRIMARY KEY, -- SHA-256 of the code
	client_id      TEXT NOT NULL,
	redirect_uri   TEXT NOT NULL,
	user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	scopes         TEXT NOT NULL,    -- JSON array
	nonce          TEXT NOT NULL,
	code_challenge TEXT NOT NULL,
	auth_time      TEXT NOT NULL,
	amr            TEXT NOT NULL,
	created_at     TEXT NOT NULL,
	expires_at     TEXT NOT NULL,
	used_at        TEXT,
	session_id     TEXT NOT NULL,    -- the session its exchange started
	browser        TEXT NOT NULL     -- the tether session of the browser it was issued to
) STRICT;
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

CREATE TABLE consents (
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	client_id  TEXT NOT NULL,
	scopes     TEXT NOT NULL, -- JSON array
	granted_at TEXT NOT NULL,
	PRIMARY KEY (user_id, client_id)
) STRICT;

CREATE TABLE revoked_tokens (
	id         TEXT PRIMARY KEY, -- an access token's jti
	expires_at TEXT NOT NULL
) STRICT;
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);

-- What an app's ID tokens repeat at every refresh: when and how the
-- person authenticated, and the nonce of the first.
ALTER TABLE sessions ADD COLUMN auth_time TEXT;
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN nonce TEXT NOT NULL DEFAULT '';
-- An app's session remembers the tether session that authorized it, whose
-- upstream sign-in its refreshes re-check.
ALTER TABLE sessions ADD COLUMN parent_id TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_client_id ON sessions (user_id, client_id) WHERE client_id <> '';

-- Events of an app's sign-ins, refreshes and revocations name the app.
ALTER TABLE events ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
