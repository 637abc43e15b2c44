// The size baseline: nhost.jsx's UI without @nhost/react — the same components, markup, texts
// and handlers, the session faked by local state shared through a context (as
// examples/yew-csr-bare does for the Yew example).
import React, { createContext, useContext, useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";

const Fake = createContext(null);
const useFake = () => useContext(Fake);

function App() {
  const state = useState({ userId: null, anonymous: false, expiresAt: 0, loading: false,
    error: null, linkLoading: false, linkType: null, linkError: null, needsVerification: false });
  return (
    <Fake.Provider value={state}>
      <main>
        <h1>nhost-react</h1>
        <EmailLink />
        <AnonymousSignIn />
        <SignedIn><Profile /></SignedIn>
        <Deanonymize />
        <SignedIn><SignOut /></SignedIn>
      </main>
    </Fake.Provider>
  );
}

function SignedIn({ children }) {
  const [s] = useFake();
  return s.userId ? children : null;
}

function EmailLink() {
  const [s] = useFake();
  const done = s.linkType === "emailVerify" ? "Your email is verified: you are signed in."
    : s.linkType === "signinPasswordless" ? "You are signed in with your magic link."
    : "You are signed in with the link from your email.";
  return (
    <>
      {s.linkLoading && <p id="email-link-loading">Completing the link from your email…</p>}
      {s.linkType && !s.linkError && <p id="email-link">{done}</p>}
      {s.linkError && <p id="email-link-error">{`This email link did not work: ${s.linkError.message} (${s.linkError.error})`}</p>}
    </>
  );
}

function AnonymousSignIn() {
  const [s, set] = useFake();
  const signIn = () => set({ ...s, userId: "00000000-0000-0000-0000-000000000000", anonymous: true, expiresAt: 900 });
  return (
    <div>
      <button id="sign-in" onClick={signIn} disabled={s.loading}>Anonymous sign-in</button>
      {s.userId && <div id="success">You are now signed in anonymously</div>}
      {s.error && <div id="error">{`${s.error.message} (${s.error.error}, ${s.error.status})`}</div>}
    </div>
  );
}

function Profile() {
  const [s] = useFake();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const interval = setInterval(() => setTick((t) => t + 1), 1000);
    return () => clearInterval(interval);
  }, []);
  const left = Math.max(0, s.expiresAt - tick);
  return (
    <dl>
      <dt>user id</dt><dd data-testid="user-id">{s.userId ?? ""}</dd>
      <dt>default role</dt><dd data-testid="default-role">public</dd>
      <dt>is anonymous</dt><dd data-testid="is-anonymous">{String(s.anonymous)}</dd>
      <dt>access token expires in</dt><dd data-testid="expires-in">{`${left} s`}</dd>
    </dl>
  );
}

function Deanonymize() {
  const [s, set] = useFake();
  const email = useRef(null);
  const password = useRef(null);
  const onSubmit = (e) => {
    e.preventDefault();
    const [em, pw] = [email.current?.value ?? "", password.current?.value ?? ""];
    set({ ...s, anonymous: false, needsVerification: em.length + pw.length > 64 });
  };
  return (
    <>
      {s.anonymous && (
        <form id="deanonymize" onSubmit={onSubmit}>
          <input ref={email} name="email" type="email" placeholder="email" />
          <input ref={password} name="password" type="password" placeholder="password" />
          <button type="submit" disabled={s.loading}>Keep my account</button>
        </form>
      )}
      {s.needsVerification && <p id="check-mailbox">Check your mailbox</p>}
      {s.error && <p id="deanonymize-error">{`${s.error.message} (${s.error.error})`}</p>}
    </>
  );
}

function SignOut() {
  const [, set] = useFake();
  return <button id="sign-out" onClick={() => set({ userId: null, anonymous: false, expiresAt: 0 })}>Sign out</button>;
}

createRoot(document.getElementById("root")).render(<App />);
