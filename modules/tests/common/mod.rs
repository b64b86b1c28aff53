//! Helpers shared by the integration tests.

/// Levenshtein distance between two sequences (characters, words).
#[allow(dead_code)] // not every test binary compares strings
pub fn levenshtein<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(x != y)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The frame at `case["t"]` s of `case["media"]` (a golden case), decoded
/// with the ffmpeg command the golden scripts use, after checking that its
/// pixels hash to `case["rgb_sha256"]` (`script` is named when they do not).
#[allow(dead_code)] // not every test binary reads golden frames
pub fn golden_frame(case: &serde_json::Value, script: &str) -> vprog_runtime::value::Frame {
    use sha2::Digest;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let media = case["media"].as_str().expect("media");
    let t = case["t"].as_f64().expect("t");
    let path = root.join(media);
    assert!(path.is_file(), "{} is missing: run `bash scripts/fetch-media.sh`", path.display());
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-ss", &format!("{t}"), "-i"])
        .arg(&path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("the ffmpeg command runs (install FFmpeg)");
    assert!(out.status.success(), "ffmpeg on {media}: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&out.stdout)),
        case["rgb_sha256"].as_str().expect("sha"),
        "{media} @ {t}: ffmpeg gave other pixels than the golden's; regenerate it with {script}"
    );
    let (w, h) = (case["width"].as_u64().expect("width") as u32, case["height"].as_u64().expect("height") as u32);
    vprog_runtime::value::Frame { time: t, width: w, height: h, rgb: out.stdout.into() }
}
