//! The loading / success / error bookkeeping every action hook shares.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use nhost_core::{AuthError, NhostClient};
use yew::prelude::*;

use crate::context::use_nhost_client;

/// The `error` of an action hook: nhost-core's `{status, error, message}`.
pub type ActionError = AuthError;

/// Where an action stands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ActionStatus<O> {
    pub(crate) is_loading: bool,
    pub(crate) outcome: Option<Result<O, AuthError>>,
}

impl<O> Default for ActionStatus<O> {
    fn default() -> Self {
        ActionStatus {
            is_loading: false,
            outcome: None,
        }
    }
}

impl<O> ActionStatus<O> {
    pub(crate) fn error(&self) -> Option<AuthError> {
        match &self.outcome {
            Some(Err(e)) => Some(e.clone()),
            _ => None,
        }
    }
    pub(crate) fn succeeded(&self) -> Option<&O> {
        match &self.outcome {
            Some(Ok(o)) => Some(o),
            _ => None,
        }
    }
}

/// Runs `run(client, input)` when the returned callback is called — at most one at a time:
/// calls while one runs are ignored (a double click must not create two anonymous users).
#[hook]
pub(crate) fn use_action<I, O, F, Fut>(run: F) -> (Callback<I>, ActionStatus<O>)
where
    I: 'static,
    O: Clone + PartialEq + 'static,
    F: Fn(NhostClient, I) -> Fut + 'static,
    Fut: Future<Output = Result<O, AuthError>> + 'static,
{
    let client = use_nhost_client();
    let status = use_state_eq(ActionStatus::<O>::default);
    let in_flight = use_mut_ref(|| false);
    let callback = {
        let setter = status.setter();
        Callback::from(move |input: I| {
            if in_flight.replace(true) {
                return;
            }
            setter.set(ActionStatus {
                is_loading: true,
                outcome: None,
            });
            let future = run(client.clone(), input);
            let (setter, in_flight): (_, Rc<RefCell<bool>>) = (setter.clone(), in_flight.clone());
            yew::platform::spawn_local(async move {
                let outcome = future.await;
                in_flight.replace(false);
                setter.set(ActionStatus {
                    is_loading: false,
                    outcome: Some(outcome),
                });
            });
        })
    };
    (callback, (*status).clone())
}
