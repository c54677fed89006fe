-- What an operator trusts a client with (PostgreSQL).
--
-- Same conventions as the earlier migrations.

-- first_party: the operator's own client, the only kind that may be allowed
-- scopes that manage gatehouse itself (apikeys, gatehouse:*). Registration
-- never sets it; consent never grants those scopes.
ALTER TABLE clients ADD COLUMN first_party BOOLEAN NOT NULL DEFAULT FALSE;
-- introspect_any_token: the client may introspect tokens issued to any
-- client (RFC 7662 §4); otherwise only its own and those issued for it.
ALTER TABLE clients ADD COLUMN introspect_any_token BOOLEAN NOT NULL DEFAULT FALSE;
-- resources: the RFC 8707 resource indicators of the APIs the client serves
-- as a resource server (JSON list): it may introspect tokens issued for
-- them.
ALTER TABLE clients ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';

-- created_via: the client whose user-delegated access token created the key
-- through the self-service API ('' when an operator, a client itself or the
-- account pages created it), so that revoking that app lists its keys.
ALTER TABLE api_keys ADD COLUMN created_via TEXT NOT NULL DEFAULT '';

-- Clients an operator created (no registration access token) that are
-- already allowed a management scope keep working: they are first-party.
-- Dynamically registered clients never are, whatever they were allowed.
UPDATE clients SET first_party = TRUE
WHERE registration_access_token_hash = ''
  AND (scopes LIKE '%"gatehouse:%' OR scopes LIKE '%"apikeys"%');
