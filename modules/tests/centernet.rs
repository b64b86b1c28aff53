//! CenterNet (COCO-80) on the candle TF.js interpreter against TensorFlow.js.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod common;

use vprog_modules::vision::centernet::{decode, CenterNet, COCO_LABELS};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn model_dir() -> PathBuf {
    if let Ok(d) = std::env::var("VPROG_TEST_CENTERNET_DIR") {
        return PathBuf::from(d);
    }
    match vprog_modules::ModelStore::from_env().locate("centernet-coco") {
        Ok(m) => m.dir,
        Err(e) => panic!("{e}: run `vprog models fetch centernet-coco`"),
    }
}

fn detector() -> &'static CenterNet {
    static NET: OnceLock<CenterNet> = OnceLock::new();
    NET.get_or_init(|| CenterNet::load(&model_dir(), &candle_core::Device::Cpu).expect("centernet-coco loads"))
}

fn golden() -> &'static serde_json::Value {
    static GOLDEN: OnceLock<serde_json::Value> = OnceLock::new();
    GOLDEN.get_or_init(|| {
        let text = std::fs::read_to_string(root().join("scripts/goldens/tfjs/detect.json")).expect("scripts/goldens/tfjs/detect.json");
        serde_json::from_str(&text).expect("golden JSON")
    })
}

/// Runs the network on every golden frame once: `(case, input, keypoints, sizes)`.
fn outputs() -> &'static [(serde_json::Value, candle_core::Tensor, candle_core::Tensor, candle_core::Tensor)] {
    static OUT: OnceLock<Vec<(serde_json::Value, candle_core::Tensor, candle_core::Tensor, candle_core::Tensor)>> = OnceLock::new();
    OUT.get_or_init(|| {
        let net = detector();
        golden()["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .map(|case| {
                let f = common::golden_frame(case, "scripts/goldens/tfjs/detect.mjs");
                let input = net.input(&f.rgb, f.width as usize, f.height as usize).expect("input");
                let (k, s) = net.forward(&input).expect("forward");
                (case.clone(), input, k, s)
            })
            .collect()
    })
}

fn values(t: &candle_core::Tensor) -> Vec<f32> {
    t.flatten_all().and_then(|t| t.to_vec1::<f32>()).expect("f32 tensor")
}

/// The golden's sampled values of a tensor against ours, within `tol` (absolute).
fn check_samples(what: &str, ours: &[f32], golden: &serde_json::Value, tol: f32) -> f32 {
    let idx = golden["sample_index"].as_array().expect("sample_index");
    let want = golden["sample"].as_array().expect("sample");
    let mut worst = 0f32;
    for (i, w) in idx.iter().zip(want) {
        let i = i.as_u64().expect("index") as usize;
        let d = (ours[i] - w.as_f64().expect("value") as f32).abs();
        worst = worst.max(d);
        assert!(d <= tol, "{what}[{i}]: ours {} vs TF.js {w} (tolerance {tol})", ours[i]);
    }
    worst
}

#[test]
fn input_matches_tfjs_resize() {
    for (case, input, _, _) in outputs() {
        let worst = check_samples("input", &values(input), &case["centernet"]["input"], 1e-3);
        assert!(worst <= 1e-3, "{} @ {}", case["media"], case["t"]);
    }
}

#[test]
fn heatmap_and_sizes_match_tfjs() {
    let (mut worst_k, mut worst_s) = (0f32, 0f32);
    for (case, _, k, s) in outputs() {
        let g = &case["centernet"]["outputs"];
        let what = format!("{} @ {}", case["media"], case["t"]);
        worst_k = worst_k.max(check_samples(&format!("keypoints {what}"), &values(k), &g["tower_0/keypoints"], 2e-4));
        worst_s = worst_s.max(check_samples(&format!("wh {what}"), &values(s), &g["tower_0/wh"], 0.05));
        let mean = k.mean_all().and_then(|m| m.to_scalar::<f32>()).expect("mean");
        let want = g["tower_0/keypoints"]["stats"]["mean"].as_f64().expect("mean") as f32;
        assert!((mean - want).abs() <= 1e-5, "keypoints mean {mean} vs TF.js {want} ({what})");
    }
    println!("worst sampled difference: keypoints {worst_k:.2e}, wh {worst_s:.2e} px");
}

/// Every TF.js detection row scoring ≥ 0.02 is one of our peaks: same class,
/// score within 2e-4, box within 0.1 px (input pixels); and the ranking of
/// rows scoring ≥ 0.05 is the same where scores differ by more than 1e-3.
#[test]
fn decoded_peaks_match_the_graph_detections() {
    let mut compared = 0;
    for (case, _, k, s) in outputs() {
        let net = detector();
        let ours = decode(k, s, net.config(), 0.0, 100).expect("decode");
        let rows = case["centernet"]["outputs"]["tower_0/detections"]["rows"].as_array().expect("rows");
        let what = format!("{} @ {}", case["media"], case["t"]);
        for row in rows {
            let r: Vec<f32> = row.as_array().expect("row").iter().map(|v| v.as_f64().expect("number") as f32).collect();
            if r[4] < 0.02 {
                continue;
            }
            let class = r[5] as usize;
            let hit = ours.iter().find(|p| {
                p.class == class
                    && (p.score - r[4]).abs() <= 2e-4
                    && [(p.x1, r[0]), (p.y1, r[1]), (p.x2, r[2]), (p.y2, r[3])].iter().all(|(a, b)| (a - b).abs() <= 0.1)
            });
            assert!(hit.is_some(), "{what}: TF.js row {r:?} ({}) has no matching peak; ours: {:?}", COCO_LABELS[class], &ours[..5]);
            compared += 1;
        }
        let top: Vec<(usize, f32)> = ours.iter().filter(|p| p.score >= 0.05).map(|p| (p.class, p.score)).collect();
        let want: Vec<(usize, f32)> = rows
            .iter()
            .map(|r| (r[5].as_f64().expect("class") as usize, r[4].as_f64().expect("score") as f32))
            .filter(|(_, s)| *s >= 0.05)
            .collect();
        assert_eq!(top.len(), want.len(), "{what}: peaks ≥ 0.05: ours {top:?}, TF.js {want:?}");
        for (i, (a, b)) in top.iter().zip(&want).enumerate() {
            let tie = want.get(i + 1).is_some_and(|n| (n.1 - b.1).abs() <= 1e-3) || (i > 0 && (want[i - 1].1 - b.1).abs() <= 1e-3);
            assert!(tie || a.0 == b.0, "{what}: rank {i}: ours {a:?}, TF.js {b:?}");
        }
    }
    assert!(compared >= 30, "only {compared} TF.js rows compared");
}

#[test]
fn truncated_or_corrupt_model_names_the_fetch_command() {
    let src = model_dir();
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["centernet.json", "centernet.bin"] {
        std::fs::copy(src.join(f), dir.path().join(f)).expect("copy");
    }
    let bin = dir.path().join("centernet.bin");
    let bytes = std::fs::read(&bin).expect("read");
    std::fs::write(&bin, &bytes[..bytes.len() / 2]).expect("truncate");
    let e = CenterNet::load(dir.path(), &candle_core::Device::Cpu).expect_err("a truncated shard is refused").to_string();
    assert!(e.contains("vprog models fetch centernet-coco --force"), "{e}");
    std::fs::write(&bin, &bytes).expect("restore");
    std::fs::write(dir.path().join("centernet.json"), b"{\"format\": \"graph-model\", \"modelTopology\": ").expect("corrupt");
    let e = CenterNet::load(dir.path(), &candle_core::Device::Cpu).expect_err("corrupt JSON is refused").to_string();
    assert!(e.contains("vprog models fetch centernet-coco --force"), "{e}");
    let e = CenterNet::load(&dir.path().join("absent"), &candle_core::Device::Cpu).expect_err("a missing model is refused").to_string();
    assert!(e.contains("vprog models fetch centernet-coco --force"), "{e}");
}

#[test]
fn odd_frames_run_and_bad_buffers_are_refused() {
    let net = detector();
    // Tiny, grey and 4K frames go through the stretch to 512x512.
    for (w, h, fill) in [(16usize, 16usize, 128u8), (3840, 2160, 90), (1, 1, 0)] {
        let rgb = vec![fill; w * h * 3];
        let peaks = net.peaks(&rgb, w, h, 0.3, 100).expect("a flat frame runs");
        assert!(peaks.is_empty(), "{w}x{h} flat frame: {peaks:?}");
    }
    let e = net.input(&[0u8; 10], 4, 4).expect_err("a short buffer is refused").to_string();
    assert!(e.contains("4x4"), "{e}");
    let e = net.input(&[], 0, 0).expect_err("an empty frame is refused").to_string();
    assert!(e.contains("0x0"), "{e}");
}
