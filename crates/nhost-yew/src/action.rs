//! The loading / success / error bookkeeping every action hook shares.
//!
//! Only the input type is generic: each hook boxes its call into an [`ActionFuture`] that says
//! [`Done`], so the state, its setter and the spawned task exist once in the bundle rather than
//! once per hook (see the bundle figures in the README).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use nhost_core::{AuthError, NhostClient, SignUpOutcome};
use yew::prelude::*;

use crate::context::use_nhost_client;

/// The `error` of an action hook: nhost-core's `{status, error, message}`.
pub type ActionError = AuthError;

/// What an action hook keeps of a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    /// Done, nothing more to tell.
    Ok,
    /// Done, and the server sent an email the user must follow (sign-up, deanonymize).
    EmailVerificationRequired,
}

impl From<SignUpOutcome> for Done {
    fn from(outcome: SignUpOutcome) -> Self {
        match outcome {
            SignUpOutcome::SignedIn(_) => Done::Ok,
            SignUpOutcome::EmailVerificationRequired => Done::EmailVerificationRequired,
        }
    }
}

impl From<()> for Done {
    fn from((): ()) -> Self {
        Done::Ok
    }
}

impl From<nhost_core::Session> for Done {
    fn from(_: nhost_core::Session) -> Self {
        Done::Ok
    }
}

/// An action's call, boxed: one type for every hook.
pub(crate) type ActionFuture = Pin<Box<dyn Future<Output = Result<Done, AuthError>>>>;

/// Boxes an action's call into an [`ActionFuture`].
pub(crate) fn action<T: Into<Done>>(
    call: impl Future<Output = Result<T, AuthError>> + 'static,
) -> ActionFuture {
    Box::pin(async move { call.await.map(Into::into) })
}

/// Where an action stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ActionStatus {
    pub(crate) is_loading: bool,
    pub(crate) outcome: Option<Result<Done, AuthError>>,
}

impl ActionStatus {
    pub(crate) fn error(&self) -> Option<AuthError> {
        match &self.outcome {
            Some(Err(e)) => Some(e.clone()),
            _ => None,
        }
    }
    pub(crate) fn succeeded(&self) -> Option<Done> {
        match &self.outcome {
            Some(Ok(done)) => Some(*done),
            _ => None,
        }
    }
}

/// Runs `run(client, input)` when the returned callback is called — at most one at a time:
/// calls while one runs are ignored (a double click must not create two anonymous users).
#[hook]
pub(crate) fn use_action<I, F>(run: F) -> (Callback<I>, ActionStatus)
where
    I: 'static,
    F: Fn(NhostClient, I) -> ActionFuture + 'static,
{
    let runner = use_runner();
    let callback = {
        let runner = runner.clone();
        Callback::from(move |input: I| {
            if runner.try_begin() {
                runner.finish(run(runner.client.clone(), input));
            }
        })
    };
    (callback, runner.status())
}

/// The non-generic part of [`use_action`]: the state and the one call in flight.
#[derive(Clone)]
struct Runner {
    client: NhostClient,
    status: UseStateHandle<ActionStatus>,
    in_flight: Rc<RefCell<bool>>,
}

#[hook]
fn use_runner() -> Runner {
    let client = use_nhost_client();
    let status = use_state_eq(ActionStatus::default);
    let in_flight = use_mut_ref(|| false);
    Runner {
        client,
        status,
        in_flight,
    }
}

impl Runner {
    fn status(&self) -> ActionStatus {
        (*self.status).clone()
    }

    /// Whether a call may start now (none runs); marks it running and loading.
    fn try_begin(&self) -> bool {
        if self.in_flight.replace(true) {
            return false;
        }
        self.status.set(ActionStatus {
            is_loading: true,
            outcome: None,
        });
        true
    }

    /// Runs the call begun by [`try_begin`](Self::try_begin) and records its outcome.
    fn finish(&self, call: ActionFuture) {
        let setter = self.status.setter();
        let in_flight = self.in_flight.clone();
        yew::platform::spawn_local(async move {
            let outcome = call.await;
            in_flight.replace(false);
            setter.set(ActionStatus {
                is_loading: false,
                outcome: Some(outcome),
            });
        });
    }
}
