-- tether schema, version 5: email links and the outgoing mail queue.
--
-- An email link is a single-use secret sent by mail: verify an address,
-- reset a password, confirm a change of address. Only the SHA-256 of the
-- secret is kept. A link is bound to the address it was sent to, and to
-- what must not have changed since (binding: the password for a reset,
-- the old address for a change); it expires, and once used it stays used
-- until it is purged. Links go with their account.

CREATE TABLE email_links (
	hash       TEXT PRIMARY KEY, -- SHA-256 of the secret; the secret is never stored
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind       TEXT NOT NULL,    -- verify_email | reset_password | change_email
	email      TEXT NOT NULL,    -- the address the link was sent to
	binding    TEXT NOT NULL,    -- what must still hold when it is used; '' for none
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	used_at    TEXT
) STRICT;
CREATE INDEX email_links_user_kind ON email_links (user_id, kind);
CREATE INDEX email_links_expires_at ON email_links (expires_at);

-- The outgoing mail queue. A request only adds a row (in the transaction
-- that made the link the message carries); a worker on any instance
-- claims due rows with a lease, sends them and records the outcome. The
-- message is the built message (Message-ID and Date fixed), sealed with
-- the encryption key because it carries a live link, and cleared once
-- the row is done. The row names no account: the notice of a deleted
-- account must outlive it.
CREATE TABLE mail_queue (
	id              TEXT PRIMARY KEY,
	kind            TEXT NOT NULL,    -- verify_email, reset_password, ... (mail.Kind*)
	state           TEXT NOT NULL,    -- queued | sent | failed
	message         BLOB,             -- sealed mail.Message as JSON; NULL once sent or failed
	attempts        INTEGER NOT NULL,
	next_attempt_at TEXT NOT NULL,
	lease_until     TEXT,             -- claimed by a worker until then
	last_error      TEXT NOT NULL,
	created_at      TEXT NOT NULL,
	finished_at     TEXT
) STRICT;
CREATE INDEX mail_queue_due ON mail_queue (next_attempt_at) WHERE state = 'queued';
CREATE INDEX mail_queue_finished_at ON mail_queue (finished_at) WHERE finished_at IS NOT NULL;
