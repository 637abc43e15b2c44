//! Durability: a session acknowledged with 200 survives the server process being killed with
//! SIGKILL and restarted on the same SQLite file.

mod common;

use std::path::PathBuf;

use common::start_binary as start;
use serde_json::{Value, json};

fn temp_db() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "nhost-emulator-durability-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join("auth.sqlite")
}

async fn refresh(http: &reqwest::Client, url: &str, token: &str) -> reqwest::Response {
    http.post(format!("{url}/token"))
        .json(&json!({ "refreshToken": token }))
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn acknowledged_sessions_survive_sigkill() {
    let db = temp_db();
    let http = reqwest::Client::new();
    let (mut child, url) = start(&db);

    // Sign in 20 users and rotate each token once: every one of these 40 answers was a 200.
    let mut sessions = Vec::new();
    for _ in 0..20 {
        let res = http
            .post(format!("{url}/signin/anonymous"))
            .send()
            .await
            .expect("sign-in sent");
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("json");
        let first = body["session"]["refreshToken"]
            .as_str()
            .expect("refreshToken")
            .to_owned();
        let res = refresh(&http, &url, &first).await;
        assert_eq!(res.status(), 200);
        let session: Value = res.json().await.expect("json");
        sessions.push((
            session["refreshToken"]
                .as_str()
                .expect("rotated token")
                .to_owned(),
            session["user"]["id"].as_str().expect("user id").to_owned(),
        ));
    }

    // SIGKILL: no graceful shutdown, no checkpoint.
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    let (mut child, url) = start(&db);
    for (token, user_id) in &sessions {
        let res = refresh(&http, &url, token).await;
        assert_eq!(res.status(), 200, "session of {user_id} lost after SIGKILL");
        let session: Value = res.json().await.expect("json");
        assert_eq!(session["user"]["id"], user_id.as_str());
    }
    child.kill().expect("stop");
    child.wait().expect("reaped");
    let _ = std::fs::remove_dir_all(db.parent().expect("temp dir"));
}
