//! Configuration: the real server's environment variable names, plus CLI flags.
//!
//! [`Args`] is the one place where a setting gets its name, its environment variable and its
//! default; [`Config::from_env`] and the binary's command line both go through it.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use clap::Parser;

use crate::jwt::{JwtSecret, JwtSecretError};

/// The HS256 key used when `HASURA_GRAPHQL_JWT_SECRET` is not set.
///
/// It is public on purpose: this is a development server, and a fixed key lets a local Hasura
/// (or the `nhost-ssr` middleware) verify the emulator's tokens without extra setup.
/// Never use it for anything that is not local.
pub const DEV_JWT_KEY: &str = "nhost-auth-emulator-development-key-not-for-production-use";

/// Which database the emulator keeps its users and refresh tokens in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file (created if missing), in WAL mode.
    SqliteFile(std::path::PathBuf),
    /// A private in-memory SQLite database: gone when the emulator stops. Meant for tests.
    SqliteMemory,
    /// A PostgreSQL server; tables live in the `auth` schema, as on the real server.
    Postgres(String),
}

impl Database {
    /// Parses a `DATABASE_URL`-style string: `postgres://…`, `sqlite::memory:`, `:memory:`,
    /// `sqlite://path`, `sqlite:path` or a bare file path.
    pub fn parse(url: &str) -> Self {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Database::Postgres(url.to_owned())
        } else if url == ":memory:" || url == "sqlite::memory:" || url == "sqlite://:memory:" {
            Database::SqliteMemory
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            Database::SqliteFile(path.into())
        }
    }
}

/// Per-client-IP rate limits, off by default like the real server's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// `AUTH_RATE_LIMIT_ENABLE`.
    pub enabled: bool,
    /// Every request: `AUTH_RATE_LIMIT_GLOBAL_BURST` per `AUTH_RATE_LIMIT_GLOBAL_INTERVAL` (100 per minute).
    pub global: (u32, Duration),
    /// `/signin*`, `/token`, `/verify`: `AUTH_RATE_LIMIT_BRUTE_FORCE_BURST` per `…_INTERVAL` (10 per 5 minutes).
    pub brute_force: (u32, Duration),
    /// `/signup*` and anonymous sign-in: `AUTH_RATE_LIMIT_SIGNUPS_BURST` per `…_INTERVAL` (10 per 5 minutes).
    pub signups: (u32, Duration),
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            enabled: false,
            global: (100, Duration::from_secs(60)),
            brute_force: (10, Duration::from_secs(300)),
            signups: (10, Duration::from_secs(300)),
        }
    }
}

/// Everything the emulator can be told. Build one with [`Config::default`] (in-memory database,
/// ephemeral port: what tests want) or [`Config::from_env`] (what the binary does), then adjust fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Address to bind (`AUTH_HOST`, default `127.0.0.1`).
    pub host: IpAddr,
    /// Port to bind (`AUTH_PORT`, default 4000; 0 picks a free one).
    pub port: u16,
    /// Prefix of every protocol route, e.g. `/v1` (`AUTH_API_PREFIX`, default empty).
    pub api_prefix: String,
    /// Public URL of this server, used in email links (`AUTH_SERVER_URL`; default: the bound address + prefix).
    pub server_url: Option<String>,
    /// URL of the front end: the default `redirectTo` and the allowed redirect prefix (`AUTH_CLIENT_URL`).
    pub client_url: String,
    /// More allowed redirect URL prefixes (`AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS`, comma-separated).
    pub allowed_redirect_urls: Vec<String>,
    /// Anonymous sign-in on or off (`AUTH_ANONYMOUS_USERS_ENABLED`; **on** by default here).
    pub anonymous_users_enabled: bool,
    /// The only role of anonymous users (`AUTH_ANONYMOUS_USERS_ROLE`, default `anonymous`).
    pub anonymous_role: String,
    /// Refuse every new user (`AUTH_DISABLE_SIGNUP`).
    pub disable_signup: bool,
    /// Magic-link sign-in on or off (`AUTH_EMAIL_PASSWORDLESS_ENABLED`; on by default here).
    pub passwordless_enabled: bool,
    /// Access token lifetime (`AUTH_ACCESS_TOKEN_EXPIRES_IN`, seconds, default 900).
    pub access_token_expires_in: Duration,
    /// Refresh token lifetime, sliding (`AUTH_REFRESH_TOKEN_EXPIRES_IN`, seconds, default 30 days).
    pub refresh_token_expires_in: Duration,
    /// Email must be verified before email+password sign-in (`AUTH_EMAIL_SIGNIN_EMAIL_VERIFIED_REQUIRED`, default true).
    pub email_verification_required: bool,
    /// Minimum password length (`AUTH_PASSWORD_MIN_LENGTH`, default 3).
    pub password_min_length: usize,
    /// Default role of registered users (`AUTH_USER_DEFAULT_ROLE`, default `user`).
    pub user_default_role: String,
    /// Roles a registered user may be given (`AUTH_USER_DEFAULT_ALLOWED_ROLES`, default `me,user`).
    pub user_default_allowed_roles: Vec<String>,
    /// Locale of new users (`AUTH_LOCALE_DEFAULT`, default `en`).
    pub locale_default: String,
    /// Locales users may pick (`AUTH_LOCALE_ALLOWED_LOCALES`, default `en`).
    pub locale_allowed: Vec<String>,
    /// How access tokens are signed (`HASURA_GRAPHQL_JWT_SECRET`; default HS256 with [`DEV_JWT_KEY`]).
    pub jwt_secret: JwtSecret,
    /// Rate limits (`AUTH_RATE_LIMIT_*`).
    pub rate_limits: RateLimits,
    /// Where users live (`DATABASE_URL`).
    pub database: Database,
    /// Serve the emulator-only `/_emulator/*` routes (mailbox, reset, stats) (`AUTH_EMULATOR_ENDPOINTS`, default true).
    /// They are served on a loopback address only, unless
    /// [`emulator_endpoints_beyond_loopback`](Config::emulator_endpoints_beyond_loopback).
    pub emulator_endpoints: bool,
    /// Serve `/_emulator/*` even when bound beyond loopback (`AUTH_EMULATOR_ENDPOINTS_BEYOND_LOOPBACK`,
    /// default false): anyone who reaches the port can then read every magic link and reset the
    /// data. The emulator logs a warning when this is on.
    pub emulator_endpoints_beyond_loopback: bool,
    /// More host names this server answers to (`AUTH_EMULATOR_ALLOWED_HOSTS`, comma-separated):
    /// `name` for one name, `.example.test` for a name and its subdomains. Requests whose `Host`
    /// is not `localhost`, `*.localhost`, an IP address, the host of
    /// [`server_url`](Config::server_url) or one of these are refused with 403 (a DNS rebinding
    /// defence, as in Vite and webpack-dev-server).
    pub allowed_hosts: Vec<String>,
    /// bcrypt cost for new password hashes (`AUTH_BCRYPT_COST`, default 10 like the real server).
    pub bcrypt_cost: u32,
    /// Largest accepted request body, in bytes (`AUTH_MAX_BODY_BYTES`, default 64 KiB).
    pub max_body_bytes: usize,
    /// How long the one-time `code` of a PKCE email link can be exchanged
    /// (`AUTH_EMULATOR_PKCE_CODE_EXPIRES_IN`, seconds, default 300).
    pub pkce_code_expires_in: Duration,
}

impl Default for Config {
    /// Defaults for embedding: like the binary's, but on an ephemeral port with an in-memory database.
    fn default() -> Self {
        Config {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            api_prefix: String::new(),
            server_url: None,
            client_url: "http://localhost:3000".into(),
            allowed_redirect_urls: Vec::new(),
            anonymous_users_enabled: true,
            anonymous_role: "anonymous".into(),
            disable_signup: false,
            passwordless_enabled: true,
            access_token_expires_in: Duration::from_secs(900),
            refresh_token_expires_in: Duration::from_secs(2_592_000),
            email_verification_required: true,
            password_min_length: 3,
            user_default_role: "user".into(),
            user_default_allowed_roles: vec!["me".into(), "user".into()],
            locale_default: "en".into(),
            locale_allowed: vec!["en".into()],
            jwt_secret: JwtSecret::hs256(DEV_JWT_KEY),
            rate_limits: RateLimits::default(),
            database: Database::SqliteMemory,
            emulator_endpoints: true,
            emulator_endpoints_beyond_loopback: false,
            allowed_hosts: Vec::new(),
            bcrypt_cost: 10,
            max_body_bytes: 64 * 1024,
            pkce_code_expires_in: Duration::from_secs(300),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The command line or an environment variable could not be parsed.
    #[error(transparent)]
    Args(#[from] clap::Error),
    /// `HASURA_GRAPHQL_JWT_SECRET` is not usable.
    #[error("HASURA_GRAPHQL_JWT_SECRET: {0}")]
    JwtSecret(#[from] JwtSecretError),
    /// A duration such as `AUTH_RATE_LIMIT_GLOBAL_INTERVAL` could not be parsed.
    #[error("{name}: `{value}` is not a duration (use e.g. `30s`, `5m`, `1h`)")]
    Duration {
        /// The setting.
        name: &'static str,
        /// What it was given.
        value: String,
    },
    /// A setting that parsed but makes no sense.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Reads the configuration from `AUTH_*`, `HASURA_GRAPHQL_JWT_SECRET` and `DATABASE_URL`
    /// environment variables, falling back to the binary's defaults (port 4000, SQLite file
    /// `nhost-auth-emulator.sqlite`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Args::try_parse_from(["nhost-auth-emulator"])?.into_config()
    }

    /// Checks what the fields' types cannot: today, that `client_url` and every
    /// `allowed_redirect_urls` entry is an absolute `http(s)` URL with a host (an empty or
    /// relative one would let `redirectTo` point anywhere). [`Emulator::start`](crate::Emulator::start)
    /// runs this too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        crate::redirect::RedirectPolicy::new(self).map(drop)
    }

    /// The prefix, normalised to `""` or `/something` without a trailing slash.
    pub(crate) fn normalized_prefix(&self) -> String {
        let p = self.api_prefix.trim().trim_end_matches('/');
        if p.is_empty() {
            String::new()
        } else if p.starts_with('/') {
            p.to_owned()
        } else {
            format!("/{p}")
        }
    }
}

/// Command-line flags of the `nhost-auth-emulator` binary; every flag can also be set through the
/// environment variable named in its help.
#[derive(Debug, Parser)]
#[command(
    name = "nhost-auth-emulator",
    version,
    about = "A local server speaking Nhost Auth's protocol"
)]
#[allow(missing_docs)] // clap turns the doc comments into --help; the fields mirror `Config`.
pub struct Args {
    /// Address to bind.
    #[arg(long, env = "AUTH_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to bind (0 picks a free one).
    #[arg(long, env = "AUTH_PORT", default_value_t = 4000)]
    pub port: u16,
    /// Prefix of every protocol route, e.g. /v1.
    #[arg(long, env = "AUTH_API_PREFIX", default_value = "")]
    pub api_prefix: String,
    /// Public URL of this server (used in email links).
    #[arg(long, env = "AUTH_SERVER_URL")]
    pub server_url: Option<String>,
    /// URL of the front end (default redirect target).
    #[arg(long, env = "AUTH_CLIENT_URL", default_value = "http://localhost:3000")]
    pub client_url: String,
    /// More allowed redirect URL prefixes, comma-separated.
    #[arg(
        long,
        env = "AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS",
        value_delimiter = ','
    )]
    pub allowed_redirect_urls: Vec<String>,
    /// Allow anonymous sign-in.
    #[arg(long, env = "AUTH_ANONYMOUS_USERS_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub anonymous_users_enabled: bool,
    /// The role of anonymous users.
    #[arg(long, env = "AUTH_ANONYMOUS_USERS_ROLE", default_value = "anonymous")]
    pub anonymous_role: String,
    /// Refuse new users.
    #[arg(long, env = "AUTH_DISABLE_SIGNUP", default_value_t = false, action = clap::ArgAction::Set)]
    pub disable_signup: bool,
    /// Allow magic-link sign-in.
    #[arg(long, env = "AUTH_EMAIL_PASSWORDLESS_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub passwordless_enabled: bool,
    /// Access token lifetime in seconds.
    #[arg(long, env = "AUTH_ACCESS_TOKEN_EXPIRES_IN", default_value_t = 900)]
    pub access_token_expires_in: u64,
    /// Refresh token lifetime in seconds.
    #[arg(
        long,
        env = "AUTH_REFRESH_TOKEN_EXPIRES_IN",
        default_value_t = 2_592_000
    )]
    pub refresh_token_expires_in: u64,
    /// Require a verified email for email+password sign-in.
    #[arg(long, env = "AUTH_EMAIL_SIGNIN_EMAIL_VERIFIED_REQUIRED", default_value_t = true, action = clap::ArgAction::Set)]
    pub email_verification_required: bool,
    /// Minimum password length.
    #[arg(long, env = "AUTH_PASSWORD_MIN_LENGTH", default_value_t = 3)]
    pub password_min_length: usize,
    /// Default role of registered users.
    #[arg(long, env = "AUTH_USER_DEFAULT_ROLE", default_value = "user")]
    pub user_default_role: String,
    /// Roles registered users may have, comma-separated.
    #[arg(
        long,
        env = "AUTH_USER_DEFAULT_ALLOWED_ROLES",
        value_delimiter = ',',
        default_value = "me,user"
    )]
    pub user_default_allowed_roles: Vec<String>,
    /// Default locale.
    #[arg(long, env = "AUTH_LOCALE_DEFAULT", default_value = "en")]
    pub locale_default: String,
    /// Allowed locales, comma-separated.
    #[arg(
        long,
        env = "AUTH_LOCALE_ALLOWED_LOCALES",
        value_delimiter = ',',
        default_value = "en"
    )]
    pub locale_allowed: Vec<String>,
    /// JWT secret as JSON, e.g. {"type":"HS256","key":"..."}.
    #[arg(long, env = "HASURA_GRAPHQL_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Turn rate limiting on.
    #[arg(long, env = "AUTH_RATE_LIMIT_ENABLE", default_value_t = false, action = clap::ArgAction::Set)]
    pub rate_limit_enable: bool,
    #[arg(long, env = "AUTH_RATE_LIMIT_GLOBAL_BURST", default_value_t = 100)]
    pub rate_limit_global_burst: u32,
    #[arg(long, env = "AUTH_RATE_LIMIT_GLOBAL_INTERVAL", default_value = "1m")]
    pub rate_limit_global_interval: String,
    #[arg(long, env = "AUTH_RATE_LIMIT_BRUTE_FORCE_BURST", default_value_t = 10)]
    pub rate_limit_brute_force_burst: u32,
    #[arg(
        long,
        env = "AUTH_RATE_LIMIT_BRUTE_FORCE_INTERVAL",
        default_value = "5m"
    )]
    pub rate_limit_brute_force_interval: String,
    #[arg(long, env = "AUTH_RATE_LIMIT_SIGNUPS_BURST", default_value_t = 10)]
    pub rate_limit_signups_burst: u32,
    #[arg(long, env = "AUTH_RATE_LIMIT_SIGNUPS_INTERVAL", default_value = "5m")]
    pub rate_limit_signups_interval: String,
    /// Database: a SQLite file path, sqlite::memory:, or a postgres:// URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "nhost-auth-emulator.sqlite",
        hide_env_values = true
    )]
    pub database_url: String,
    /// Serve the emulator-only /_emulator/* routes (mailbox, reset, stats); on a loopback bind only.
    #[arg(long, env = "AUTH_EMULATOR_ENDPOINTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub emulator_endpoints: bool,
    /// Serve /_emulator/* beyond loopback too: anyone who reaches the port can read every magic link.
    #[arg(long, env = "AUTH_EMULATOR_ENDPOINTS_BEYOND_LOOPBACK", default_value_t = false, action = clap::ArgAction::Set)]
    pub emulator_endpoints_beyond_loopback: bool,
    /// More host names to answer to (comma-separated; `.example.test` for a domain and its
    /// subdomains). Always answered: localhost, *.localhost, IP addresses, AUTH_SERVER_URL's host.
    #[arg(long, env = "AUTH_EMULATOR_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// bcrypt cost of new password hashes.
    #[arg(long, env = "AUTH_BCRYPT_COST", default_value_t = 10)]
    pub bcrypt_cost: u32,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "AUTH_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
    /// Lifetime in seconds of the one-time code of a PKCE email link.
    #[arg(
        long,
        env = "AUTH_EMULATOR_PKCE_CODE_EXPIRES_IN",
        default_value_t = 300
    )]
    pub pkce_code_expires_in: u64,
}

impl Args {
    /// Turns parsed flags into a [`Config`], checking what clap cannot.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let jwt_secret = match self.jwt_secret.as_deref() {
            Some(json) if !json.trim().is_empty() => JwtSecret::from_json(json)?,
            _ => JwtSecret::hs256(DEV_JWT_KEY),
        };
        if self
            .locale_allowed
            .iter()
            .all(|l| l != &self.locale_default)
        {
            return Err(ConfigError::Invalid(format!(
                "AUTH_LOCALE_DEFAULT `{}` is not in AUTH_LOCALE_ALLOWED_LOCALES",
                self.locale_default
            )));
        }
        if self.access_token_expires_in == 0 {
            return Err(ConfigError::Invalid(
                "AUTH_ACCESS_TOKEN_EXPIRES_IN must be at least 1 second".into(),
            ));
        }
        if self.pkce_code_expires_in == 0 {
            return Err(ConfigError::Invalid(
                "AUTH_EMULATOR_PKCE_CODE_EXPIRES_IN must be at least 1 second".into(),
            ));
        }
        if !(4..=31).contains(&self.bcrypt_cost) {
            return Err(ConfigError::Invalid(
                "AUTH_BCRYPT_COST must be between 4 and 31".into(),
            ));
        }
        let rate_limits = RateLimits {
            enabled: self.rate_limit_enable,
            global: (
                self.rate_limit_global_burst,
                parse_duration(
                    "AUTH_RATE_LIMIT_GLOBAL_INTERVAL",
                    &self.rate_limit_global_interval,
                )?,
            ),
            brute_force: (
                self.rate_limit_brute_force_burst,
                parse_duration(
                    "AUTH_RATE_LIMIT_BRUTE_FORCE_INTERVAL",
                    &self.rate_limit_brute_force_interval,
                )?,
            ),
            signups: (
                self.rate_limit_signups_burst,
                parse_duration(
                    "AUTH_RATE_LIMIT_SIGNUPS_INTERVAL",
                    &self.rate_limit_signups_interval,
                )?,
            ),
        };
        let trimmed = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let config = Config {
            host: self.host,
            port: self.port,
            api_prefix: self.api_prefix,
            server_url: self.server_url.filter(|s| !s.trim().is_empty()),
            client_url: self.client_url,
            allowed_redirect_urls: trimmed(self.allowed_redirect_urls),
            anonymous_users_enabled: self.anonymous_users_enabled,
            anonymous_role: self.anonymous_role,
            disable_signup: self.disable_signup,
            passwordless_enabled: self.passwordless_enabled,
            access_token_expires_in: Duration::from_secs(self.access_token_expires_in),
            refresh_token_expires_in: Duration::from_secs(self.refresh_token_expires_in),
            email_verification_required: self.email_verification_required,
            password_min_length: self.password_min_length,
            user_default_role: self.user_default_role,
            user_default_allowed_roles: trimmed(self.user_default_allowed_roles),
            locale_default: self.locale_default,
            locale_allowed: trimmed(self.locale_allowed),
            jwt_secret,
            rate_limits,
            database: Database::parse(&self.database_url),
            emulator_endpoints: self.emulator_endpoints,
            emulator_endpoints_beyond_loopback: self.emulator_endpoints_beyond_loopback,
            allowed_hosts: trimmed(self.allowed_hosts),
            bcrypt_cost: self.bcrypt_cost,
            max_body_bytes: self.max_body_bytes,
            pkce_code_expires_in: Duration::from_secs(self.pkce_code_expires_in),
        };
        config.validate()?;
        Ok(config)
    }
}

/// Parses Go-style durations as the real server's settings use them: `90s`, `5m`, `1h`, or bare seconds.
fn parse_duration(name: &'static str, value: &str) -> Result<Duration, ConfigError> {
    let v = value.trim();
    let err = || ConfigError::Duration {
        name,
        value: value.to_owned(),
    };
    let (num, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let n: u64 = num.parse().map_err(|_| err())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(err()),
    };
    if secs == 0 {
        return Err(err());
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(Database::parse(":memory:"), Database::SqliteMemory);
        assert_eq!(Database::parse("sqlite::memory:"), Database::SqliteMemory);
        assert_eq!(
            Database::parse("sqlite://a/b.db"),
            Database::SqliteFile("a/b.db".into())
        );
        assert_eq!(
            Database::parse("x.sqlite"),
            Database::SqliteFile("x.sqlite".into())
        );
        assert_eq!(
            Database::parse("postgres://u@h/db"),
            Database::Postgres("postgres://u@h/db".into())
        );
    }

    #[test]
    fn durations() {
        for (input, secs) in [("30s", 30), ("5m", 300), ("1h", 3600), ("42", 42)] {
            assert_eq!(
                parse_duration("X", input).ok(),
                Some(Duration::from_secs(secs)),
                "{input}"
            );
        }
        for bad in ["", "m", "5d", "-1s", "0s"] {
            assert!(parse_duration("X", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn binary_defaults_match_the_real_server() {
        let args = Args::try_parse_from(["x"]).expect("defaults parse");
        let c = args.into_config().expect("defaults are valid");
        assert_eq!(c.port, 4000);
        assert!(c.anonymous_users_enabled);
        assert_eq!(c.anonymous_role, "anonymous");
        assert_eq!(c.access_token_expires_in, Duration::from_secs(900));
        assert_eq!(c.refresh_token_expires_in, Duration::from_secs(2_592_000));
        assert_eq!(c.user_default_allowed_roles, ["me", "user"]);
        assert!(!c.rate_limits.enabled);
        assert!(c.emulator_endpoints && !c.emulator_endpoints_beyond_loopback);
        assert!(c.allowed_hosts.is_empty());
        assert_eq!(c.pkce_code_expires_in, Duration::from_secs(300));
    }

    #[test]
    fn an_empty_client_url_is_refused() {
        let err = Args::try_parse_from(["x", "--client-url", ""])
            .expect("flags parse")
            .into_config()
            .expect_err("refused")
            .to_string();
        assert!(err.starts_with("AUTH_CLIENT_URL"), "{err}");
    }

    #[test]
    fn prefix_is_normalised() {
        for (raw, want) in [("", ""), ("/", ""), ("v1", "/v1"), ("/v1/", "/v1")] {
            let c = Config {
                api_prefix: raw.into(),
                ..Config::default()
            };
            assert_eq!(c.normalized_prefix(), want);
        }
    }
}
