-- Logout that reaches the apps: OpenID Connect Back-Channel Logout 1.0 and
-- Front-Channel Logout 1.0, and sign-in sessions people can see and end
-- (SQLite).
--
-- Same conventions as the earlier migrations. Every added column has a
-- default or is nullable, so the previous release keeps working on this
-- schema during a rolling upgrade (it neither reads nor writes them).

-- The clients' logout endpoints (Back-Channel Logout §2.2, Front-Channel
-- Logout §2); '' for none.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN frontchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN frontchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;

-- sid: the session's random "sid" claim, unrelated to the cookie (id is
-- the cookie's hash); NULL for sessions started before this migration,
-- which therefore carry no sid. user_agent and ip describe the browser
-- that signed in, for the account page and the administrator.
ALTER TABLE login_sessions ADD COLUMN sid TEXT;
ALTER TABLE login_sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE login_sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX login_sessions_sid_idx ON login_sessions (sid);

-- The clients that got an authorization code in a login session: who is
-- told when it ends. Rows go with their session and with their client.
CREATE TABLE login_session_clients (
    session_id TEXT        NOT NULL REFERENCES login_sessions (id) ON DELETE CASCADE,
    client_id  TEXT        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    created_at TIMESTAMP   NOT NULL,
    PRIMARY KEY (session_id, client_id)
);
CREATE INDEX login_session_clients_client_id_idx ON login_session_clients (client_id);

-- Back-channel logout notifications waiting for their client: a durable
-- queue any instance delivers from. lease_until is set while an instance
-- holds a row (NULL when none does); a row whose lease ran out is taken
-- again.
CREATE TABLE logout_deliveries (
    id              TEXT        PRIMARY KEY NOT NULL,
    client_id       TEXT        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject         TEXT        NOT NULL,
    sid             TEXT        NOT NULL DEFAULT '',
    attempts        INTEGER     NOT NULL DEFAULT 0,
    created_at      TIMESTAMP   NOT NULL,
    next_attempt_at TIMESTAMP   NOT NULL,
    lease_until     TIMESTAMP,
    last_error      TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX logout_deliveries_next_attempt_at_idx ON logout_deliveries (next_attempt_at);
CREATE INDEX logout_deliveries_client_id_idx ON logout_deliveries (client_id);
