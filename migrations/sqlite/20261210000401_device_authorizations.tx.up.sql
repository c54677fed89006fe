-- Device authorizations (RFC 8628): a device without a browser asks for a
-- device code and a user code, a person approves the user code on the
-- verification page, and the device polls the token endpoint. signature
-- is the keyed hash of the device code (never stored in clear); user_code
-- is normalised (upper case, no separators) and unique. Poll state
-- (last_polled_at, polls, interval_ms) lives here so that any instance
-- answers any poll; polls is the compare-and-set counter. status is
-- pending, approved, denied or consumed; session_id, user_id,
-- granted_scopes, auth_time and amr are set on approval. A new table: the
-- previous release never reads it.
CREATE TABLE device_authorizations (
    signature      TEXT        PRIMARY KEY NOT NULL,
    user_code      TEXT        NOT NULL UNIQUE,
    client_id      TEXT        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes         TEXT        NOT NULL DEFAULT '[]',
    resources      TEXT        NOT NULL DEFAULT '[]',
    requested_at   TIMESTAMP NOT NULL,
    expires_at     TIMESTAMP NOT NULL,
    interval_ms    BIGINT      NOT NULL,
    last_polled_at TIMESTAMP,
    polls          BIGINT      NOT NULL DEFAULT 0,
    status         TEXT        NOT NULL DEFAULT 'pending',
    session_id     TEXT        NOT NULL DEFAULT '',
    user_id        TEXT        NOT NULL DEFAULT '',
    granted_scopes TEXT        NOT NULL DEFAULT '[]',
    auth_time      TIMESTAMP,
    amr            TEXT        NOT NULL DEFAULT '[]'
);
CREATE INDEX device_authorizations_expires_at_idx ON device_authorizations (expires_at);
