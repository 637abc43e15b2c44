// examples/yew-csr's UI on @nhost/react: anonymous sign-in, the profile with its countdown,
// deanonymize, sign-out, and the outcome of the email link the page was opened with (which
// nhost-js's `autoSignIn` completes on start-up).
import React, { useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import {
  NhostClient, NhostProvider, useAuthenticationStatus, useDecodedAccessToken, useHasuraClaims,
  useNhostClient, useSignInAnonymous, useSignOut, useUserId, useUserIsAnonymous,
} from "@nhost/react";

const authUrl = document.querySelector('meta[name="nhost-auth-url"]')?.content ?? "http://127.0.0.1:4000";
const nhost = new NhostClient({ authUrl, graphqlUrl: authUrl, storageUrl: authUrl, functionsUrl: authUrl });
const appAddress = () => `${location.origin}${location.pathname}`;

function App() {
  return (
    <NhostProvider nhost={nhost}>
      <main>
        <h1>nhost-react</h1>
        <EmailLink />
        <AnonymousSignIn />
        <SignedIn><Profile /></SignedIn>
        <Deanonymize />
        <SignedIn><SignOut /></SignedIn>
      </main>
    </NhostProvider>
  );
}

function SignedIn({ children }) {
  const { isAuthenticated } = useAuthenticationStatus();
  return isAuthenticated ? children : null;
}

function EmailLink() {
  const { isLoading, isAuthenticated, error } = useAuthenticationStatus();
  const [linkType] = useState(() => new URLSearchParams(location.search).get("type"));
  const done = linkType === "emailVerify" ? "Your email is verified: you are signed in."
    : linkType === "signinPasswordless" ? "You are signed in with your magic link."
    : "You are signed in with the link from your email.";
  if (!linkType) return null;
  return (
    <>
      {isLoading && <p id="email-link-loading">Completing the link from your email…</p>}
      {isAuthenticated && <p id="email-link">{done}</p>}
      {error && <p id="email-link-error">{`This email link did not work: ${error.message} (${error.error})`}</p>}
    </>
  );
}

function AnonymousSignIn() {
  const { signInAnonymous, isLoading, isSuccess, error } = useSignInAnonymous();
  return (
    <div>
      <button id="sign-in" onClick={() => signInAnonymous()} disabled={isLoading}>Anonymous sign-in</button>
      {isSuccess && <div id="success">You are now signed in anonymously</div>}
      {error && <div id="error">{`${error.message} (${error.error}, ${error.status})`}</div>}
    </div>
  );
}

function Profile() {
  const id = useUserId();
  const claims = useHasuraClaims();
  const anonymous = useUserIsAnonymous();
  const token = useDecodedAccessToken();
  const [, setTick] = useState(0);
  useEffect(() => {
    const interval = setInterval(() => setTick((t) => t + 1), 1000);
    return () => clearInterval(interval);
  }, []);
  const left = token?.exp ? Math.max(0, Math.floor(token.exp - Date.now() / 1000)) : 0;
  return (
    <dl>
      <dt>user id</dt><dd data-testid="user-id">{id ?? ""}</dd>
      <dt>default role</dt><dd data-testid="default-role">{claims?.["x-hasura-default-role"] ?? ""}</dd>
      <dt>is anonymous</dt><dd data-testid="is-anonymous">{String(!!anonymous)}</dd>
      <dt>access token expires in</dt><dd data-testid="expires-in">{`${left} s`}</dd>
    </dl>
  );
}

function Deanonymize() {
  const client = useNhostClient();
  const anonymous = useUserIsAnonymous();
  const [state, setState] = useState({ loading: false, needsVerification: false, error: null });
  const email = useRef(null);
  const password = useRef(null);
  const onSubmit = async (e) => {
    e.preventDefault();
    setState({ loading: true, needsVerification: false, error: null });
    const { error } = await client.auth.deanonymize({
      signInMethod: "email-password",
      email: email.current?.value ?? "",
      password: password.current?.value ?? "",
      options: { redirectTo: appAddress() },
    });
    setState({ loading: false, needsVerification: !error && !client.auth.isAuthenticated(), error });
  };
  return (
    <>
      {anonymous && (
        <form id="deanonymize" onSubmit={onSubmit}>
          <input ref={email} name="email" type="email" placeholder="email" />
          <input ref={password} name="password" type="password" placeholder="password" />
          <button type="submit" disabled={state.loading}>Keep my account</button>
        </form>
      )}
      {state.needsVerification && <p id="check-mailbox">Check your mailbox</p>}
      {state.error && <p id="deanonymize-error">{`${state.error.message} (${state.error.error})`}</p>}
    </>
  );
}

function SignOut() {
  const { signOut } = useSignOut();
  return <button id="sign-out" onClick={() => signOut()}>Sign out</button>;
}

createRoot(document.getElementById("root")).render(<App />);
