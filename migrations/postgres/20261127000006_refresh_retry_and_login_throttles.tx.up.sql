-- Hardening: refresh retry window, login throttling, audit queries (PostgreSQL).
--
-- Same conventions as the earlier migrations.

-- A client's own refresh retry window in milliseconds; NULL follows the
-- server's refresh_retry_window.
ALTER TABLE clients ADD COLUMN refresh_retry_window_ms BIGINT;

-- The token response a refresh request got, kept (sealed under the system
-- secret) for the client's retry window only: the same refresh token
-- presented again within the window gets this answer back instead of a
-- revoked grant. signature is the spent refresh token's signature.
CREATE TABLE refresh_successors (
    signature  TEXT        PRIMARY KEY NOT NULL,
    client_id  TEXT        NOT NULL,
    sealed     BYTEA       NOT NULL,
    created_at TIMESTAMPTZ   NOT NULL,
    expires_at TIMESTAMPTZ   NOT NULL
);
CREATE INDEX refresh_successors_expires_at_idx ON refresh_successors (expires_at);

-- Failed password sign-ins per account, for back-off and temporary locks
-- that hold across instances. account is the hex SHA-256 of the
-- lower-cased e-mail, so attempts on unknown e-mails are throttled alike
-- (no enumeration) without storing what an attacker typed. locked_until
-- is NULL while the account is not locked.
CREATE TABLE login_throttles (
    account         TEXT        PRIMARY KEY NOT NULL,
    failures        INTEGER     NOT NULL DEFAULT 0,
    last_failure_at TIMESTAMPTZ   NOT NULL,
    locked_until    TIMESTAMPTZ
);
CREATE INDEX login_throttles_last_failure_at_idx ON login_throttles (last_failure_at);

-- Audit queries by subject (gatehouse audit --subject, the admin API).
CREATE INDEX audit_events_subject_idx ON audit_events (subject, time);
