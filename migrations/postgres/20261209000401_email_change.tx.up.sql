-- previous_email: a link that changes a person's address (sent to the new
-- address, in email) carries the address the person had when asking, so
-- that confirming it changes that address only: an address changed since
-- (by an administrator) makes the link worthless. Empty for a link that
-- verifies the current address. New and defaulted, so the previous release
-- keeps working on this schema during a rolling upgrade: it never reads
-- the column, and its check that email is the person's address refuses a
-- change link as it refuses any outdated link.
ALTER TABLE email_verifications ADD COLUMN previous_email TEXT NOT NULL DEFAULT '';
