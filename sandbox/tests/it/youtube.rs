//! YouTube: key check, part check, quota exhaustion, string statistics.

use dropforge_sandbox::{Limits, SandboxConfig};

use crate::helpers::{get_json, start};

#[tokio::test]
async fn key_part_and_statistics() {
    let base = start(SandboxConfig::for_tests()).await;
    let (status, _, v) = get_json(&format!("{base}/youtube/v3/search?part=snippet&q=lamp&key=nope")).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["details"][0]["reason"], "API_KEY_INVALID");
    let (status, _, v) = get_json(&format!("{base}/youtube/v3/search?q=lamp&key=sandbox-yt-key")).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["errors"][0]["reason"], "missingRequiredParameter");

    let (status, _, v) = get_json(&format!(
        "{base}/youtube/v3/search?part=snippet&q=saturated%20viral%20lamp&type=video&order=viewCount&maxResults=10&key=sandbox-yt-key"
    ))
    .await;
    assert_eq!(status, 200, "{v}");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    assert!(items[0].get("statistics").is_none());
    assert!(v["nextPageToken"].is_string());
    let ids: Vec<&str> = items.iter().map(|i| i["id"]["videoId"].as_str().unwrap()).collect();
    let (status, _, v) = get_json(&format!(
        "{base}/youtube/v3/videos?part=snippet,statistics&id={},unknownId12&key=sandbox-yt-key",
        ids.join(",")
    ))
    .await;
    assert_eq!(status, 200);
    let vids = v["items"].as_array().unwrap();
    assert_eq!(vids.len(), ids.len());
    let views: Vec<u64> = vids
        .iter()
        .map(|i| i["statistics"]["viewCount"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(views.windows(2).all(|w| w[0] >= w[1]), "viewCount order {views:?}");
    for i in vids {
        if let Some(l) = i["statistics"].get("likeCount") {
            assert!(l.is_string());
        }
    }
}

#[tokio::test]
async fn quota_exhaustion_gives_403() {
    let cfg = SandboxConfig::for_tests().with_limits(Limits {
        yt_search_calls_per_day: 2,
        ..Limits::default()
    });
    let base = start(cfg).await;
    let u = format!("{base}/youtube/v3/search?part=snippet&q=lamp&key=sandbox-yt-key");
    assert_eq!(get_json(&u).await.0, 200);
    assert_eq!(get_json(&u).await.0, 200);
    let (status, _, v) = get_json(&u).await;
    assert_eq!(status, 403);
    assert_eq!(v["error"]["errors"][0]["reason"], "quotaExceeded");
    assert_eq!(v["error"]["errors"][0]["domain"], "youtube.quota");
    assert_eq!(v["error"]["message"], dropforge_sandbox::youtube::QUOTA_MESSAGE);
    // videos.list draws on the unit budget, not the search bucket.
    let (status, _, _) = get_json(&format!(
        "{base}/youtube/v3/videos?part=statistics&id=x&key=sandbox-yt-key"
    ))
    .await;
    assert_eq!(status, 200);
}
