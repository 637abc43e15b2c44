//! Yew provider and hooks for Nhost Auth — the Rust twin of `@nhost/react`, headed by
//! [`use_anonymous_sign_in`].
//!
//! ```
//! use nhost_yew::prelude::*;
//! use yew::prelude::*;
//!
//! #[component]
//! fn Component() -> Html {
//!     let anon = use_anonymous_sign_in();
//!     html! {
//!         <div>
//!             <button onclick={anon.sign_in_anonymous.reform(|_| ())}>{ "Anonymous sign-in" }</button>
//!             if anon.is_success { <div>{ "You are now signed in anonymously" }</div> }
//!         </div>
//!     }
//! }
//!
//! #[component]
//! fn App() -> Html {
//!     let client = use_memo((), |_| {
//!         nhost_core::NhostClient::builder().auth_url("http://127.0.0.1:4000").build().expect("valid URL")
//!     });
//!     html! { <NhostProvider client={(*client).clone()}><Component /></NhostProvider> }
//! }
//! ```
//!
//! All session logic lives in [`nhost_core`]; this crate only turns its state into Yew state.
//! Everything renders under Yew's `ServerRenderer` (browser-only work happens in effects), so a
//! server can render the same components with the session it already has.
//!
//! Crate features: `email-links` (on by default) — the provider completes the email link a page
//! was opened with, and [`use_email_link`] says how it went; `hydration` — the [`hydration`]
//! module, for pages nhost-ssr rendered (it turns on nhost-core's `server-session`), off by
//! default like Yew's own.

// The docs link to the `hydration` module and `use_email_link`; without their features they do
// not exist (docs.rs builds with every feature).
#![cfg_attr(
    not(all(feature = "hydration", feature = "email-links")),
    allow(rustdoc::broken_intra_doc_links)
)]

mod action;
#[cfg(target_arch = "wasm32")]
mod broadcast;
mod components;
mod context;
#[cfg(all(target_arch = "wasm32", feature = "email-links"))]
mod email_link;
pub mod hooks;
#[cfg(feature = "hydration")]
pub mod hydration;

pub use action::ActionError;
pub use components::{GuardProps, NhostProvider, NhostProviderProps, SignedIn, SignedOut};
pub use context::use_nhost_client;
pub use hooks::*;
pub use nhost_core;

/// Everything an app needs: `use nhost_yew::prelude::*;`.
pub mod prelude {
    pub use crate::components::{NhostProvider, SignedIn, SignedOut};
    pub use crate::context::use_nhost_client;
    pub use crate::hooks::*;
}
