-- tether schema, version 6: the audit trail names who acted, and keeps
-- the order in which events were committed.
--
-- actor: user (someone at one of tether's surfaces or apps), admin:cli
-- (tether user ...) or system (tether itself). Earlier events get the
-- actor their kind implies: an upstream re-check is tether's, an
-- account deletion with detail 'admin' the admin CLI's (the detail said
-- who before this column did), everything else the user's.
ALTER TABLE events ADD COLUMN actor text NOT NULL DEFAULT '';
UPDATE events SET
	actor = CASE
		WHEN kind = 'upstream_revoked' THEN 'system'
		WHEN kind = 'account_deleted' AND detail = 'admin' THEN 'admin:cli'
		ELSE 'user'
	END,
	detail = CASE WHEN kind = 'account_deleted' THEN '' ELSE detail END;
ALTER TABLE events ALTER COLUMN actor DROP DEFAULT;

-- xid is the transaction that recorded the event. Several instances
-- commit concurrently, so seq (given at INSERT) is not the order of
-- commits: an event with a lower seq may become visible after one with
-- a higher seq. Readers that follow the trail (tether events --follow)
-- read in (xid, seq) order and only the events of transactions older
-- than every transaction still running (xid below the xmin of their
-- snapshot): those can no longer change, and every event committed later
-- sorts after them. Events recorded before this version all get the
-- migration's transaction id, in seq order.
ALTER TABLE events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_xid_seq ON events (xid, seq);
