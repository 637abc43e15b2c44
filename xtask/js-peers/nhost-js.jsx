// examples/yew-csr's UI on @nhost/nhost-js 4, the current Nhost SDK (the protocol nhost-core
// speaks), which has no React package: the client from `createClient` as its README shows, a
// small React context over its session storage's `onChange`, the hooks' loading / success /
// error bookkeeping written out, the email link completed on start-up (PKCE: `tokenExchange`
// with the verifier this app stored; an older link's `refreshToken`), and the session refreshed
// in the background by `refreshSession` (which takes a Web Lock, as nhost-core does). Its auth
// URL must end in `/v1`, as Nhost's own do: the client's middleware skips its refresh only for
// `…/v1/token`, and a refresh through any other URL waits for its own lock.
import React, { createContext, useContext, useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import { createClient } from "@nhost/nhost-js";
import { generatePKCEPair } from "@nhost/nhost-js/auth";

const authUrl = document.querySelector('meta[name="nhost-auth-url"]')?.content ?? "http://127.0.0.1:4000/v1";
const nhost = createClient({ authUrl, graphqlUrl: authUrl, storageUrl: authUrl, functionsUrl: authUrl });
const appAddress = () => `${location.origin}${location.pathname}`;
const VERIFIER = "nhostPKCEVerifier";

const Auth = createContext(null);
const useAuth = () => useContext(Auth);

// The action hooks' loading / success / error bookkeeping, as nhost-yew's hooks keep it.
function useAction(run) {
  const [state, setState] = useState({ isLoading: false, isSuccess: false, error: null, value: null });
  const call = async (...args) => {
    if (state.isLoading) return;
    setState({ isLoading: true, isSuccess: false, error: null, value: null });
    try {
      const value = await run(...args);
      setState({ isLoading: false, isSuccess: true, error: null, value });
    } catch (e) {
      const body = e?.body ?? {};
      setState({ isLoading: false, isSuccess: false, value: null,
        error: { status: e?.status ?? 0, error: body.error ?? "network-error", message: body.message ?? String(e?.message ?? e) } });
    }
  };
  return [call, state];
}

function AuthProvider({ children }) {
  const [session, setSession] = useState(() => nhost.getUserSession());
  const [link, setLink] = useState(() => {
    const params = new URLSearchParams(location.search);
    return params.has("code") || params.has("refreshToken") || params.has("error")
      ? { isLoading: true, type: params.get("type"), error: null, done: false } : null;
  });
  useEffect(() => nhost.sessionStorage.onChange(setSession), []);
  useEffect(() => {
    const timer = setInterval(() => { nhost.refreshSession(60).catch(() => {}); }, 10_000);
    nhost.refreshSession(60).catch(() => {});
    return () => clearInterval(timer);
  }, []);
  useEffect(() => {
    if (!link) return;
    const url = new URL(location.href);
    const code = url.searchParams.get("code");
    const refreshToken = url.searchParams.get("refreshToken");
    const error = url.searchParams.get("error");
    const description = url.searchParams.get("errorDescription");
    for (const p of ["code", "type", "error", "errorDescription", "refreshToken"]) url.searchParams.delete(p);
    history.replaceState(history.state, "", url.href);
    (async () => {
      if (error) throw { body: { error, message: description ?? `the email link failed: ${error}` } };
      if (!code) {
        // The client's middleware stores the session of every answer that carries one.
        await nhost.auth.refreshToken({ refreshToken });
        return;
      }
      const codeVerifier = localStorage.getItem(VERIFIER);
      if (!codeVerifier) throw { body: { error: "invalid-request", message: "this email link was asked for in another browser" } };
      await nhost.auth.tokenExchange({ code, codeVerifier });
      localStorage.removeItem(VERIFIER);
    })().then(
      () => setLink({ ...link, isLoading: false, done: true }),
      (e) => setLink({ ...link, isLoading: false, error: { error: e?.body?.error ?? "network-error", message: e?.body?.message ?? String(e) } }),
    );
  }, []);
  return <Auth.Provider value={{ session, link }}>{children}</Auth.Provider>;
}

function App() {
  return (
    <AuthProvider>
      <main>
        <h1>nhost-react</h1>
        <EmailLink />
        <AnonymousSignIn />
        <SignedIn><Profile /></SignedIn>
        <Deanonymize />
        <SignedIn><SignOut /></SignedIn>
      </main>
    </AuthProvider>
  );
}

function SignedIn({ children }) {
  const { session } = useAuth();
  return session ? children : null;
}

function EmailLink() {
  const { link } = useAuth();
  if (!link) return null;
  const done = link.type === "emailVerify" ? "Your email is verified: you are signed in."
    : link.type === "signinPasswordless" ? "You are signed in with your magic link."
    : "You are signed in with the link from your email.";
  return (
    <>
      {link.isLoading && <p id="email-link-loading">Completing the link from your email…</p>}
      {link.done && <p id="email-link">{done}</p>}
      {link.error && <p id="email-link-error">{`This email link did not work: ${link.error.message} (${link.error.error})`}</p>}
    </>
  );
}

function AnonymousSignIn() {
  const [signInAnonymous, { isLoading, isSuccess, error }] = useAction(() => nhost.auth.signInAnonymous());
  return (
    <div>
      <button id="sign-in" onClick={() => signInAnonymous()} disabled={isLoading}>Anonymous sign-in</button>
      {isSuccess && <div id="success">You are now signed in anonymously</div>}
      {error && <div id="error">{`${error.message} (${error.error}, ${error.status})`}</div>}
    </div>
  );
}

function Profile() {
  const { session } = useAuth();
  const token = session.decodedToken ?? {};
  const claims = token["https://hasura.io/jwt/claims"] ?? {};
  const [, setTick] = useState(0);
  useEffect(() => {
    const interval = setInterval(() => setTick((t) => t + 1), 1000);
    return () => clearInterval(interval);
  }, []);
  // nhost-js keeps `exp` in milliseconds.
  const left = token.exp ? Math.max(0, Math.floor((token.exp - Date.now()) / 1000)) : 0;
  return (
    <dl>
      <dt>user id</dt><dd data-testid="user-id">{session.user?.id ?? ""}</dd>
      <dt>default role</dt><dd data-testid="default-role">{claims["x-hasura-default-role"] ?? ""}</dd>
      <dt>is anonymous</dt><dd data-testid="is-anonymous">{String(!!session.user?.isAnonymous)}</dd>
      <dt>access token expires in</dt><dd data-testid="expires-in">{`${left} s`}</dd>
    </dl>
  );
}

function Deanonymize() {
  const { session } = useAuth();
  const email = useRef(null);
  const password = useRef(null);
  const [deanonymize, state] = useAction(async () => {
    const { verifier, challenge } = await generatePKCEPair();
    localStorage.setItem(VERIFIER, verifier);
    await nhost.auth.deanonymizeUser({
      signInMethod: "email-password",
      email: email.current?.value ?? "",
      password: password.current?.value ?? "",
      options: { redirectTo: appAddress() },
      codeChallenge: challenge,
    });
    // The answer is "OK": whether the session survived shows at the next refresh.
    // Not `refreshSession(0)`: when the refresh fails before the token expires it answers the
    // held session, so it cannot tell that the server revoked it.
    const held = nhost.getUserSession();
    const refreshed = await nhost.auth.refreshToken({ refreshToken: held.refreshToken }).then(
      () => true,
      (e) => { if (e?.status === 401) nhost.clearSession(); else throw e; return false; },
    );
    if (refreshed) localStorage.removeItem(VERIFIER);
    return { needsVerification: !refreshed };
  });
  const onSubmit = (e) => { e.preventDefault(); deanonymize(); };
  return (
    <>
      {session?.user?.isAnonymous && (
        <form id="deanonymize" onSubmit={onSubmit}>
          <input ref={email} name="email" type="email" placeholder="email" />
          <input ref={password} name="password" type="password" placeholder="password" />
          <button type="submit" disabled={state.isLoading}>Keep my account</button>
        </form>
      )}
      {state.value?.needsVerification && <p id="check-mailbox">Check your mailbox</p>}
      {state.error && <p id="deanonymize-error">{`${state.error.message} (${state.error.error})`}</p>}
    </>
  );
}

function SignOut() {
  const [signOut] = useAction(async () => {
    const s = nhost.getUserSession();
    if (s) await nhost.auth.signOut({ refreshToken: s.refreshToken }).catch(() => {});
    nhost.clearSession();
  });
  return <button id="sign-out" onClick={() => signOut()}>Sign out</button>;
}

createRoot(document.getElementById("root")).render(<App />);
