// A relying party built on openid-client v6 in its default configuration
// (private_key_jwt with the library's default assertion audience — the
// issuer —, PAR, PKCE without state or nonce), driven line by line by
// TestOpenIDClientLibrary (cmd/gatehouse/openid_client_test.go):
//
//   environment: ISSUER, CLIENT_ID, CLIENT_JWK (a private JWK with kid and
//                alg), REDIRECT_URI, POST_LOGOUT_REDIRECT_URI;
//                NODE_EXTRA_CA_CERTS trusts the test server's certificate
//   stdout:      one JSON object per line: {"authorize": url}, then
//                {"result": {...}}, or {"error": message} on a failure
//   stdin:       one line: the callback URL the browser was sent to
import * as client from 'openid-client'
import { createInterface } from 'node:readline'

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()

async function main() {
  const jwk = JSON.parse(env('CLIENT_JWK'))
  const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
  // Discovery (OpenID Connect Discovery 1.0 / RFC 8414), then every call
  // authenticates with private_key_jwt as the library does by default.
  const config = await client.discovery(new URL(env('ISSUER')), env('CLIENT_ID'), {},
    client.PrivateKeyJwt({ key, kid: jwk.kid }))

  const verifier = client.randomPKCECodeVerifier()
  const authorize = await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: env('REDIRECT_URI'),
    scope: 'openid email profile offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  })
  say({ authorize: authorize.href })

  const { value: callback, done } = await lines.next()
  if (done) throw new Error('no callback URL on stdin')
  // No expectedState and no expectedNonce: the library then checks that
  // the response carries no state and the ID token no nonce.
  const tokens = await client.authorizationCodeGrant(config, new URL(callback.trim()), { pkceCodeVerifier: verifier })
  const claims = tokens.claims()
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
  const userinfo = await client.fetchUserInfo(config, refreshed.access_token, claims.sub)
  const logout = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: env('POST_LOGOUT_REDIRECT_URI'),
  })
  say({
    result: {
      sub: claims.sub,
      iss: claims.iss,
      id_token_email: claims.email,
      refreshed_id_token: refreshed.id_token !== undefined,
      userinfo_sub: userinfo.sub,
      userinfo_email: userinfo.email,
      logout: logout.href,
    },
  })
}

main().then(() => process.exit(0), (err) => {
  // The library's errors carry the server's answer in cause / error.
  say({ error: `${err.name}: ${err.message}${err.error ? ` (${err.error}: ${err.error_description})` : ''}${err.cause ? ` cause: ${JSON.stringify(err.cause)}` : ''}` })
  process.exit(1)
})
