//! The size baseline for `cargo xtask bench wasm-size`: example-yew-csr's UI without nhost.
//!
//! Not an app anyone should run; built for wasm32 by the benchmark only.

#[cfg(target_arch = "wasm32")]
mod app {
    use web_sys::HtmlInputElement;
    use yew::prelude::*;

    #[derive(Clone, PartialEq, Default)]
    struct Fake {
        user_id: Option<String>,
        anonymous: bool,
        expires_at: u32,
    }

    #[component]
    pub(crate) fn App() -> Html {
        let state = use_state(Fake::default);
        let sign_in = {
            let state = state.clone();
            Callback::from(move |_| {
                state.set(Fake {
                    user_id: Some("00000000-0000-0000-0000-000000000000".into()),
                    anonymous: true,
                    expires_at: 900,
                })
            })
        };
        let tick = use_state(|| 0u32);
        {
            let tick = tick.clone();
            use_effect_with((), move |_| {
                let interval =
                    gloo_timers::callback::Interval::new(1_000, move || tick.set(*tick + 1));
                move || drop(interval)
            });
        }
        let email = use_node_ref();
        let onsubmit = {
            let (state, email) = (state.clone(), email.clone());
            Callback::from(move |e: SubmitEvent| {
                e.prevent_default();
                let _ = email.cast::<HtmlInputElement>().map(|i| i.value());
                state.set(Fake {
                    anonymous: false,
                    ..(*state).clone()
                });
            })
        };
        let sign_out = {
            let state = state.clone();
            Callback::from(move |_| state.set(Fake::default()))
        };
        html! {
            <main>
                <h1>{ "nhost-yew" }</h1>
                <div>
                    <button id="sign-in" onclick={sign_in}>{ "Anonymous sign-in" }</button>
                    if state.user_id.is_some() { <div id="success">{ "You are now signed in anonymously" }</div> }
                </div>
                if let Some(id) = &state.user_id {
                    <dl>
                        <dt>{ "user id" }</dt><dd data-testid="user-id">{ id.clone() }</dd>
                        <dt>{ "default role" }</dt><dd>{ "public" }</dd>
                        <dt>{ "is anonymous" }</dt><dd>{ state.anonymous.to_string() }</dd>
                        <dt>{ "access token expires in" }</dt><dd>{ format!("{} s", state.expires_at.saturating_sub(*tick)) }</dd>
                    </dl>
                    if state.anonymous {
                        <form {onsubmit}>
                            <input ref={email} name="email" type="email" />
                            <input name="password" type="password" />
                            <button type="submit">{ "Keep my account" }</button>
                        </form>
                    }
                    <button id="sign-out" onclick={sign_out}>{ "Sign out" }</button>
                }
            </main>
        }
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
