-- tether schema, version 4: pictures kept, not linked.
--
-- An account's picture is fetched once from the URL its upstream
-- provider gave (source) and kept here, so that tether serves it itself
-- instead of sending browsers to that URL (an open redirect). A fetch
-- that failed is kept too, without data, so it is not tried at every
-- request.

CREATE TABLE avatars (
	user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	source     TEXT NOT NULL,
	type       TEXT NOT NULL, -- image/png, image/jpeg, image/gif, image/webp; '' when the fetch failed
	data       BLOB,
	fetched_at TEXT NOT NULL
) STRICT;
