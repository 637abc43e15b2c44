// A tiny test harness shared by the client scripts (no test framework, so nothing but the two
// clients under test has to be installed).
//
// Output is TAP-like: one `ok N - …` / `not ok N - …` line per check. A scenario stops at its
// first failing check (later checks build on earlier ones); the next scenario still runs.
// `finish()` exits with status 1 if anything failed.

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

/** The emulator's default `AUTH_CLIENT_URL`, which is also the default `redirectTo`. */
export const CLIENT_URL = 'http://localhost:3000'

/** A lowercase hyphenated UUID, like the refresh tokens the server hands out. */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** How long a single check may take before it counts as hung. */
const CHECK_TIMEOUT_MS = 20_000

let counter = 0
let failures = 0

/** The emulator's base URL, from `argv[2]`, without a trailing slash. */
export function baseUrl() {
  const url = process.argv[2]
  if (!url || !/^https?:\/\//.test(url)) {
    console.error(`usage: node ${process.argv[1]} <emulator base URL, e.g. http://127.0.0.1:4000>`)
    process.exit(2)
  }
  return url.replace(/\/+$/, '')
}

class ScenarioAborted extends Error {}

function withTimeout(promise, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms: ${what}`)),
      CHECK_TIMEOUT_MS
    )
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function describeError(err) {
  const text = err instanceof assert.AssertionError ? err.message : err?.stack || String(err)
  return text
    .split('\n')
    .map((line) => `  # ${line}`)
    .join('\n')
}

/**
 * Runs one scenario. `body(check)` calls `await check(description, async () => …)` for each step;
 * `check` returns what the step returns.
 */
export async function scenario(title, body) {
  const check = async (description, step) => {
    counter += 1
    const label = `${title}: ${description}`
    try {
      const value = await withTimeout(Promise.resolve().then(step), label)
      console.log(`ok ${counter} - ${label}`)
      return value
    } catch (err) {
      failures += 1
      console.log(`not ok ${counter} - ${label}`)
      console.log(describeError(err))
      throw new ScenarioAborted(label)
    }
  }
  try {
    await body(check)
  } catch (err) {
    if (!(err instanceof ScenarioAborted)) {
      // An error outside any check: count it too.
      counter += 1
      failures += 1
      console.log(`not ok ${counter} - ${title}: scenario crashed outside a check`)
      console.log(describeError(err))
    }
  }
}

/** Prints the plan and exits: 0 if every check passed, 1 otherwise. */
export function finish() {
  console.log(`1..${counter}`)
  if (failures > 0) {
    console.log(`# ${failures} of ${counter} checks failed`)
  } else {
    console.log(`# all ${counter} checks passed`)
  }
  // The clients may keep timers or sockets alive; do not wait for them.
  process.exit(failures > 0 ? 1 : 0)
}

/** A fresh, valid email address no other check uses. */
export function uniqueEmail(tag) {
  return `js-${tag}-${randomUUID().slice(0, 8)}@example.com`
}

/** The emails the emulator "sent" to `to`, oldest first (`GET /_emulator/mailbox?to=`). */
export async function mailbox(url, to) {
  const res = await fetch(`${url}/_emulator/mailbox?to=${encodeURIComponent(to)}`)
  assert.equal(res.status, 200, 'GET /_emulator/mailbox answers 200')
  const emails = await res.json()
  assert.ok(Array.isArray(emails), 'the mailbox is a JSON array')
  return emails
}

/**
 * Takes the newest email to `to`, checks it is a `/verify` link of the given kind whose redirect
 * goes to `redirectTo`, follows the link without following the redirect, and returns the refresh
 * token the 302 hands to the front end.
 */
export async function followEmailLink(url, to, kind, redirectTo = CLIENT_URL) {
  const emails = await mailbox(url, to)
  assert.ok(emails.length > 0, `an email was sent to ${to}`)
  const email = emails[emails.length - 1]
  assert.equal(email.to, to)
  assert.equal(email.kind, kind)
  assert.ok(
    email.link.startsWith(`${url}/verify?`),
    `the link points at the server's /verify: ${email.link}`
  )
  const link = new URL(email.link)
  assert.equal(link.searchParams.get('type'), kind, 'the link carries type=<kind>')
  assert.equal(link.searchParams.get('redirectTo'), redirectTo, 'the link carries the redirectTo')
  assert.ok(link.searchParams.get('ticket'), 'the link carries a ticket')

  const res = await fetch(email.link, { redirect: 'manual' })
  assert.equal(res.status, 302, 'GET /verify answers 302')
  const location = res.headers.get('location')
  assert.ok(location, 'the 302 has a Location')
  assert.match(location, /refreshToken=/, 'the Location carries refreshToken=')
  const target = new URL(location)
  const wanted = new URL(redirectTo)
  assert.equal(target.origin, wanted.origin, `the redirect goes to ${redirectTo}`)
  assert.equal(target.pathname, wanted.pathname, `the redirect keeps the path of ${redirectTo}`)
  assert.equal(target.searchParams.get('error'), null, 'the redirect carries no error')
  assert.equal(target.searchParams.get('type'), kind, 'the redirect carries type=<kind>')
  const refreshToken = target.searchParams.get('refreshToken')
  assert.match(refreshToken, UUID_RE, 'the refresh token is a UUID')

  // One-time: the same link now redirects with an error instead of a token.
  const again = await fetch(email.link, { redirect: 'manual' })
  assert.equal(again.status, 302, 'a used link still answers 302')
  const againTarget = new URL(again.headers.get('location'))
  assert.equal(againTarget.searchParams.get('refreshToken'), null, 'a used link gives no token')
  assert.ok(againTarget.searchParams.get('error'), 'a used link redirects with ?error=')
  return refreshToken
}

/**
 * Like `followEmailLink`, for a PKCE link: the link carries `codeChallenge` (unless `link` is
 * given, e.g. built with `verifyTicketURL`), and the 302 hands the front end a one-time `code`
 * and no refresh token. Returns the code.
 */
export async function followPkceLink(url, to, kind, { challenge, link, redirectTo = CLIENT_URL } = {}) {
  if (link === undefined) {
    const emails = await mailbox(url, to)
    assert.ok(emails.length > 0, `an email was sent to ${to}`)
    const email = emails[emails.length - 1]
    assert.equal(email.kind, kind)
    link = email.link
    assert.equal(
      new URL(link).searchParams.get('codeChallenge'),
      challenge,
      `the link carries the challenge: ${link}`
    )
  }
  const res = await fetch(link, { redirect: 'manual' })
  assert.equal(res.status, 302, 'GET /verify answers 302')
  const target = new URL(res.headers.get('location'))
  const wanted = new URL(redirectTo)
  assert.equal(target.origin + target.pathname, wanted.origin + wanted.pathname)
  assert.equal(target.searchParams.get('error'), null, `no error: ${target}`)
  assert.equal(target.searchParams.get('refreshToken'), null, `no refresh token in the URL: ${target}`)
  assert.equal(target.searchParams.get('type'), kind, 'the redirect carries type=<kind>')
  const code = target.searchParams.get('code')
  assert.ok(code && code.length >= 43, `a one-time code: ${target}`)
  return code
}

/** Decodes a JWT's payload without checking it (the clients do the same). */
export function jwtPayload(token) {
  const [, payload] = token.split('.')
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
}

/** Sorted copy, for comparing role lists regardless of order. */
export const sorted = (xs) => [...xs].sort()
