// Drives @nhost/hasura-auth-js (the xstate-based client behind @nhost/nhost-js 3.x and the React /
// Vue hooks) against the emulator. Usage: node hasura-auth-js.mjs <emulator base URL>
//
// The emulator must run with its defaults: anonymous users and magic links enabled, email
// verification required, client URL http://localhost:3000, `/_emulator` routes on.

import assert from 'node:assert/strict'
import {
  HasuraAuthClient,
  NHOST_JWT_EXPIRES_AT_KEY,
  NHOST_REFRESH_TOKEN_ID_KEY,
  NHOST_REFRESH_TOKEN_KEY
} from '@nhost/hasura-auth-js'
import {
  CLIENT_URL,
  UUID_RE,
  baseUrl,
  finish,
  followEmailLink,
  scenario,
  sorted,
  uniqueEmail
} from './harness.mjs'

const url = baseUrl()
const PASSWORD = 'correct-horse-battery'

/** The `custom` client storage the SDK documents: getItem / setItem / removeItem. */
function memoryStorage() {
  const map = new Map()
  return {
    map,
    getItem: (key) => map.get(key) ?? null,
    setItem: (key, value) => {
      map.set(key, value)
    },
    removeItem: (key) => {
      map.delete(key)
    }
  }
}

function newClient(storage = memoryStorage()) {
  const auth = new HasuraAuthClient({
    url,
    clientStorageType: 'custom',
    clientStorage: storage,
    autoRefreshToken: false,
    autoSignIn: false
  })
  return { auth, storage }
}

/** `refreshSession(token)` must fail the way the client reports a refused refresh token. */
async function assertRefreshRefused(auth, token) {
  const { session, error } = await auth.refreshSession(token)
  assert.equal(session, null, 'no session for a refused refresh token')
  assert.ok(error, 'an error for a refused refresh token')
  assert.equal(error.error, 'invalid-refresh-token')
  // That constant is the client's own; when signed out, the client also keeps what the server
  // said. A 401 is what makes its refresh timer sign out instead of retrying.
  if (!auth.isAuthenticated()) {
    const serverError = auth.client.interpreter.getSnapshot().context.errors.authentication
    assert.equal(serverError?.status, 401)
    assert.equal(serverError?.error, 'invalid-refresh-token')
  }
}

/** What every registered (non-anonymous) user looks like by default. */
function assertRegisteredUser(user, { id, email, displayName }) {
  if (id !== undefined) assert.equal(user.id, id, 'same user id')
  assert.equal(user.isAnonymous, false)
  assert.equal(user.email, email)
  assert.equal(user.emailVerified, true)
  assert.equal(user.defaultRole, 'user')
  assert.deepEqual(sorted(user.roles), ['me', 'user'])
  assert.equal(user.displayName, displayName ?? email)
}

/** The Hasura claims the client decodes from the access token. */
function assertRegisteredClaims(auth, userId) {
  assert.equal(auth.getHasuraClaim('user-id'), userId)
  assert.equal(auth.getHasuraClaim('user-is-anonymous'), 'false')
  assert.equal(auth.getHasuraClaim('default-role'), 'user')
  assert.deepEqual(sorted(auth.getHasuraClaim('allowed-roles')), ['me', 'user'])
}

await scenario('hasura-auth-js anonymous → email-password', async (check) => {
  const { auth, storage } = newClient()
  const email = uniqueEmail('hajs-deanon')
  let anonId
  let firstToken
  let rotatedToken

  await check('a new client with empty storage starts signed out', async () => {
    assert.equal(await auth.isAuthenticatedAsync(), false)
  })

  await check('signIn() without arguments signs in anonymously', async () => {
    const { session, error } = await auth.signIn()
    assert.equal(error, null)
    assert.ok(session, 'a session')
    const user = session.user
    assert.match(user.id, UUID_RE)
    assert.equal(user.isAnonymous, true)
    assert.equal(user.displayName, 'Anonymous User')
    assert.equal(user.defaultRole, 'anonymous')
    assert.deepEqual(user.roles, ['anonymous'])
    assert.equal(user.locale, 'en')
    assert.equal(user.email, undefined, 'no email (omitted when null)')
    assert.equal(user.emailVerified, false)
    assert.match(session.refreshToken, UUID_RE)
    assert.equal(auth.isAuthenticated(), true)
    assert.equal(auth.getUser()?.id, user.id)
    anonId = user.id
    firstToken = session.refreshToken
  })

  await check('the access token carries the anonymous Hasura claims', async () => {
    assert.equal(auth.getHasuraClaim('user-id'), anonId)
    assert.equal(auth.getHasuraClaim('user-is-anonymous'), 'true')
    assert.equal(auth.getHasuraClaim('default-role'), 'anonymous')
    assert.deepEqual(auth.getHasuraClaim('allowed-roles'), ['anonymous'])
    const decoded = auth.getDecodedAccessToken()
    assert.equal(decoded.sub, anonId)
    assert.equal(decoded.exp - decoded.iat, 900, 'a 15-minute access token')
  })

  await check('the client stored the refresh token, its id and the expiry', async () => {
    assert.equal(storage.getItem(NHOST_REFRESH_TOKEN_KEY), firstToken)
    assert.match(storage.getItem(NHOST_REFRESH_TOKEN_ID_KEY), UUID_RE)
    const expiresAt = Date.parse(storage.getItem(NHOST_JWT_EXPIRES_AT_KEY))
    assert.ok(Number.isFinite(expiresAt), 'an ISO date')
    const inSeconds = (expiresAt - Date.now()) / 1000
    assert.ok(inSeconds > 800 && inSeconds <= 900, `expires in ~900 s, got ${inSeconds}`)
  })

  await check('refreshSession() rotates the refresh token and keeps the user', async () => {
    const tokenIdBefore = storage.getItem(NHOST_REFRESH_TOKEN_ID_KEY)
    const { session, error } = await auth.refreshSession()
    assert.equal(error, null)
    assert.ok(session, 'a session')
    assert.match(session.refreshToken, UUID_RE)
    assert.notEqual(session.refreshToken, firstToken, 'a new refresh token')
    assert.equal(session.user.id, anonId)
    assert.equal(session.user.isAnonymous, true)
    assert.equal(storage.getItem(NHOST_REFRESH_TOKEN_KEY), session.refreshToken)
    assert.equal(
      storage.getItem(NHOST_REFRESH_TOKEN_ID_KEY),
      tokenIdBefore,
      'rotation keeps the refresh token id'
    )
    assert.equal(auth.isAuthenticated(), true)
    rotatedToken = session.refreshToken
  })

  await check('the rotated-out refresh token is refused; the session survives', async () => {
    await assertRefreshRefused(auth, firstToken)
    assert.equal(auth.isAuthenticated(), true)
    assert.equal(auth.getUser()?.id, anonId)
  })

  await check('deanonymize({ signInMethod: "email-password" }) succeeds', async () => {
    const { error } = await auth.deanonymize({
      signInMethod: 'email-password',
      email,
      password: PASSWORD,
      options: { displayName: 'JS Deanon', metadata: { source: 'hasura-auth-js' } }
    })
    assert.equal(error, null)
    // Verification is required: the server hands out no session and the client signs out.
    assert.equal(auth.isAuthenticated(), false)
    assert.equal(storage.getItem(NHOST_REFRESH_TOKEN_KEY), null)
  })

  await check('the anonymous refresh token was revoked by the upgrade', async () => {
    await assertRefreshRefused(auth, rotatedToken)
  })

  await check('signing in before verifying the email reports unverified-user', async () => {
    const { session, error } = await auth.signIn({ email, password: PASSWORD })
    assert.equal(session, null)
    assert.ok(error, 'an error')
    assert.equal(error.error, 'unverified-user')
    assert.equal(auth.isAuthenticated(), false)
  })

  let linkToken
  await check('the verification email links to /verify, which redirects with a refresh token', async () => {
    linkToken = await followEmailLink(url, email, 'emailVerify')
  })

  await check('the link refresh token signs the client in as the same, verified user', async () => {
    const { session, error } = await auth.refreshSession(linkToken)
    assert.equal(error, null)
    assert.ok(session, 'a session')
    assertRegisteredUser(session.user, { id: anonId, email, displayName: 'JS Deanon' })
    assert.deepEqual(session.user.metadata, { source: 'hasura-auth-js' })
    assertRegisteredClaims(auth, anonId)
    assert.equal(auth.isAuthenticated(), true)
  })

  await check('signOut() signs out and revokes the refresh token', async () => {
    const token = storage.getItem(NHOST_REFRESH_TOKEN_KEY)
    assert.match(token, UUID_RE)
    const { error } = await auth.signOut()
    assert.equal(error, null)
    assert.equal(auth.isAuthenticated(), false)
    assert.equal(storage.getItem(NHOST_REFRESH_TOKEN_KEY), null)
    await assertRefreshRefused(auth, token)
  })

  await check('signIn({ email, password }) works after verification', async () => {
    const { session, error } = await auth.signIn({ email, password: PASSWORD })
    assert.equal(error, null)
    assert.ok(session, 'a session')
    assertRegisteredUser(session.user, { id: anonId, email, displayName: 'JS Deanon' })
    assertRegisteredClaims(auth, anonId)
    assert.equal(storage.getItem(NHOST_REFRESH_TOKEN_KEY), session.refreshToken)
  })

  await check('a wrong password is refused: 401 invalid-email-password', async () => {
    assert.equal((await auth.signOut()).error, null)
    const { session, error } = await auth.signIn({ email, password: 'wrong-password' })
    assert.equal(session, null)
    assert.ok(error, 'an error')
    assert.equal(error.status, 401)
    assert.equal(error.error, 'invalid-email-password')
    assert.equal(typeof error.message, 'string')
    assert.equal(auth.isAuthenticated(), false)
  })

  await check('an unknown email is refused the same way', async () => {
    const { session, error } = await auth.signIn({
      email: uniqueEmail('hajs-nobody'),
      password: PASSWORD
    })
    assert.equal(session, null)
    assert.equal(error?.status, 401)
    assert.equal(error?.error, 'invalid-email-password')
  })
})

await scenario('hasura-auth-js anonymous → magic link', async (check) => {
  const { auth, storage } = newClient()
  const email = uniqueEmail('hajs-magic-deanon')
  let anonId
  let anonToken

  await check('signIn() signs in anonymously', async () => {
    const { session, error } = await auth.signIn()
    assert.equal(error, null)
    assert.equal(session?.user.isAnonymous, true)
    anonId = session.user.id
    anonToken = session.refreshToken
  })

  await check('deanonymize({ signInMethod: "passwordless", connection: "email" }) succeeds', async () => {
    const { error } = await auth.deanonymize({
      signInMethod: 'passwordless',
      connection: 'email',
      email
    })
    assert.equal(error, null)
    assert.equal(auth.isAuthenticated(), false)
    assert.equal(storage.getItem(NHOST_REFRESH_TOKEN_KEY), null)
  })

  await check('the anonymous refresh token was revoked by the upgrade', async () => {
    await assertRefreshRefused(auth, anonToken)
  })

  let linkToken
  await check('the magic link redirects to the client URL with a refresh token', async () => {
    linkToken = await followEmailLink(url, email, 'signinPasswordless')
  })

  await check('the magic-link refresh token signs in the same user, now registered', async () => {
    const { session, error } = await auth.refreshSession(linkToken)
    assert.equal(error, null)
    assert.ok(session, 'a session')
    assertRegisteredUser(session.user, { id: anonId, email })
    assertRegisteredClaims(auth, anonId)
  })

  await check('signOut() works', async () => {
    assert.equal((await auth.signOut()).error, null)
    assert.equal(auth.isAuthenticated(), false)
  })
})

await scenario('hasura-auth-js sign-up email-password → magic link', async (check) => {
  const { auth, storage } = newClient()
  const email = uniqueEmail('hajs-signup')
  const redirectTo = `${CLIENT_URL}/welcome`
  let userId

  await check('signUp({ email, password }) succeeds without a session (verification required)', async () => {
    const { session, error } = await auth.signUp({
      email,
      password: PASSWORD,
      options: { displayName: 'JS Signup', redirectTo }
    })
    assert.equal(error, null)
    assert.equal(session, null)
    assert.equal(auth.isAuthenticated(), false)
  })

  await check('signing up again with the same email: 409 email-already-in-use', async () => {
    const { session, error } = await auth.signUp({ email, password: PASSWORD })
    assert.equal(session, null)
    assert.equal(error?.status, 409)
    assert.equal(error?.error, 'email-already-in-use')
  })

  await check('signing in before verifying the email reports unverified-user', async () => {
    const { session, error } = await auth.signIn({ email, password: PASSWORD })
    assert.equal(session, null)
    assert.equal(error?.error, 'unverified-user')
  })

  let linkToken
  await check('the verification link honours options.redirectTo', async () => {
    linkToken = await followEmailLink(url, email, 'emailVerify', redirectTo)
  })

  await check('the link refresh token signs in the new, verified user', async () => {
    const { session, error } = await auth.refreshSession(linkToken)
    assert.equal(error, null)
    assert.ok(session, 'a session')
    assertRegisteredUser(session.user, { email, displayName: 'JS Signup' })
    userId = session.user.id
    assertRegisteredClaims(auth, userId)
  })

  await check('signOut() then signIn({ email, password }) works', async () => {
    assert.equal((await auth.signOut()).error, null)
    const { session, error } = await auth.signIn({ email, password: PASSWORD })
    assert.equal(error, null)
    assertRegisteredUser(session.user, { id: userId, email, displayName: 'JS Signup' })
  })

  await check('signOut({ all: true }) revokes the sessions of other devices', async () => {
    const other = newClient()
    const { session, error } = await other.auth.signIn({ email, password: PASSWORD })
    assert.equal(error, null)
    assert.equal(session?.user.id, userId)
    assert.equal((await auth.signOut({ all: true })).error, null)
    assert.equal(auth.isAuthenticated(), false)
    // The other device still holds its (now revoked) refresh token.
    const refreshed = await other.auth.refreshSession()
    assert.equal(refreshed.session, null)
    assert.equal(refreshed.error?.error, 'invalid-refresh-token')
  })

  await check('signIn({ email }) sends a magic link to an existing user', async () => {
    const { session, error } = await auth.signIn({ email })
    assert.equal(error, null)
    assert.equal(session, null)
    assert.equal(auth.isAuthenticated(), false)
  })

  await check('the magic link signs in the existing user', async () => {
    const token = await followEmailLink(url, email, 'signinPasswordless')
    const { session, error } = await auth.refreshSession(token)
    assert.equal(error, null)
    assertRegisteredUser(session.user, { id: userId, email, displayName: 'JS Signup' })
    assert.equal(storage.getItem(NHOST_REFRESH_TOKEN_KEY), session.refreshToken)
  })

  await check('signIn({ email }) for a new address creates the user on first use of the link', async () => {
    assert.equal((await auth.signOut()).error, null)
    const fresh = uniqueEmail('hajs-magic-new')
    const { error } = await auth.signIn({ email: fresh, options: { displayName: 'JS Magic' } })
    assert.equal(error, null)
    const token = await followEmailLink(url, fresh, 'signinPasswordless')
    const result = await auth.refreshSession(token)
    assert.equal(result.error, null)
    assertRegisteredUser(result.session.user, { email: fresh, displayName: 'JS Magic' })
    assert.notEqual(result.session.user.id, userId)
  })
})

await scenario('hasura-auth-js deanonymize errors', async (check) => {
  const { auth } = newClient()
  const taken = uniqueEmail('hajs-taken')

  await check('an email registered by someone else is taken', async () => {
    const signup = newClient()
    const { error } = await signup.auth.signUp({ email: taken, password: PASSWORD })
    assert.equal(error, null)
  })

  await check('deanonymize to a taken email: 409 email-already-in-use, still anonymous', async () => {
    const signin = await auth.signIn()
    assert.equal(signin.error, null)
    const anonId = signin.session.user.id
    const { error } = await auth.deanonymize({
      signInMethod: 'email-password',
      email: taken,
      password: PASSWORD
    })
    assert.equal(error?.status, 409)
    assert.equal(error?.error, 'email-already-in-use')
    assert.equal(auth.isAuthenticated(), true)
    assert.equal(auth.getUser()?.id, anonId)
    assert.equal(auth.getHasuraClaim('user-is-anonymous'), 'true')
  })

  await check('the anonymous session still refreshes after the refused upgrade', async () => {
    const { session, error } = await auth.refreshSession()
    assert.equal(error, null)
    assert.equal(session?.user.isAnonymous, true)
  })
})

finish()
