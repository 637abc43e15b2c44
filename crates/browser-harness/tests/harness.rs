//! The harness against a real ChromeDriver and Chromium (`apt-get install chromium
//! chromium-driver`; `CHROMEDRIVER` names another ChromeDriver). The pages are `data:` URLs, so
//! no server is needed.

use std::time::Duration;

use browser_harness::{BrowserOptions, ChromeDriver};
use serde_json::json;

/// A page whose inline script replaces its text while it loads: "js" when scripts run,
/// "static" when they do not.
const SCRIPTED: &str = "data:text/html,<p id=p>static</p>\
    <script>document.getElementById('p').textContent = 'js'</script>";

#[tokio::test]
async fn javascript_can_be_switched_off() {
    let driver = ChromeDriver::start().await;

    // The control: the same page, JavaScript on, runs its script (navigation waits for the
    // load, which comes after the inline script).
    let on = driver.browser().await;
    on.goto(SCRIPTED).await;
    assert_eq!(on.text("#p").await.as_deref(), Some("js"));
    on.close().await;

    let off = driver
        .browser_with(BrowserOptions::default().javascript(false))
        .await;
    off.goto(SCRIPTED).await;
    assert_eq!(off.text("#p").await.as_deref(), Some("static"));
    // The page's own scripts do not run, but WebDriver's do (through DevTools).
    assert_eq!(off.execute("return 40 + 2", vec![]).await, json!(42));
    // The preference is the browser's, so a new tab has no JavaScript either.
    off.open_tab(SCRIPTED).await;
    assert_eq!(off.text("#p").await.as_deref(), Some("static"));
    assert_eq!(
        off.execute("return typeof window.eval", vec![]).await,
        json!("function")
    );
}

#[tokio::test]
async fn tabs_scripts_and_cleanup() {
    let driver = ChromeDriver::start().await;
    let port_url = driver.url();
    let browser = driver.browser().await;
    browser
        .goto("data:text/html,<title>one</title><p id=p>first</p>")
        .await;
    let first = browser.tab().await;

    let second = browser
        .open_tab("data:text/html,<title>two</title><p id=p>second</p>")
        .await;
    assert_ne!(first, second);
    assert_eq!(browser.tabs().await.len(), 2);
    assert_eq!(browser.tab().await, second);
    assert_eq!(browser.text("#p").await.as_deref(), Some("second"));
    browser.switch_to(&first).await;
    assert_eq!(browser.text("#p").await.as_deref(), Some("first"));
    // `Page.bringToFront` made it the visible one.
    assert_eq!(
        browser
            .execute("return document.visibilityState", vec![])
            .await,
        json!("visible")
    );

    assert_eq!(
        browser
            .execute("return arguments[0] + 1", vec![json!(41)])
            .await,
        json!(42)
    );
    let later = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             setTimeout(() => done(arguments[0] * 2), 50);",
            vec![json!(21)],
        )
        .await;
    assert_eq!(later, json!(42));
    let evaluated = browser
        .cdp(
            "Runtime.evaluate",
            json!({ "expression": "document.title", "returnByValue": true }),
        )
        .await;
    assert_eq!(evaluated["result"]["value"], json!("one"));
    browser
        .execute(
            "setTimeout(() => document.getElementById('p').textContent = 'changed', 200)",
            vec![],
        )
        .await;
    browser.wait_for_text("#p", "changed").await;
    assert!(browser.current_url().await.starts_with("data:text/html,"));

    drop(browser);
    drop(driver);
    let port = port_url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .expect("a port");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "ChromeDriver still listens after the drop"
    );
}

#[tokio::test]
async fn a_failed_wait_reports_the_page() {
    let driver = ChromeDriver::start().await;
    let browser = driver
        .browser_with(BrowserOptions::default().wait(Duration::from_millis(300)))
        .await;
    browser
        .goto("data:text/html,<p id=p>hello harness</p>")
        .await;
    let waited = tokio::spawn(async move {
        browser.wait_for_text("#p", "goodbye").await;
    })
    .await;
    let panic = waited.expect_err("the wait should fail").into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    for part in [
        "timed out after 300ms",
        "`#p` should read \"goodbye\": last seen \"hello harness\"",
        "page: data:text/html,",
        "<p id=\"p\">hello harness</p>",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
}
