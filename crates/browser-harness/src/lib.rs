//! Test support for the workspace's browser end-to-end tests: headless Chromium driven over
//! WebDriver ([`fantoccini`]) through ChromeDriver, the server under test as a child process,
//! and a proxy that puts a server far away ([`DelayProxy`]).
//!
//! ```no_run
//! # async fn f() {
//! use browser_harness::{BrowserOptions, ChromeDriver, ServerProcess};
//!
//! let server = ServerProcess::start(std::process::Command::new("target/debug/my-server"));
//! let driver = ChromeDriver::start().await;
//! let browser = driver.browser().await;
//! browser.goto(server.url()).await;
//! browser.click("#sign-in").await;
//! browser.wait_for_text("#success", "You are now signed in").await;
//!
//! // A second tab, brought to the front.
//! let first = browser.tab().await;
//! browser.open_tab(server.url()).await;
//! browser.switch_to(&first).await;
//!
//! // A page without JavaScript.
//! let plain = driver.browser_with(BrowserOptions::default().javascript(false)).await;
//! # }
//! ```
//!
//! Everything panics with a message on failure, and nothing waits forever: each WebDriver
//! command has a timeout, and so has each `wait_*`. [`ChromeDriver`], [`Browser`] and
//! [`ServerProcess`] stop their processes (and remove the browser's profile) when they drop,
//! also when a test panics; [`DelayProxy`] stops accepting when it drops.

pub use fantoccini;
/// The JSON of scripts' arguments and results ([`Browser::execute`]).
pub use serde_json;

mod browser;
mod delay_proxy;
mod driver;
mod server;

pub use browser::{Browser, BrowserOptions, Tab};
pub use delay_proxy::DelayProxy;
pub use driver::ChromeDriver;
pub use server::ServerProcess;
