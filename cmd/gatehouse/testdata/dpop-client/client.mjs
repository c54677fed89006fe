// A public client (as a single-page app is) built on oauth4webapi, the
// maintained low-level OAuth library for JavaScript, that asks gatehouse
// for DPoP-bound tokens (RFC 9449) and uses them — driven line by line by
// TestDPoPOAuth4WebAPI (cmd/gatehouse/dpop_client_test.go). Every request
// that may meet a server nonce retries once with it, as the library's
// documentation shows (isDPoPNonceError; the DPoP handle keeps the nonce).
//
//   environment: ISSUER, CLIENT_ID, REDIRECT_URI, RESOURCE_URL (an API
//                behind gatehouse's resource-server package that accepts
//                DPoP-bound tokens); NODE_EXTRA_CA_CERTS trusts the test
//                servers' certificate
//   stdout:      one JSON object per line: {"authorize": url}, then
//                {"result": {...}}, or {"error": message} on a failure
//   stdin:       one line: the callback URL the browser was sent to
import * as oauth from 'oauth4webapi'
import { createInterface } from 'node:readline'

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()

// withNonceRetry runs request and, when the server asks for a DPoP nonce
// (use_dpop_nonce), runs it once more: the handle has kept the nonce.
let nonceRetries = 0
async function withNonceRetry(request, process) {
  try {
    return await process(await request())
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    nonceRetries++
    return await process(await request())
  }
}

async function main() {
  const issuer = new URL(env('ISSUER'))
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc' }))
  if (!as.dpop_signing_alg_values_supported?.includes('ES256')) {
    throw new Error(`discovery does not offer ES256 DPoP proofs: ${as.dpop_signing_alg_values_supported}`)
  }
  const client = { client_id: env('CLIENT_ID') }
  const auth = oauth.None()
  const redirectURI = env('REDIRECT_URI')
  const keyPair = await oauth.generateKeyPair('ES256')
  const DPoP = oauth.DPoP(client, keyPair)

  // PAR with a DPoP proof binds the authorization code to the key (RFC
  // 9449 §10.1).
  const verifier = oauth.generateRandomCodeVerifier()
  const params = new URLSearchParams({
    redirect_uri: redirectURI, scope: 'openid email offline_access', response_type: 'code',
    resource: env('RESOURCE_URL'),
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  })
  const par = await withNonceRetry(
    () => oauth.pushedAuthorizationRequest(as, client, auth, params, { DPoP }),
    (r) => oauth.processPushedAuthorizationResponse(as, client, r))
  const authorize = new URL(as.authorization_endpoint)
  authorize.searchParams.set('client_id', client.client_id)
  authorize.searchParams.set('request_uri', par.request_uri)
  say({ authorize: authorize.href })

  const { value: callback, done } = await lines.next()
  if (done) throw new Error('no callback URL on stdin')
  const callbackParams = oauth.validateAuthResponse(as, client, new URL(callback.trim()), oauth.expectNoState)
  const tokens = await withNonceRetry(
    () => oauth.authorizationCodeGrantRequest(as, client, auth, callbackParams, redirectURI, verifier, { DPoP }),
    (r) => oauth.processAuthorizationCodeResponse(as, client, r))
  const sub = oauth.getValidatedIdTokenClaims(tokens).sub

  // The refresh token of a public client is bound to the key too.
  const refreshed = await withNonceRetry(
    () => oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token, { DPoP }),
    (r) => oauth.processRefreshTokenResponse(as, client, r))

  const userinfo = await withNonceRetry(
    () => oauth.userInfoRequest(as, client, refreshed.access_token, { DPoP }),
    (r) => oauth.processUserInfoResponse(as, client, sub, r))

  const resourceURL = new URL(env('RESOURCE_URL'))
  const resource = await withNonceRetry(
    () => oauth.protectedResourceRequest(refreshed.access_token, 'GET', resourceURL, new Headers(), null, { DPoP }),
    async (r) => {
      // protectedResourceRequest throws use_dpop_nonce itself; anything
      // else is for us to read.
      if (r.status !== 200) throw new Error(`the resource answered ${r.status}: ${r.headers.get('www-authenticate')}`)
      return r.json()
    })

  // The same token as a bearer token: a stolen DPoP-bound token is
  // useless without the key (RFC 9449 §7.2).
  const asBearer = await fetch(resourceURL, { headers: { Authorization: `Bearer ${refreshed.access_token}` } })
  // And the refresh token with another key (RFC 9449 §5).
  const otherDPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
  let otherKeyRefresh = 'accepted'
  try {
    await withNonceRetry(
      () => oauth.refreshTokenGrantRequest(as, client, auth, refreshed.refresh_token, { DPoP: otherDPoP }),
      (r) => oauth.processRefreshTokenResponse(as, client, r))
  } catch (err) {
    otherKeyRefresh = err.error || err.cause?.error || err.message
  }

  say({
    result: {
      sub,
      token_type: tokens.token_type,
      refreshed_token_type: refreshed.token_type,
      userinfo_sub: userinfo.sub,
      userinfo_email: userinfo.email,
      resource,
      bearer_status: asBearer.status,
      bearer_challenge: asBearer.headers.get('www-authenticate'),
      other_key_refresh: otherKeyRefresh,
      nonce_retries: nonceRetries,
    },
  })
}

main().catch((err) => {
  say({ error: `${err?.name}: ${err?.message}${err?.error ? ` (${err.error}: ${err.error_description})` : ''}${err?.cause ? ` cause: ${JSON.stringify(err.cause)}` : ''}` })
  process.exitCode = 1
})
