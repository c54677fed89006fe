// An MCP client built on the official MCP TypeScript SDK, as editors and
// desktop assistants are, driven line by line by TestMCPTypeScriptClient
// (cmd/gatehouse/mcp_client_test.go). It connects to an MCP server that
// gatehouse protects, and the SDK does the rest: the 401, RFC 9728
// protected resource metadata, RFC 8414 authorization server metadata,
// then either a client ID metadata document (CLIENT_METADATA_URL set) or
// dynamic client registration, PKCE, the resource indicator, the code
// exchange — and then calls the server's tools.
//
//   environment: MCP_URL, REDIRECT_URI, CLIENT_METADATA_URL (optional),
//                SCOPED_TOOL (optional: a tool that needs more scope; the
//                server's 403 insufficient_scope makes the SDK ask the
//                person again, and the call is made again),
//                FOREIGN_TOKEN (optional: a token for another resource,
//                which the server must refuse)
//   stdout:      one JSON object per line: {"authorize": url}, then
//                {"result": {...}}, or {"error": message} on a failure
//   stdin:       one line: the callback URL the browser was sent to
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js'
import { createInterface } from 'node:readline'

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const rl = createInterface({ input: process.stdin })
const lines = rl[Symbol.asyncIterator]()

async function main() {
  const mcpURL = new URL(env('MCP_URL'))
  const redirectURI = env('REDIRECT_URI')
  const metadataURL = process.env.CLIENT_METADATA_URL || undefined
  let info, tokens, verifier, callback
  const provider = {
    get redirectUrl() { return redirectURI },
    clientMetadataUrl: metadataURL,
    get clientMetadata() {
      return {
        client_name: 'gatehouse interop MCP client', redirect_uris: [redirectURI],
        grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
        token_endpoint_auth_method: 'none',
      }
    },
    clientInformation: () => info,
    saveClientInformation: (i) => { info = i },
    tokens: () => tokens,
    saveTokens: (t) => { tokens = t },
    saveCodeVerifier: (v) => { verifier = v },
    codeVerifier: () => verifier,
    async redirectToAuthorization(url) {
      say({ authorize: url.href })
      const { value, done } = await lines.next()
      if (done) throw new Error('no callback URL on stdin')
      callback = new URL(value.trim())
    },
  }

  const client = new Client({ name: 'gatehouse-interop', version: '1.0.0' })
  let transport = new StreamableHTTPClientTransport(mcpURL, { authProvider: provider })
  try {
    await client.connect(transport)
    throw new Error('connected without signing in')
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e
  }
  const code = callback?.searchParams.get('code')
  if (!code) throw new Error(`no code in the callback ${callback}`)
  await transport.finishAuth(code)
  transport = new StreamableHTTPClientTransport(mcpURL, { authProvider: provider })
  await client.connect(transport)
  const who = await client.callTool({ name: 'whoami', arguments: {} })
  const sum = await client.callTool({ name: 'add', arguments: { a: 40, b: 2 } })
  let scoped
  const scopedTool = process.env.SCOPED_TOOL
  if (scopedTool) {
    try {
      scoped = await client.callTool({ name: scopedTool, arguments: {} })
    } catch (e) {
      if (!(e instanceof UnauthorizedError)) throw e
      const code = callback?.searchParams.get('code')
      if (!code) throw new Error(`no code in the step-up callback ${callback}`)
      await transport.finishAuth(code)
      scoped = await client.callTool({ name: scopedTool, arguments: {} })
    }
  }
  await client.close()
  let foreign = null
  if (process.env.FOREIGN_TOKEN) {
    // The SDK with a bearer token of its own and no way to sign in: the
    // server must refuse a token issued for another resource.
    const other = new Client({ name: 'gatehouse-interop-foreign', version: '1.0.0' })
    const t = new StreamableHTTPClientTransport(mcpURL, {
      requestInit: { headers: { Authorization: `Bearer ${process.env.FOREIGN_TOKEN}` } },
    })
    try {
      await other.connect(t)
      foreign = 'accepted'
      await other.close()
    } catch (e) {
      foreign = String(e?.code ?? e?.message ?? e)
    }
  }
  say({
    result: {
      client_id: info?.client_id ?? metadataURL, who: who.structuredContent, sum: sum.structuredContent,
      scoped: scoped?.structuredContent ?? null, foreign,
      scope: tokens?.scope ?? '', refresh_token: Boolean(tokens?.refresh_token),
    },
  })
}

main()
  .catch((e) => { say({ error: String(e?.stack ?? e) }); process.exitCode = 1 })
  .finally(() => rl.close()) // stdin would keep the process alive
