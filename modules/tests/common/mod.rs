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

/// One hand-labelled box of `examples/detect`.
#[allow(dead_code)] // not every test binary reads the detection labels
pub struct Truth {
    /// The COCO class name.
    pub label: String,
    /// The box in frame pixels (labelled with the class, score 1).
    pub bbox: vprog_runtime::value::BBox,
    /// Marked difficult: neither a miss nor a false positive when scored.
    pub difficult: bool,
}

/// One hand-labelled frame of `examples/detect`.
#[allow(dead_code)] // not every test binary reads the detection labels
pub struct Labelled {
    /// The image's name, e.g. `bikes_4.5`.
    pub name: String,
    /// The media it was taken from, e.g. `media/bikes.mp4`.
    pub source: String,
    /// The frame, at its time in the media.
    pub frame: vprog_runtime::value::Frame,
    /// Its boxes.
    pub truth: Vec<Truth>,
}

/// The 30 hand-labelled frames of `examples/detect` (`labels.jsonl` and its PNGs).
#[allow(dead_code)] // not every test binary reads the detection labels
pub fn detect_labels() -> Vec<Labelled> {
    use vprog_runtime::value::{BBox, Frame};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/detect");
    let text = std::fs::read_to_string(dir.join("labels.jsonl")).expect("examples/detect/labels.jsonl");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let image = v["image"].as_str().expect("image");
            let img = image::open(dir.join(image)).expect("a PNG frame").to_rgb8();
            let (width, height) = img.dimensions();
            let truth = v["objects"]
                .as_array()
                .expect("objects")
                .iter()
                .map(|o| {
                    let b: Vec<f32> = o["box"].as_array().expect("box").iter().map(|x| x.as_f64().expect("number") as f32).collect();
                    let label = o["label"].as_str().expect("label").to_string();
                    Truth {
                        bbox: BBox { x: b[0], y: b[1], w: b[2], h: b[3], label: label.clone(), score: 1.0 },
                        label,
                        difficult: o["difficult"].as_bool().unwrap_or(false),
                    }
                })
                .collect();
            Labelled {
                name: image.trim_start_matches("frames/").trim_end_matches(".png").to_string(),
                source: v["source"].as_str().expect("source").to_string(),
                frame: Frame { time: v["t"].as_f64().expect("t"), width, height, rgb: img.into_raw().into() },
                truth,
            }
        })
        .collect()
}
