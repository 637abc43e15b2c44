//! One hook per file, re-exported flat.

mod use_access_token;
mod use_anonymous_sign_in;
mod use_authentication_status;
mod use_deanonymize;
#[cfg(feature = "email-links")]
mod use_email_link;
mod use_hasura_claims;
mod use_session;
mod use_sign_in_email_password;
mod use_sign_out;
mod use_sign_up_email_password;
mod use_user_data;
mod use_user_id;
mod use_user_is_anonymous;

pub use use_access_token::use_access_token;
pub use use_anonymous_sign_in::{
    UseAnonymousSignInHandle, use_anonymous_sign_in, use_anonymous_sign_in_with,
};
pub use use_authentication_status::{AuthenticationStatus, use_authentication_status};
pub use use_deanonymize::{UseDeanonymizeHandle, use_deanonymize};
#[cfg(feature = "email-links")]
pub use use_email_link::{UseEmailLinkHandle, use_email_link};
pub use use_hasura_claims::use_hasura_claims;
pub use use_session::use_session;
pub use use_sign_in_email_password::{UseSignInEmailPasswordHandle, use_sign_in_email_password};
pub use use_sign_out::{UseSignOutHandle, use_sign_out};
pub use use_sign_up_email_password::{UseSignUpEmailPasswordHandle, use_sign_up_email_password};
pub use use_user_data::use_user_data;
pub use use_user_id::use_user_id;
pub use use_user_is_anonymous::use_user_is_anonymous;
