-- E-mail waiting to be sent: a durable queue any instance delivers from,
-- so that a mail server that is down or slow loses nothing and blocks no
-- request. body is the message sealed under GATEHOUSE_SECRET (it carries
-- single-use links); recipient and subject stay readable for the
-- administrator. lease_until is set while an instance holds a row (NULL
-- when none does); a row whose lease ran out is taken again. dead_at is
-- set when delivery was given up: the row stays, without its body, as a
-- dead letter the administrator can see.
CREATE TABLE mail_outbox (
    id              TEXT        PRIMARY KEY NOT NULL,
    recipient       TEXT        NOT NULL,
    subject         TEXT        NOT NULL,
    body            BLOB,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    created_at      TIMESTAMP   NOT NULL,
    next_attempt_at TIMESTAMP   NOT NULL,
    lease_until     TIMESTAMP  ,
    last_error      TEXT        NOT NULL DEFAULT '',
    dead_at         TIMESTAMP  
);
CREATE INDEX mail_outbox_next_attempt_at_idx ON mail_outbox (next_attempt_at);
CREATE INDEX mail_outbox_dead_at_idx ON mail_outbox (dead_at);

-- Password reset links: at most one per person (a newer link replaces the
-- older), found by the keyed hash of the link's token; password_mac is a
-- MAC of the password hash the person had when the link was made, so a
-- password changed by any path since makes the link useless.
CREATE TABLE password_resets (
    user_id      TEXT        PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT        NOT NULL UNIQUE,
    password_mac BLOB        NOT NULL,
    created_at   TIMESTAMP   NOT NULL,
    expires_at   TIMESTAMP   NOT NULL
);
