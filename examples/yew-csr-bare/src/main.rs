//! The size baseline for `cargo xtask bench wasm-size`: example-yew-csr's UI without nhost —
//! the same components, markup, texts and event handling, with the session faked by local state
//! shared through a context (as any app shares state between components), so that the
//! difference between the two bundles is what nhost adds.
//!
//! Not an app anyone should run; built for wasm32 by the benchmark only.

#[cfg(target_arch = "wasm32")]
mod app {
    use web_sys::HtmlInputElement;
    use yew::prelude::*;

    /// An error as the example renders nhost's: `{status, error, message}`.
    #[derive(Clone, PartialEq)]
    struct FakeError {
        status: u16,
        error: String,
        message: String,
    }

    /// What the example reads from nhost's hooks, kept locally.
    #[derive(Clone, PartialEq, Default)]
    struct Fake {
        user_id: Option<String>,
        anonymous: bool,
        /// Seconds, as `Duration::as_secs` gives them to the example.
        expires_at: u64,
        loading: bool,
        error: Option<FakeError>,
        link_loading: bool,
        link_type: Option<String>,
        link_error: Option<FakeError>,
        needs_email_verification: bool,
    }

    type State = UseStateHandle<Fake>;

    #[hook]
    fn use_fake() -> State {
        use_context::<State>().expect("inside App")
    }

    #[component]
    pub(crate) fn App() -> Html {
        let state = use_state(Fake::default);
        html! {
            <ContextProvider<State> context={state}>
                <main>
                    <h1>{ "nhost-yew" }</h1>
                    <EmailLink />
                    <AnonymousSignIn />
                    <SignedIn><Profile /></SignedIn>
                    <Deanonymize />
                    <SignedIn><SignOut /></SignedIn>
                </main>
            </ContextProvider<State>>
        }
    }

    #[derive(Properties, PartialEq)]
    struct GuardProps {
        #[prop_or_default]
        children: Html,
    }

    #[component]
    fn SignedIn(props: &GuardProps) -> Html {
        if use_fake().user_id.is_some() {
            props.children.clone()
        } else {
            Html::default()
        }
    }

    #[component]
    fn EmailLink() -> Html {
        let state = use_fake();
        let done = match state.link_type.as_deref() {
            Some("emailVerify") => "Your email is verified: you are signed in.",
            Some("signinPasswordless") => "You are signed in with your magic link.",
            _ => "You are signed in with the link from your email.",
        };
        html! {
            <>
                if state.link_loading { <p id="email-link-loading">{ "Completing the link from your email…" }</p> }
                if state.link_type.is_some() && state.link_error.is_none() { <p id="email-link">{ done }</p> }
                if let Some(e) = &state.link_error {
                    <p id="email-link-error">{ format!("This email link did not work: {} ({})", e.message, e.error) }</p>
                }
            </>
        }
    }

    #[component]
    fn AnonymousSignIn() -> Html {
        let state = use_fake();
        let sign_in = {
            let state = state.clone();
            Callback::from(move |_| {
                state.set(Fake {
                    user_id: Some("00000000-0000-0000-0000-000000000000".into()),
                    anonymous: true,
                    expires_at: 900,
                    ..(*state).clone()
                })
            })
        };
        html! {
            <div>
                <button id="sign-in" onclick={sign_in} disabled={state.loading}>
                    { "Anonymous sign-in" }
                </button>
                if state.user_id.is_some() { <div id="success">{ "You are now signed in anonymously" }</div> }
                if let Some(e) = &state.error { <div id="error">{ format!("{} ({}, {})", e.message, e.error, e.status) }</div> }
            </div>
        }
    }

    #[component]
    fn Profile() -> Html {
        let state = use_fake();
        // Re-render every second for the countdown.
        let tick = use_state(|| 0u32);
        {
            let tick = tick.clone();
            use_effect_with((), move |_| {
                let interval =
                    gloo_timers::callback::Interval::new(1_000, move || tick.set(*tick + 1));
                move || drop(interval)
            });
        }
        let left = state.expires_at.saturating_sub(u64::from(*tick));
        html! {
            <dl>
                <dt>{ "user id" }</dt><dd data-testid="user-id">{ state.user_id.clone().unwrap_or_default() }</dd>
                <dt>{ "default role" }</dt><dd data-testid="default-role">{ "public" }</dd>
                <dt>{ "is anonymous" }</dt><dd data-testid="is-anonymous">{ state.anonymous.to_string() }</dd>
                <dt>{ "access token expires in" }</dt><dd data-testid="expires-in">{ format!("{left} s") }</dd>
            </dl>
        }
    }

    #[component]
    fn Deanonymize() -> Html {
        let state = use_fake();
        let email = use_node_ref();
        let password = use_node_ref();
        let onsubmit = {
            let (state, email, password) = (state.clone(), email.clone(), password.clone());
            Callback::from(move |e: SubmitEvent| {
                e.prevent_default();
                let value = |r: &NodeRef| {
                    r.cast::<HtmlInputElement>()
                        .map(|i| i.value())
                        .unwrap_or_default()
                };
                let (email, password) = (value(&email), value(&password));
                state.set(Fake {
                    anonymous: false,
                    needs_email_verification: email.len() + password.len() > 64,
                    ..(*state).clone()
                });
            })
        };
        html! {
            <>
                if state.anonymous {
                    <form id="deanonymize" {onsubmit}>
                        <input ref={email} name="email" type="email" placeholder="email" />
                        <input ref={password} name="password" type="password" placeholder="password" />
                        <button type="submit" disabled={state.loading}>{ "Keep my account" }</button>
                    </form>
                }
                if state.needs_email_verification { <p id="check-mailbox">{ "Check your mailbox" }</p> }
                if let Some(e) = &state.error { <p id="deanonymize-error">{ format!("{} ({})", e.message, e.error) }</p> }
            </>
        }
    }

    #[component]
    fn SignOut() -> Html {
        let state = use_fake();
        let sign_out = Callback::from(move |_| state.set(Fake::default()));
        html! { <button id="sign-out" onclick={sign_out}>{ "Sign out" }</button> }
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {
    yew::Renderer::<app::App>::new().render();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("example-yew-csr-bare is a wasm32 size baseline: see `cargo xtask bench wasm-size`");
}
