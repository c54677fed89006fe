-- Sign-in lockout that an attacker cannot turn against the owner: locks in
-- a row, and failure records of known browsers (SQLite).
--
-- Same conventions as the earlier migrations. Both columns are new and
-- have a default, so the previous release keeps working on this schema
-- during a rolling upgrade (it neither reads nor writes them).

-- locks is how many locks in a row the record has had: each one doubles
-- the next (up to login.max_lockout). failures now counts only the
-- failures since the record started or its last lock ended.
ALTER TABLE login_throttles ADD COLUMN locks INTEGER NOT NULL DEFAULT 0;

-- A browser that has signed in to an account before (it carries a signed
-- device cookie) has a failure record of its own, keyed
-- "<account>/<device>" in account; device_of is then the account it
-- belongs to, so that an unlock or a password reset clears the records of
-- all its browsers at once. NULL on an account-wide record.
ALTER TABLE login_throttles ADD COLUMN device_of TEXT;
CREATE INDEX login_throttles_device_of_idx ON login_throttles (device_of) WHERE device_of IS NOT NULL;
