// The REAL OpenID provider for the gateway's interop tests: npm `oidc-provider` (OpenID
// certified), configured for one confidential client (the gateway) on 127.0.0.1.
//
// Why: the gateway's SSO code must be proven against a provider it was not written alongside.
// This one enforces PKCE, checks redirect URIs exactly, rotates refresh tokens and sends
// real OIDC Back-Channel Logout tokens, so interop bugs show up here and not in production.
//
// Configuration: environment variables, overridden field by field by an optional JSON
// argument (`node server.mjs '{"port":0,"client":{...}}'`). See `defaults()` below for every
// key. Port 0 picks a free port; the issuer is then `http://127.0.0.1:<port>`.
//
// Once listening it prints exactly one line to stdout:
//   READY {"issuer":"http://127.0.0.1:41234","port":41234}
// and logs events (logins, back-channel logout results, errors) to stderr.
//
// TESTS ONLY: listens on loopback only, accepts any password, and disables the provider's
// SSRF guard so back-channel logout can reach a gateway on 127.0.0.1.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import { Provider, errors } from 'oidc-provider';

const LOOPBACK = '127.0.0.1';

/// Splits a list given as "a b" or "a,b" (environment variables).
function list(value) {
  if (value === undefined || value === '') return [];
  return value.split(/[\s,]+/).filter((s) => s !== '');
}

/// Reads an integer number of seconds, or the fallback.
function seconds(value, fallback) {
  if (value === undefined || value === '') return fallback;
  const n = Number.parseInt(value, 10);
  if (!Number.isFinite(n) || n <= 0) {
    throw new Error(`expected a positive number of seconds, got ${JSON.stringify(value)}`);
  }
  return n;
}

/// The default test accounts. The login form takes the `sub` as login (the provider uses the
/// login as account id, and the account id as `sub`); the password is ignored.
const DEFAULT_ACCOUNTS = [
  {
    sub: 'amina', name: 'Amina El Idrissi', given_name: 'Amina',
    family_name: 'El Idrissi', email: 'amina.elidrissi@example.test', profile: 'citizen',
  },
  {
    sub: 'youssef', name: 'Youssef Benjelloun', given_name: 'Youssef',
    family_name: 'Benjelloun', email: 'youssef.benjelloun@example.test', profile: 'citizen',
  },
  {
    sub: 'fatima', name: 'Fatima Zahra Alaoui', given_name: 'Fatima Zahra',
    family_name: 'Alaoui', email: 'maitre.alaoui@example.test', profile: 'professional',
  },
];

/// Everything configurable, from the environment.
function defaults(env) {
  return {
    port: Number.parseInt(env.OIDC_PORT ?? '0', 10),
    // Empty: derived from the bound port.
    issuer: env.OIDC_ISSUER ?? '',
    client: {
      client_id: env.OIDC_CLIENT_ID ?? 'gw',
      client_secret: env.OIDC_CLIENT_SECRET ?? 'gw-test-secret-0123456789abcdef',
      redirect_uris: list(env.OIDC_REDIRECT_URIS ?? 'http://127.0.0.1:8080/auth/callback'),
      post_logout_redirect_uris: list(env.OIDC_POST_LOGOUT_REDIRECT_URIS ?? 'http://127.0.0.1:8080/'),
      backchannel_logout_uri: env.OIDC_BACKCHANNEL_LOGOUT_URI || undefined,
    },
    ttl: {
      access_token: seconds(env.OIDC_ACCESS_TOKEN_TTL, 600),
      id_token: seconds(env.OIDC_ID_TOKEN_TTL, 600),
      refresh_token: seconds(env.OIDC_REFRESH_TOKEN_TTL, 24 * 3600),
      session: seconds(env.OIDC_SESSION_TTL, 24 * 3600),
    },
    rotate_refresh_token: (env.OIDC_ROTATE_REFRESH_TOKEN ?? 'true') !== 'false',
    accounts: DEFAULT_ACCOUNTS,
    // Machine clients (OAuth2 client credentials), e.g. one per ministry calling the
    // gateway's admin API: [{ client_id, client_secret, ministry }]. Their access tokens are
    // JWTs (RFC 9068) for `api_audience`, carrying the client's `ministry` claim.
    machine_clients: [],
    api_audience: env.OIDC_API_AUDIENCE ?? 'https://admin.egov.test',
  };
}

/// Environment defaults, overridden by the JSON argument (one level deep for objects).
function configuration(argv, env) {
  const config = defaults(env);
  if (argv.length > 0) {
    const given = JSON.parse(argv[0]);
    for (const [key, value] of Object.entries(given)) {
      if (value !== null && typeof value === 'object' && !Array.isArray(value)
        && typeof config[key] === 'object' && !Array.isArray(config[key])) {
        config[key] = { ...config[key], ...value };
      } else {
        config[key] = value;
      }
    }
  }
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) {
    throw new Error(`port must be 0-65535, got ${JSON.stringify(config.port)}`);
  }
  if (config.client.redirect_uris.length === 0) {
    throw new Error('the client needs at least one redirect_uri');
  }
  return config;
}

/// A fresh RSA signing key for this run (RS256 is the ID token default), as a private JWK.
function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: `test-${randomBytes(4).toString('hex')}`, use: 'sig', alg: 'RS256' };
}

/// The page asking whether to sign out: the provider's form plus the two buttons, no
/// external fonts (tests and headless browsers run offline).
async function logoutSource(ctx, form) {
  ctx.body = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Logout Request</title></head>
<body><main><h1>Sign out from ${ctx.host}?</h1>
${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>
</main></body></html>`;
}

/// Shown after a logout without a post_logout_redirect_uri.
async function postLogoutSuccessSource(ctx) {
  ctx.body = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head>
<body><main><h1>Signed out</h1></main></body></html>`;
}

function providerConfiguration(config) {
  const accounts = new Map(config.accounts.map((a) => [a.sub, a]));
  const client = {
    client_id: config.client.client_id,
    client_secret: config.client.client_secret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: config.client.redirect_uris,
    post_logout_redirect_uris: config.client.post_logout_redirect_uris,
  };
  if (config.client.backchannel_logout_uri) {
    client.backchannel_logout_uri = config.client.backchannel_logout_uri;
    client.backchannel_logout_session_required = true;
  }
  const machines = new Map(config.machine_clients.map((m) => [m.client_id, m]));
  const machineClients = config.machine_clients.map((m) => ({
    client_id: m.client_id,
    client_secret: m.client_secret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  }));
  return {
    clients: [client, ...machineClients],
    // A ministry's machine client asks for a token for the admin API (its resource).
    async extraTokenClaims(_ctx, token) {
      const machine = machines.get(token.clientId);
      return token.kind === 'ClientCredentials' && machine ? { ministry: machine.ministry } : undefined;
    },
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    // By default refresh tokens come only with `offline_access`; the gateway always wants one.
    issueRefreshToken: async (_ctx, c) => c.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: config.rotate_refresh_token,
    // Put the scope's claims in the ID token too, not only at userinfo.
    conformIdTokenClaims: false,
    claims: {
      openid: ['sub', 'profile'],
      profile: ['name', 'given_name', 'family_name'],
      email: ['email', 'email_verified'],
    },
    features: {
      devInteractions: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      revocation: { enabled: true },
      introspection: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => config.api_audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== config.api_audience) throw new errors.InvalidTarget();
          return {
            scope: 'services',
            audience: config.api_audience,
            accessTokenTTL: config.ttl.access_token,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    ttl: {
      AccessToken: config.ttl.access_token,
      IdToken: config.ttl.id_token,
      RefreshToken: config.ttl.refresh_token,
      Session: config.ttl.session,
      Grant: config.ttl.session,
      Interaction: 600,
      AuthorizationCode: 60,
    },
    async findAccount(_ctx, id) {
      const account = accounts.get(id);
      if (account === undefined) return undefined;
      return {
        accountId: id,
        async claims() {
          return {
            sub: account.sub,
            name: account.name,
            given_name: account.given_name,
            family_name: account.family_name,
            email: account.email,
            email_verified: true,
            profile: account.profile,
          };
        },
      };
    },
    // Loopback trap: the provider's SSRF guard (a dispatcher refusing 127.0.0.0/8) would make
    // every back-channel logout to a gateway on 127.0.0.1 fail with "fetch failed".
    fetch: (url, options) => {
      // eslint-disable-next-line no-param-reassign
      delete options.dispatcher;
      return globalThis.fetch(url, options);
    },
  };
}

function logEvents(provider) {
  const log = (...parts) => process.stderr.write(`oidc-provider: ${parts.join(' ')}\n`);
  provider.on('server_error', (_ctx, err) => log('server_error', err?.stack ?? err));
  provider.on('authorization.error', (_ctx, err) => log('authorization.error', err?.message, err?.error_description ?? ''));
  provider.on('grant.error', (_ctx, err) => log('grant.error', err?.message, err?.error_description ?? ''));
  provider.on('backchannel.success', (_ctx, client, accountId, sid) => log('backchannel.success', client.clientId, accountId, sid));
  provider.on('backchannel.error', (_ctx, err, client, accountId, sid) => log('backchannel.error', client.clientId, accountId, sid, err?.message, err?.cause?.message ?? ''));
  provider.on('end_session.success', () => log('end_session.success'));
}

async function main() {
  const config = configuration(process.argv.slice(2), process.env);
  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, LOOPBACK, resolve);
  });
  const { port } = server.address();
  const issuer = config.issuer || `http://${LOOPBACK}:${port}`;
  const provider = new Provider(issuer, providerConfiguration(config));
  logEvents(provider);
  server.on('request', provider.callback());
  process.stdout.write(`READY ${JSON.stringify({ issuer, port })}\n`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`oidc-provider: cannot start: ${err?.stack ?? err}\n`);
  process.exit(1);
});
