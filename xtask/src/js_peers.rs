//! The JavaScript side of `cargo xtask bench wasm-size`, in the same run: what the Nhost
//! JavaScript SDKs add to a bare React app with the UI of `examples/yew-csr` — issue 14's
//! side-by-side measure.
//!
//! `xtask/js-peers/` holds the apps — `bare.jsx`, with the session faked by local state as
//! `examples/yew-csr-bare` does; `nhost.jsx` on `@nhost/react` 3 (the SDK issue 14 compared
//! with); `nhost-js.jsx` on `@nhost/nhost-js` 4, the current SDK, which has no React package —
//! and the exact versions (`package-lock.json`: `@nhost/react` 3.11.2, `@nhost/nhost-js` 4.7.0,
//! React 18.3.1, esbuild 0.25.12). They are
//! copied to `target/js-peers`, installed there with `npm ci --ignore-scripts` (again only when
//! the lock file changed; esbuild needs no install script, its binary is a package of its own),
//! bundled by esbuild (`--bundle --minify`, production React, ES modules, ES2020) and gzipped
//! (`-9 -n`).

use std::process::{Command, Stdio};

use crate::wasm_size::gzip_len;
use crate::{Result, project_root, target_dir};

/// The files of `xtask/js-peers/` the measurement needs.
const FILES: [&str; 5] = [
    "package.json",
    "package-lock.json",
    "bare.jsx",
    "nhost.jsx",
    "nhost-js.jsx",
];

/// The apps on an SDK: the app's file name (without `.jsx`) and the SDK's package.
const PEERS: [(&str, &str); 2] = [("nhost", "@nhost/react"), ("nhost-js", "@nhost/nhost-js")];

/// Gzipped bundle sizes of the apps, and what they were built from.
pub(crate) struct Sizes {
    /// The bare app.
    pub(crate) bare: u64,
    /// Each SDK's app: the SDK as `package version` (e.g. `@nhost/react 3.11.2`) and its size.
    pub(crate) peers: Vec<(String, u64)>,
    /// The other installed versions, e.g. `react 18.3.1, esbuild 0.25.12`.
    pub(crate) versions: String,
}

/// The packages besides the SDKs whose installed versions [`Sizes::versions`] names.
const NAMED: [&str; 2] = ["react", "esbuild"];

/// All apps bundled and gzipped; `None` (having said why) when npm or a build fails.
pub(crate) fn measure() -> Option<Sizes> {
    match try_measure() {
        Ok(sizes) => Some(sizes),
        Err(e) => {
            eprintln!("xtask: the JavaScript SDKs' comparison was not measured: {e}");
            None
        }
    }
}

/// Where esbuild writes `app`'s bundle.
fn bundle_path(app: &str) -> std::path::PathBuf {
    target_dir()
        .join("js-peers")
        .join("dist")
        .join(format!("{app}.js"))
}

fn try_measure() -> Result<Sizes> {
    let src = project_root().join("xtask").join("js-peers");
    let dir = target_dir().join("js-peers");
    std::fs::create_dir_all(&dir)?;
    let mut lock_changed = false;
    for file in FILES {
        let new = std::fs::read(src.join(file))?;
        let old = std::fs::read(dir.join(file)).ok();
        if old.as_deref() != Some(new.as_slice()) {
            std::fs::write(dir.join(file), &new)?;
            lock_changed |= file == "package-lock.json";
        }
    }
    let esbuild = dir.join("node_modules").join(".bin").join("esbuild");
    if lock_changed || !esbuild.exists() {
        eprintln!(
            "xtask: installing the JavaScript apps' packages (npm ci) into {}",
            dir.display()
        );
        let ok = Command::new("npm")
            .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run npm (is Node.js + npm installed?): {e}"))?
            .success();
        if !ok {
            return Err("npm ci failed".into());
        }
    }
    let bundle = |app: &str| -> Result<u64> {
        let out = bundle_path(app);
        let ok = Command::new(&esbuild)
            .arg(format!("{app}.jsx"))
            .args([
                "--bundle",
                "--minify",
                "--format=esm",
                "--target=es2020",
                "--define:process.env.NODE_ENV=\"production\"",
                "--log-level=warning",
            ])
            .arg(format!("--outfile={}", out.display()))
            .current_dir(&dir)
            .status()?
            .success();
        if !ok {
            return Err(format!("esbuild failed on {app}.jsx").into());
        }
        gzip_len(&out)
    };
    let version = |package: &str| -> String {
        let manifest = dir.join("node_modules").join(package).join("package.json");
        std::fs::read(&manifest)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|v| v.get("version")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| "?".to_owned())
    };
    let mut peers = Vec::new();
    for (app, package) in PEERS {
        peers.push((format!("{package} {}", version(package)), bundle(app)?));
    }
    Ok(Sizes {
        bare: bundle("bare")?,
        peers,
        versions: NAMED
            .iter()
            .map(|p| format!("{p} {}", version(p)))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The bundles measured are apps that work: each SDK's app, built as the bench builds it, driven
/// in headless Chromium against an in-process emulator. Needs Node.js + npm (it fails, never
/// skips, without them), Chromium and ChromeDriver.
#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::response::Html;
    use axum::routing::get;
    use browser_harness::{Browser, ChromeDriver};
    use nhost_auth_emulator::{Config, Emulator};

    use super::*;

    /// `app`'s bundle served at `/app.js` under a page whose `<meta>` names `auth_url`, on
    /// `listener`; returns the page's address. The server runs until the test's runtime ends.
    async fn serve(app: &str, auth_url: String, listener: tokio::net::TcpListener) -> String {
        let script = std::fs::read_to_string(bundle_path(app)).expect("the bundle was built");
        let page = format!(
            "<!doctype html><html><head><meta name=\"nhost-auth-url\" content=\"{auth_url}\">\
             </head><body><div id=\"root\"></div><script type=\"module\" src=\"/app.js\">\
             </script></body></html>"
        );
        let router = Router::new()
            .route("/", get(move || async move { Html(page) }))
            .route(
                "/app.js",
                get(move || async move { ([("content-type", "text/javascript")], script) }),
            );
        let url = format!("http://{}/", listener.local_addr().expect("bound"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        url
    }

    /// `app`'s page open in a new browser, against an emulator whose routes are under `prefix`,
    /// that wants emails verified and whose links lead back to the page.
    async fn open(driver: &ChromeDriver, app: &str, prefix: &str) -> (Emulator, Browser) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let mut config = Config::default();
        config.api_prefix = prefix.to_owned();
        config.anonymous_role = "public".into();
        config.email_verification_required = true;
        config.bcrypt_cost = 4;
        config.client_url = format!("http://{}", listener.local_addr().expect("bound"));
        let auth = Emulator::start(config).await.expect("the emulator starts");
        let page = serve(app, auth.url().to_owned(), listener).await;
        let browser = driver.browser().await;
        browser.goto(&page).await;
        (auth, browser)
    }

    async fn sign_in_anonymously(browser: &Browser) -> String {
        browser.click("#sign-in").await;
        browser
            .wait_for_text("#success", "You are now signed in anonymously")
            .await;
        let id = browser
            .wait_text("[data-testid=user-id]", "should be a user id", |t| {
                t.len() == 36
            })
            .await;
        browser
            .wait_for_text("[data-testid=is-anonymous]", "true")
            .await;
        browser
            .wait_for_text("[data-testid=default-role]", "public")
            .await;
        id
    }

    async fn sign_out(browser: &Browser) {
        browser.click("#sign-out").await;
        browser.wait_gone("[data-testid=user-id]").await;
        browser.wait_element("#sign-in").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_sdks_app_works_against_the_emulator() {
        let sizes = try_measure().expect("the apps are built (Node.js and npm needed)");
        assert!(sizes.peers.iter().all(|(_, size)| *size > sizes.bare));
        let driver = ChromeDriver::start().await;

        // @nhost/nhost-js 4, at an auth URL ending in /v1 as Nhost's do (see nhost-js.jsx):
        // sign-in, the profile, deanonymize with the email to verify, the PKCE link from the
        // mailbox, sign-out.
        let (auth, browser) = open(&driver, "nhost-js", "/v1").await;
        let id = sign_in_anonymously(&browser).await;
        browser
            .type_into("input[name=email]", "ada@example.com")
            .await;
        browser
            .type_into("input[name=password]", "correct horse")
            .await;
        browser.click("#deanonymize button").await;
        browser
            .wait_for_text("#check-mailbox", "Check your mailbox")
            .await;
        let link = auth
            .mailbox()
            .to("ada@example.com")
            .pop()
            .expect("a verification email")
            .link;
        browser.goto(&link).await;
        browser
            .wait_for_text("#email-link", "Your email is verified: you are signed in.")
            .await;
        browser
            .wait_for_text("[data-testid=is-anonymous]", "false")
            .await;
        browser.wait_for_text("[data-testid=user-id]", &id).await;
        assert!(
            !browser.current_url().await.contains("code="),
            "the link's code is taken out of the address bar"
        );
        sign_out(&browser).await;
        browser.close().await;

        // @nhost/react 3 (nhost-js 3 takes the auth URL as it is): sign-in, the profile with its
        // countdown, the deanonymize form, sign-out.
        let (_auth, browser) = open(&driver, "nhost", "").await;
        sign_in_anonymously(&browser).await;
        browser
            .wait_text("[data-testid=expires-in]", "should count down", |t| {
                t.ends_with(" s") && t != "0 s"
            })
            .await;
        browser.wait_element("#deanonymize").await;
        sign_out(&browser).await;
        browser.close().await;
    }
}
