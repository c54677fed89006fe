// Package apikey mints, parses and verifies gatehouse API keys: long-lived,
// named, revocable secrets of an OAuth client, accepted wherever the
// client's own secret is.
//
// A key reads
//
//	gth_ak_ <22-char key id> <43-char secret> <6-char checksum>
//
// (without the spaces; 78 characters, all base62 after the prefix). The id
// lets a key be found by primary key; the secret is stored only as a keyed
// SHA-256; the CRC-32 checksum rejects a typo or a truncated key before any
// database access. The prefix is gatehouse's own, so secret scanners can be
// taught to find leaked keys.
//
// Verification costs one cached primary-key lookup and one HMAC-SHA256 per
// configured system secret: API keys carry 256 random bits, so a slow hash
// would buy nothing and cost milliseconds on every token request.
package apikey
