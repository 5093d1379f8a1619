-- tether schema, version 6: the audit trail names who acted, and keeps
-- the order in which events were committed.
--
-- actor: user (someone at one of tether's surfaces or apps), admin:cli
-- (tether user ...) or system (tether itself). Earlier events get the
-- actor their kind implies: an upstream re-check is tether's, an
-- account deletion with detail 'admin' the admin CLI's (the detail said
-- who before this column did), everything else the user's.
--
-- seq numbers events in the order they were committed, and is never
-- reused (AUTOINCREMENT), even after a purge empties the table: readers
-- that follow the trail (tether events --follow) resume after the last
-- seq they saw. SQLite has one writer, so the order of seq is the order
-- of commits. The table is rebuilt to give it that key.

CREATE TABLE events_v6 (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	id          TEXT NOT NULL UNIQUE,
	user_id     TEXT NOT NULL, -- '' when the event is tied to no account
	kind        TEXT NOT NULL,
	actor       TEXT NOT NULL,
	method      TEXT NOT NULL,
	provider_id TEXT NOT NULL,
	client_id   TEXT NOT NULL,
	success     INTEGER NOT NULL,
	ip          TEXT NOT NULL,
	user_agent  TEXT NOT NULL,
	detail      TEXT NOT NULL,
	at          TEXT NOT NULL
) STRICT;

INSERT INTO events_v6 (seq, id, user_id, kind, actor, method, provider_id, client_id, success, ip, user_agent, detail, at)
SELECT rowid, id, user_id, kind,
	CASE
		WHEN kind = 'upstream_revoked' THEN 'system'
		WHEN kind = 'account_deleted' AND detail = 'admin' THEN 'admin:cli'
		ELSE 'user'
	END,
	method, provider_id, client_id, success, ip, user_agent,
	CASE WHEN kind = 'account_deleted' THEN '' ELSE detail END,
	at
FROM events ORDER BY rowid;

DROP TABLE events;
ALTER TABLE events_v6 RENAME TO events;
CREATE INDEX events_user_id_at ON events (user_id, at);
CREATE INDEX events_at ON events (at);
