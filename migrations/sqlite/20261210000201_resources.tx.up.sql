-- Protected resources (RFC 8707): the APIs and MCP servers clients ask
-- tokens for with the resource parameter. id is the resource indicator
-- (an absolute URI without a fragment, RFC 8707 §2), which becomes the
-- tokens' audience; scopes (a JSON array, as elsewhere) are the scopes it
-- understands; access_token_format ('jwt', 'opaque' or '' for the
-- client's or server's default), access_token_lifetime_ms (0 for the
-- server's) and signing_alg ('' for the server's) shape its tokens.
-- A new table and a defaulted column: the previous release never reads
-- them, so it keeps working on this schema during a rolling upgrade.
CREATE TABLE resources (
    id                       TEXT        PRIMARY KEY NOT NULL,
    name                     TEXT        NOT NULL DEFAULT '',
    scopes                   TEXT        NOT NULL DEFAULT '[]',
    access_token_format      TEXT        NOT NULL DEFAULT '',
    access_token_lifetime_ms BIGINT      NOT NULL DEFAULT 0,
    signing_alg              TEXT        NOT NULL DEFAULT '',
    created_at               TIMESTAMP NOT NULL,
    updated_at               TIMESTAMP NOT NULL
);
-- default_resource: the resource a request of the client that names none
-- gets a token for (older MCP clients send no resource parameter).
ALTER TABLE clients ADD COLUMN default_resource TEXT NOT NULL DEFAULT '';
