// Drives @nhost/nhost-js 4 (the fetch-based SDK: generated API client + session middleware)
// against the emulator. Usage: node nhost-js.mjs <emulator base URL>
//
// The emulator must run with its defaults: anonymous users and magic links enabled, email
// verification required, client URL http://localhost:3000, `/_emulator` routes on.

import assert from 'node:assert/strict'
import { createClient, createServerClient } from '@nhost/nhost-js'
import { FetchError } from '@nhost/nhost-js/fetch'
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
const NS = 'https://hasura.io/jwt/claims'

/** A `SessionStorageBackend` (get / set / remove) kept in memory. */
function memoryStorage() {
  let value = null
  return {
    get: () => value,
    set: (v) => {
      value = v
    },
    remove: () => {
      value = null
    }
  }
}

/** The browser-style client: refresh, token and session middleware. */
const newClient = () => createClient({ authUrl: url, storage: memoryStorage() })
/** The server-side client: token and session middleware, no automatic refresh. */
const newServerClient = () => createServerClient({ authUrl: url, storage: memoryStorage() })

/**
 * The call must reject with the SDK's `FetchError` carrying the HTTP status and the server's
 * error id. Handler errors also carry `status` and `message` in the body; validation errors
 * (`{"error", "reason"}`) do not.
 */
async function expectFetchError(promise, status, errorId) {
  let caught
  await assert.rejects(promise, (err) => {
    caught = err
    return true
  })
  assert.ok(caught instanceof FetchError, `a FetchError, got ${caught?.stack ?? caught}`)
  const got = `got HTTP ${caught.status} ${JSON.stringify(caught.body)}`
  assert.equal(caught.status, status, `expected HTTP ${status}, ${got}`)
  assert.equal(caught.body?.error, errorId, `expected error id ${errorId}, ${got}`)
  if (caught.body?.status !== undefined) {
    assert.equal(caught.body.status, status, 'body.status equals the HTTP status')
  }
  assert.equal(typeof caught.message, 'string')
  return caught
}

function assertAnonymousSession(session) {
  assert.match(session.accessToken, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a JWT')
  assert.equal(session.accessTokenExpiresIn, 900)
  assert.match(session.refreshToken, UUID_RE)
  assert.match(session.refreshTokenId, UUID_RE)
  const user = session.user
  assert.match(user.id, UUID_RE)
  assert.equal(user.isAnonymous, true)
  assert.equal(user.displayName, 'Anonymous User')
  assert.equal(user.defaultRole, 'anonymous')
  assert.deepEqual(user.roles, ['anonymous'])
  assert.equal(user.locale, 'en')
  assert.equal(user.email, undefined, 'no email (omitted when null)')
  assert.equal(user.emailVerified, false)
  assert.ok(!Number.isNaN(Date.parse(user.createdAt)), 'createdAt is a date')
}

/** A `User` of a registered user with the server's default roles. */
function assertRegisteredUser(user, { id, email, displayName }) {
  if (id !== undefined) assert.equal(user.id, id, 'same user id')
  assert.equal(user.isAnonymous, false)
  assert.equal(user.email, email)
  assert.equal(user.emailVerified, true)
  assert.equal(user.defaultRole, 'user')
  assert.deepEqual(sorted(user.roles), ['me', 'user'])
  assert.equal(user.displayName, displayName ?? email)
  assert.equal(user.locale, 'en')
  assert.equal(typeof user.avatarUrl, 'string')
  assert.equal(user.phoneNumberVerified, false)
  assert.ok(!Number.isNaN(Date.parse(user.createdAt)), 'createdAt is a date')
}

/** The claims the SDK decoded into the stored session. */
function assertStoredClaims(nhost, { userId, anonymous }) {
  const stored = nhost.getUserSession()
  assert.ok(stored, 'a session in storage')
  const claims = stored.decodedToken?.[NS]
  assert.ok(claims, 'decoded Hasura claims')
  assert.equal(claims['x-hasura-user-id'], userId)
  assert.equal(claims['x-hasura-user-is-anonymous'], anonymous ? 'true' : 'false')
  assert.equal(claims['x-hasura-default-role'], anonymous ? 'anonymous' : 'user')
  assert.deepEqual(
    sorted(claims['x-hasura-allowed-roles']),
    anonymous ? ['anonymous'] : ['me', 'user']
  )
  assert.equal(stored.decodedToken.sub, userId)
  assert.equal(stored.decodedToken.exp - stored.decodedToken.iat, 900_000, '15 minutes, in ms')
}

await scenario('nhost-js createClient anonymous → email-password', async (check) => {
  const nhost = newClient()
  const email = uniqueEmail('njs-deanon')
  let anonId
  let firstToken
  let tokenId

  await check('auth.signInAnonymous() returns an anonymous session', async () => {
    const res = await nhost.auth.signInAnonymous()
    assert.equal(res.status, 200)
    assert.ok(res.body.session, 'body.session')
    assert.deepEqual(Object.keys(res.body), ['session'], 'no mfa key')
    assertAnonymousSession(res.body.session)
    anonId = res.body.session.user.id
    firstToken = res.body.session.refreshToken
    tokenId = res.body.session.refreshTokenId
  })

  await check('the session middleware stored it, with decoded anonymous claims', async () => {
    assert.equal(nhost.getUserSession()?.refreshToken, firstToken)
    assertStoredClaims(nhost, { userId: anonId, anonymous: true })
  })

  await check('auth.getUser() as an anonymous user: 403 forbidden-anonymous', async () => {
    await expectFetchError(nhost.auth.getUser(), 403, 'forbidden-anonymous')
  })

  let rotated
  await check('nhost.refreshSession(0) rotates the refresh token and keeps the user', async () => {
    const session = await nhost.refreshSession(0)
    assert.ok(session, 'a session')
    assert.match(session.refreshToken, UUID_RE)
    assert.notEqual(session.refreshToken, firstToken, 'a new refresh token')
    assert.equal(session.refreshTokenId, tokenId, 'rotation keeps the refresh token id')
    assert.equal(session.user.id, anonId)
    assert.equal(nhost.getUserSession()?.refreshToken, session.refreshToken)
    rotated = session.refreshToken
  })

  await check('auth.refreshToken() with the rotated-out token: 401 invalid-refresh-token', async () => {
    await expectFetchError(
      nhost.auth.refreshToken({ refreshToken: firstToken }),
      401,
      'invalid-refresh-token'
    )
    assert.equal(nhost.getUserSession()?.refreshToken, rotated, 'the stored session is untouched')
  })

  await check('auth.deanonymizeUser({ signInMethod: "email-password" }) answers "OK"', async () => {
    const res = await nhost.auth.deanonymizeUser({
      signInMethod: 'email-password',
      email,
      password: PASSWORD
    })
    assert.equal(res.status, 200)
    assert.equal(res.body, 'OK')
  })

  await check('the upgrade revoked the anonymous refresh token', async () => {
    await expectFetchError(
      nhost.auth.refreshToken({ refreshToken: rotated }),
      401,
      'invalid-refresh-token'
    )
  })

  await check('signing in before verifying the email: 401 unverified-user', async () => {
    await expectFetchError(
      nhost.auth.signInEmailPassword({ email, password: PASSWORD }),
      401,
      'unverified-user'
    )
  })

  let linkSession
  await check('the verification link gives a refresh token that auth.refreshToken() accepts', async () => {
    const token = await followEmailLink(url, email, 'emailVerify')
    const res = await nhost.auth.refreshToken({ refreshToken: token })
    assert.equal(res.status, 200)
    linkSession = res.body
    assert.notEqual(linkSession.refreshToken, token, 'rotated on use')
    assertRegisteredUser(linkSession.user, { id: anonId, email })
    assert.equal(nhost.getUserSession()?.refreshToken, linkSession.refreshToken, 'stored')
    assertStoredClaims(nhost, { userId: anonId, anonymous: false })
  })

  await check('auth.getUser() returns the registered user', async () => {
    const res = await nhost.auth.getUser()
    assert.equal(res.status, 200)
    assertRegisteredUser(res.body, { id: anonId, email })
  })

  await check('auth.signOut({ refreshToken }) answers "OK", clears the session, revokes the token', async () => {
    const res = await nhost.auth.signOut({ refreshToken: linkSession.refreshToken })
    assert.equal(res.status, 200)
    assert.equal(res.body, 'OK')
    assert.equal(nhost.getUserSession(), null)
    await expectFetchError(
      nhost.auth.refreshToken({ refreshToken: linkSession.refreshToken }),
      401,
      'invalid-refresh-token'
    )
  })

  await check('auth.getUser() without a session: 401 unauthorized', async () => {
    await expectFetchError(nhost.auth.getUser(), 401, 'unauthorized')
  })

  await check('auth.signInEmailPassword() after verification; getUser() agrees', async () => {
    const res = await nhost.auth.signInEmailPassword({ email, password: PASSWORD })
    assert.equal(res.status, 200)
    assertRegisteredUser(res.body.session.user, { id: anonId, email })
    assert.equal(nhost.getUserSession()?.refreshToken, res.body.session.refreshToken)
    const user = await nhost.auth.getUser()
    assert.equal(user.body.id, anonId)
  })

  await check('a wrong password: 401 invalid-email-password', async () => {
    const err = await expectFetchError(
      nhost.auth.signInEmailPassword({ email, password: 'wrong-password' }),
      401,
      'invalid-email-password'
    )
    assert.equal(err.body.status, 401)
    assert.equal(err.message, err.body.message, 'the SDK surfaces the server message')
  })
})

await scenario('nhost-js createServerClient sign-up → magic link', async (check) => {
  const nhost = newServerClient()
  const email = uniqueEmail('njs-signup')
  const redirectTo = `${CLIENT_URL}/after-verify`
  let userId

  await check('auth.signUpEmailPassword() answers without a session (verification required)', async () => {
    const res = await nhost.auth.signUpEmailPassword({
      email,
      password: PASSWORD,
      options: { displayName: 'Nhost JS', redirectTo, metadata: { sdk: 'nhost-js' } }
    })
    assert.equal(res.status, 200)
    assert.equal(res.body.session ?? null, null)
    assert.equal(nhost.getUserSession(), null)
  })

  await check('signing up again: 409 email-already-in-use', async () => {
    await expectFetchError(
      nhost.auth.signUpEmailPassword({ email, password: PASSWORD }),
      409,
      'email-already-in-use'
    )
  })

  await check('signing in before verifying the email: 401 unverified-user', async () => {
    await expectFetchError(
      nhost.auth.signInEmailPassword({ email, password: PASSWORD }),
      401,
      'unverified-user'
    )
  })

  await check('the verification link honours options.redirectTo and signs the user in', async () => {
    const token = await followEmailLink(url, email, 'emailVerify', redirectTo)
    const res = await nhost.auth.refreshToken({ refreshToken: token })
    assertRegisteredUser(res.body.user, { email, displayName: 'Nhost JS' })
    assert.deepEqual(res.body.user.metadata, { sdk: 'nhost-js' })
    userId = res.body.user.id
    assertStoredClaims(nhost, { userId, anonymous: false })
  })

  await check('auth.verifyToken() accepts the access token', async () => {
    const accessToken = nhost.getUserSession().accessToken
    const res = await nhost.auth.verifyToken({ token: accessToken })
    assert.equal(res.status, 200)
    assert.equal(res.body, 'OK')
  })

  await check('auth.signInPasswordlessEmail() answers "OK"; the magic link signs in', async () => {
    const res = await nhost.auth.signInPasswordlessEmail({ email })
    assert.equal(res.status, 200)
    assert.equal(res.body, 'OK')
    const token = await followEmailLink(url, email, 'signinPasswordless')
    const session = await nhost.auth.refreshToken({ refreshToken: token })
    assertRegisteredUser(session.body.user, { id: userId, email, displayName: 'Nhost JS' })
  })

  await check('auth.signOut({ all: true }) revokes the sessions of other devices', async () => {
    const other = newServerClient()
    const theirs = await other.auth.signInEmailPassword({ email, password: PASSWORD })
    const theirToken = theirs.body.session.refreshToken
    const res = await nhost.auth.signOut({ all: true })
    assert.equal(res.body, 'OK')
    assert.equal(nhost.getUserSession(), null)
    await expectFetchError(
      other.auth.refreshToken({ refreshToken: theirToken }),
      401,
      'invalid-refresh-token'
    )
  })

  await check('a magic link to a new address creates the user', async () => {
    const fresh = uniqueEmail('njs-magic-new')
    const res = await nhost.auth.signInPasswordlessEmail({
      email: fresh,
      options: { displayName: 'Nhost Magic' }
    })
    assert.equal(res.body, 'OK')
    const token = await followEmailLink(url, fresh, 'signinPasswordless')
    const session = await nhost.auth.refreshToken({ refreshToken: token })
    assertRegisteredUser(session.body.user, { email: fresh, displayName: 'Nhost Magic' })
    assert.notEqual(session.body.user.id, userId)
  })
})

await scenario('nhost-js deanonymize with a magic link', async (check) => {
  const nhost = newClient()
  const email = uniqueEmail('njs-magic-deanon')
  let anonId

  await check('auth.signInAnonymous()', async () => {
    const res = await nhost.auth.signInAnonymous()
    assertAnonymousSession(res.body.session)
    anonId = res.body.session.user.id
  })

  await check('auth.deanonymizeUser({ signInMethod: "passwordless" }) answers "OK"', async () => {
    const res = await nhost.auth.deanonymizeUser({ signInMethod: 'passwordless', email })
    assert.equal(res.body, 'OK')
  })

  await check('the magic link signs in the same user, now registered', async () => {
    const token = await followEmailLink(url, email, 'signinPasswordless')
    const res = await nhost.auth.refreshToken({ refreshToken: token })
    assertRegisteredUser(res.body.user, { id: anonId, email })
    const user = await nhost.auth.getUser()
    assertRegisteredUser(user.body, { id: anonId, email })
  })

  await check('deanonymizing a registered user: 400 user-not-anonymous', async () => {
    await expectFetchError(
      nhost.auth.deanonymizeUser({
        signInMethod: 'email-password',
        email: uniqueEmail('njs-other'),
        password: PASSWORD
      }),
      400,
      'user-not-anonymous'
    )
  })

  await check('auth.signOut() ends it', async () => {
    const session = nhost.getUserSession()
    const res = await nhost.auth.signOut({ refreshToken: session.refreshToken })
    assert.equal(res.body, 'OK')
    assert.equal(nhost.getUserSession(), null)
  })
})

finish()
