-- The access token of the 20261127000002_registration_and_par fixture,
-- minted before API keys existed, with its session as bun writes a blob
-- on PostgreSQL. The signature is the hex SHA-256 of the token "dcr-at",
-- the session the JSON {"subject":"","username":"dcr"}.
INSERT INTO oauth2_access (signature, request_id, client_id, subject, requested_at, expires_at,
    granted_scopes, form, session)
VALUES ('bd9b9f010a198a69dbf332e29a1b4a44ea61344d5f64c6e38c3db765a42da3b6', 'dcr-req', 'dcr-client', '',
    '2026-11-21 10:00:00+00:00', '2099-01-01 00:00:00+00:00', '["read"]', 'grant_type=client_credentials',
    '\x7b227375626a656374223a22222c22757365726e616d65223a22646372227d');
