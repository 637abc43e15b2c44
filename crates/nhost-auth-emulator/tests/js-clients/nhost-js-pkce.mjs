// Drives @nhost/nhost-js 4's PKCE email links against the emulator, with the SDK's own helpers
// (`generatePKCEPair`, `generateCodeVerifier` from `@nhost/nhost-js/auth`), its generated
// `tokenExchange` / `verifyTicketURL`, and its session middleware (which stores the session a
// `/token/exchange` answers). Usage: node nhost-js-pkce.mjs <emulator base URL>
//
// The emulator must run with its defaults: anonymous users and magic links enabled, email
// verification required, client URL http://localhost:3000, `/_emulator` routes on.

import assert from 'node:assert/strict'
import { createClient } from '@nhost/nhost-js'
import { generateCodeVerifier, generatePKCEPair } from '@nhost/nhost-js/auth'
import { FetchError } from '@nhost/nhost-js/fetch'
import { UUID_RE, baseUrl, finish, followPkceLink, mailbox, scenario, sorted, uniqueEmail } from './harness.mjs'

const url = baseUrl()
const PASSWORD = 'correct-horse-battery'

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

const newClient = () => createClient({ authUrl: url, storage: memoryStorage() })

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
  return caught
}

function assertRegistered(user, { id, email }) {
  if (id !== undefined) assert.equal(user.id, id, 'same user id')
  assert.match(user.id, UUID_RE)
  assert.equal(user.isAnonymous, false)
  assert.equal(user.email, email)
  assert.equal(user.emailVerified, true)
  assert.deepEqual(sorted(user.roles), ['me', 'user'])
}

/** `tokenExchange` answers a `SessionPayload`, which the session middleware stores. */
async function exchangeInto(nhost, code, verifier) {
  const res = await nhost.auth.tokenExchange({ code, codeVerifier: verifier })
  assert.equal(res.status, 200)
  assert.deepEqual(Object.keys(res.body), ['session'], 'a SessionPayload')
  assert.match(res.body.session.refreshToken, UUID_RE)
  assert.equal(
    nhost.getUserSession()?.refreshToken,
    res.body.session.refreshToken,
    'the session middleware stored the exchanged session'
  )
  return res.body.session
}

await scenario('nhost-js PKCE sign-up with email verification', async (check) => {
  const nhost = newClient()
  const email = uniqueEmail('pkce-signup')
  const { verifier, challenge } = await generatePKCEPair()
  let code

  await check('auth.signUpEmailPassword({ codeChallenge }) answers without a session', async () => {
    const res = await nhost.auth.signUpEmailPassword({ email, password: PASSWORD, codeChallenge: challenge })
    assert.equal(res.status, 200)
    assert.equal(res.body.session ?? null, null)
  })

  await check('the verification link redirects with a code, not a refresh token', async () => {
    code = await followPkceLink(url, email, 'emailVerify', { challenge })
  })

  await check('auth.tokenExchange() with another verifier: 400 invalid-request', async () => {
    await expectFetchError(
      nhost.auth.tokenExchange({ code, codeVerifier: generateCodeVerifier() }),
      400,
      'invalid-request'
    )
    assert.equal(nhost.getUserSession(), null, 'no session')
  })

  await check('auth.tokenExchange() with the verifier signs in (the code survived)', async () => {
    const session = await exchangeInto(nhost, code, verifier)
    assertRegistered(session.user, { email })
    const user = await nhost.auth.getUser()
    assertRegistered(user.body, { id: session.user.id, email })
  })

  await check('the code is single-use: 400 invalid-request', async () => {
    await expectFetchError(nhost.auth.tokenExchange({ code, codeVerifier: verifier }), 400, 'invalid-request')
  })
})

await scenario('nhost-js PKCE magic link', async (check) => {
  const nhost = newClient()
  const email = uniqueEmail('pkce-magic')
  const { verifier, challenge } = await generatePKCEPair()

  await check('auth.signInPasswordlessEmail({ codeChallenge }) → link → code → session', async () => {
    const res = await nhost.auth.signInPasswordlessEmail({ email, codeChallenge: challenge })
    assert.equal(res.body, 'OK')
    const code = await followPkceLink(url, email, 'signinPasswordless', { challenge })
    const session = await exchangeInto(nhost, code, verifier)
    assertRegistered(session.user, { email })
  })

  await check('a malformed codeChallenge: 400 invalid-request, nothing sent', async () => {
    const other = uniqueEmail('pkce-bad')
    await expectFetchError(
      nhost.auth.signInPasswordlessEmail({ email: other, codeChallenge: 'too-short' }),
      400,
      'invalid-request'
    )
    assert.deepEqual(await mailbox(url, other), [])
  })
})

await scenario('nhost-js PKCE deanonymize with email verification', async (check) => {
  const nhost = newClient()
  const email = uniqueEmail('pkce-deanon')
  const { verifier, challenge } = await generatePKCEPair()
  let anonId

  await check('auth.signInAnonymous()', async () => {
    const res = await nhost.auth.signInAnonymous()
    anonId = res.body.session.user.id
  })

  await check('auth.deanonymizeUser({ codeChallenge }) answers "OK"', async () => {
    const res = await nhost.auth.deanonymizeUser({
      signInMethod: 'email-password',
      email,
      password: PASSWORD,
      codeChallenge: challenge
    })
    assert.equal(res.body, 'OK')
  })

  await check('the link → code → tokenExchange: the same user, now registered', async () => {
    const code = await followPkceLink(url, email, 'emailVerify', { challenge })
    const session = await exchangeInto(nhost, code, verifier)
    assertRegistered(session.user, { id: anonId, email })
  })
})

await scenario('nhost-js verifyTicketURL({ codeChallenge })', async (check) => {
  const nhost = newClient()
  const email = uniqueEmail('pkce-ticket-url')
  const { verifier, challenge } = await generatePKCEPair()

  await check('a link built by verifyTicketURL with a challenge gives a code', async () => {
    await nhost.auth.signUpEmailPassword({ email, password: PASSWORD })
    const emails = await mailbox(url, email)
    const sent = new URL(emails[emails.length - 1].link)
    const link = nhost.auth.verifyTicketURL({
      ticket: sent.searchParams.get('ticket'),
      type: 'emailVerify',
      redirectTo: sent.searchParams.get('redirectTo'),
      codeChallenge: challenge
    })
    const code = await followPkceLink(url, email, 'emailVerify', { link })
    const session = await exchangeInto(nhost, code, verifier)
    assertRegistered(session.user, { email })
  })
})

await scenario('nhost-js signOut({ all: true }) without a session', async (check) => {
  await check('400 invalid-request, as the real handler answers', async () => {
    await expectFetchError(newClient().auth.signOut({ all: true }), 400, 'invalid-request')
  })
})

finish()
