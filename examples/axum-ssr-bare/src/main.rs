//! The size baseline for `cargo xtask bench wasm-size`: example-axum-ssr's browser bundle
//! without nhost — the same components, hydrating, with local state instead of a session.
//!
//! Not an app anyone should run; built for wasm32 by the benchmark only.

#[cfg(target_arch = "wasm32")]
mod app {
    use serde::Deserialize;
    use web_sys::HtmlInputElement;
    use yew::prelude::*;

    #[derive(Clone, PartialEq, Deserialize)]
    #[serde(tag = "kind", rename_all = "kebab-case")]
    pub(crate) enum Notice {
        CheckMailbox,
        Deanonymized,
        Error {
            status: u16,
            error: String,
            message: String,
        },
    }

    #[derive(Clone, PartialEq, Default)]
    struct Fake {
        user_id: Option<String>,
        anonymous: bool,
        expires_at: u64,
    }

    #[derive(Properties, PartialEq)]
    pub(crate) struct AppProps {
        pub(crate) notice: Option<Notice>,
    }

    #[component]
    pub(crate) fn App(props: &AppProps) -> Html {
        use_effect_with((), |_| {
            if let Some(html) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.document_element())
            {
                let _ = html.set_attribute("data-hydrated", "true");
            }
        });
        let state = use_state(Fake::default);
        let notice = use_state(|| props.notice.clone());
        let email = use_node_ref();
        let password = use_node_ref();
        let on_sign_in = {
            let state = state.clone();
            Callback::from(move |e: SubmitEvent| {
                e.prevent_default();
                state.set(Fake {
                    user_id: Some("00000000-0000-0000-0000-000000000000".into()),
                    anonymous: true,
                    expires_at: 900,
                })
            })
        };
        let on_sign_out = {
            let state = state.clone();
            Callback::from(move |e: SubmitEvent| {
                e.prevent_default();
                state.set(Fake::default())
            })
        };
        let on_deanonymize = {
            let (state, notice) = (state.clone(), notice.clone());
            let (email, password) = (email.clone(), password.clone());
            Callback::from(move |e: SubmitEvent| {
                e.prevent_default();
                let value = |r: &NodeRef| {
                    r.cast::<HtmlInputElement>()
                        .map(|i| i.value())
                        .unwrap_or_default()
                };
                let _ = (value(&email).trim().to_owned(), value(&password));
                notice.set(Some(Notice::Deanonymized));
                state.set(Fake {
                    anonymous: false,
                    ..(*state).clone()
                });
            })
        };
        let shown = match &*notice {
            None => html! {},
            Some(Notice::CheckMailbox) => html! {
                <p id="notice" role="status">{ "Check your mailbox: follow the link we sent to finish signing up." }</p>
            },
            Some(Notice::Deanonymized) => html! {
                <p id="notice" role="status">{ "You are now a registered user." }</p>
            },
            Some(Notice::Error {
                status,
                error,
                message,
            }) => html! {
                <p id="error" class="error" role="alert" data-status={status.to_string()} data-error={error.clone()}>
                    { format!("{message} ({error}, status {status})") }
                </p>
            },
        };
        let home = match &state.user_id {
            None => html! {
                <section>
                    { shown }
                    <p data-testid="status">{ "You are signed out." }</p>
                    <form method="post" action="/auth/sign-in/anonymous" onsubmit={on_sign_in}>
                        <button id="sign-in" type="submit">{ "Sign in anonymously" }</button>
                    </form>
                </section>
            },
            Some(id) => html! {
                <section>
                    { shown }
                    <p data-testid="status">{ "You are signed in." }</p>
                    <dl>
                        <dt>{ "User id" }</dt><dd data-testid="user-id">{ id.clone() }</dd>
                        <dt>{ "Display name" }</dt><dd data-testid="display-name">{ "" }</dd>
                        <dt>{ "Default role" }</dt><dd data-testid="default-role">{ "public" }</dd>
                        <dt>{ "Anonymous" }</dt><dd data-testid="is-anonymous">{ state.anonymous.to_string() }</dd>
                        <dt>{ "Access token expires" }</dt>
                        <dd data-testid="expires-at">{ format!("{} (Unix time; in {} s)", state.expires_at, state.expires_at) }</dd>
                    </dl>
                    <form method="post" action="/auth/sign-out" onsubmit={on_sign_out}>
                        <button id="sign-out" type="submit">{ "Sign out" }</button>
                    </form>
                    if state.anonymous {
                        <form id="deanonymize" method="post" action="/auth/deanonymize" onsubmit={on_deanonymize}>
                            <h2>{ "Keep your account" }</h2>
                            <label>{ "Email " }<input ref={email} name="email" type="email" required=true autocomplete="email" /></label>
                            <label>{ " Password " }<input ref={password} name="password" type="password" required=true minlength="9" autocomplete="new-password" /></label>
                            <button type="submit">{ "Deanonymize" }</button>
                        </form>
                    }
                </section>
            },
        };
        html! {
            <main>
                <h1>{ "nhost-rs · axum SSR" }</h1>
                { home }
            </main>
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {
    let notice = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("page-notice"))
        .and_then(|e| e.text_content())
        .and_then(|text| serde_json::from_str::<Option<app::Notice>>(&text).ok())
        .flatten();
    yew::Renderer::<app::App>::with_props(app::AppProps { notice }).hydrate();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("example-axum-ssr-bare is a wasm32 size baseline: see `cargo xtask bench wasm-size`");
}
