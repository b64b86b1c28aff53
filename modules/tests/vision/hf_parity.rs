//! The candle ports of Hugging Face vision-language checkpoints against
//! PyTorch `transformers`: tiny randomly initialised checkpoints with each
//! model's real architecture, run by the reference on real frames of the
//! project's media (`bbb.mp4` at 60 s, `vtest.avi` at 20 s, committed as
//! lossless PNG) and real texts, with full preprocessing. The goldens and
//! checkpoints are in `modules/tests/data/hf`, written by
//! `scripts/parity/make_goldens.py` (torch 2.15.0, transformers 5.23.0);
//! these tests need no torch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use vprog_modules::vision::blip::BlipCheckpoint;
use vprog_modules::vision::clip::ClipCheckpoint;
use vprog_modules::vision::frame_search::FrameSearch;
use vprog_modules::vision::preprocess::ImageProcessor;
use vprog_runtime::value::Frame;
use vprog_runtime::ModuleError;

/// Largest difference allowed between candle and PyTorch, both in f32.
const TOLERANCE: f32 = 1e-4;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hf")
}

fn goldens(model: &str) -> (HashMap<String, Tensor>, serde_json::Value) {
    let dir = data().join(model);
    let tensors = candle_core::safetensors::load(dir.join("goldens.safetensors"), &Device::Cpu).expect("goldens.safetensors");
    let meta =
        serde_json::from_str(&std::fs::read_to_string(dir.join("goldens.json")).expect("goldens.json")).expect("goldens.json is JSON");
    (tensors, meta)
}

fn frames(meta: &serde_json::Value) -> Vec<Frame> {
    let names = meta["frames"].as_array().expect("frames");
    names
        .iter()
        .map(|n| {
            let img = image::open(data().join("frames").join(n.as_str().expect("a name"))).expect("a PNG frame").to_rgb8();
            Frame { time: 0.0, width: img.width(), height: img.height(), rgb: Arc::from(img.into_raw()) }
        })
        .collect()
}

fn texts(meta: &serde_json::Value) -> Vec<String> {
    meta["texts"].as_array().expect("texts").iter().map(|t| t.as_str().expect("a text").to_string()).collect()
}

/// Largest absolute difference, after checking the shapes agree.
fn max_abs_diff(ours: &Tensor, reference: &Tensor) -> candle_core::Result<f32> {
    assert_eq!(ours.dims(), reference.dims(), "shapes differ");
    let d = (ours.to_dtype(DType::F32)? - reference.to_dtype(DType::F32)?)?;
    d.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()
}

type Outcome = Result<(), Box<dyn std::error::Error>>;

#[test]
fn clip_preprocessing_matches_transformers_on_real_frames() -> Outcome {
    let (g, meta) = goldens("clip-tiny");
    let clip = ClipCheckpoint::open("clip-tiny", &data().join("clip-tiny"), &Device::Cpu).expect("the tiny CLIP loads");
    let frames = frames(&meta);
    let ours = clip.pixel_values(&frames, &Device::Cpu).expect("preprocessing");
    // Same 8-bit resize, crop and float arithmetic: equal to float rounding.
    let diff = max_abs_diff(&ours, &g["pixel_values"])?;
    eprintln!("CLIP pixel values: max abs difference {diff:e}");
    assert!(diff <= 1e-6, "pixel values differ by {diff}");
    // The check can tell filters apart: a bilinear resize is far off.
    let config = std::fs::read_to_string(data().join("clip-tiny/preprocessor_config.json"))?.replace("\"resample\": 3", "\"resample\": 2");
    let bilinear = ImageProcessor::from_json(&config)?.pixel_values(&frames, &Device::Cpu)?;
    let off = max_abs_diff(&bilinear, &g["pixel_values"])?;
    assert!(off > 0.05, "a bilinear resize differs by only {off}");
    Ok(())
}

#[test]
fn clip_tokens_match_transformers_on_real_texts() -> Outcome {
    let (g, meta) = goldens("clip-tiny");
    let clip = ClipCheckpoint::open("clip-tiny", &data().join("clip-tiny"), &Device::Cpu).expect("the tiny CLIP loads");
    let texts = texts(&meta);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ours = clip.input_ids(&refs, &Device::Cpu).expect("tokenizing").to_dtype(DType::I64)?.to_vec2::<i64>()?;
    let reference = g["input_ids"].to_vec2::<i64>()?;
    let mask = g["attention_mask"].to_vec2::<i64>()?;
    // Equal where the reference's attention mask is set (padding ids are
    // never attended to); the long text is cut at 77 with its end token.
    for (row, (o, r)) in ours.iter().zip(&reference).enumerate() {
        let real: Vec<i64> = r.iter().zip(&mask[row]).filter(|(_, m)| **m == 1).map(|(t, _)| *t).collect();
        assert_eq!(&o[..real.len()], &real[..], "text {row}");
    }
    assert_eq!(reference[4].len(), 77);
    assert_eq!(reference[4][76], 49407);
    Ok(())
}

#[test]
fn clip_embeddings_and_logits_match_transformers() -> Outcome {
    let (g, meta) = goldens("clip-tiny");
    let clip = ClipCheckpoint::open("clip-tiny", &data().join("clip-tiny"), &Device::Cpu).expect("the tiny CLIP loads");
    // The model alone, on the reference's own inputs.
    let image = clip.model.image_features(&g["pixel_values"])?;
    let diff = max_abs_diff(&image, &g["image_embeds"])?;
    eprintln!("CLIP image features: max abs difference {diff:e}");
    assert!(diff <= TOLERANCE, "image features differ by {diff}");
    let text = clip.model.text_features(&g["input_ids"])?;
    let diff = max_abs_diff(&text, &g["text_embeds"])?;
    eprintln!("CLIP text features: max abs difference {diff:e}");
    assert!(diff <= TOLERANCE, "text features differ by {diff}");
    // End to end: frames and texts in, similarity logits out.
    let texts = texts(&meta);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let i = clip.embed_frames(&frames(&meta), &Device::Cpu)?;
    let t = clip.embed_texts(&refs, &Device::Cpu)?;
    let logits = (i.matmul(&t.t()?)? * f64::from(clip.model.logit_scale()?))?;
    let diff = max_abs_diff(&logits, &g["logits_per_image"])?;
    eprintln!("CLIP logits, end to end: max abs difference {diff:e}");
    assert!(diff <= TOLERANCE * 10.0, "logits differ by {diff}");
    Ok(())
}

#[test]
fn damaged_clip_checkpoints_are_clear_errors() -> Outcome {
    let src = data().join("clip-tiny");
    let tmp = tempfile::tempdir()?;
    let copy = |skip: &str| -> std::io::Result<PathBuf> {
        let dir = tmp.path().join(skip.replace('.', "_"));
        std::fs::create_dir_all(&dir)?;
        for f in vprog_modules::vision::clip::FILES {
            if f != skip {
                std::fs::copy(src.join(f), dir.join(f))?;
            }
        }
        Ok(dir)
    };
    let open = |dir: &Path| match ClipCheckpoint::open("broken", dir, &Device::Cpu) {
        Ok(_) => panic!("a damaged checkpoint loaded"),
        Err(ModuleError::BadModel { path, reason, .. }) => (path, reason),
        Err(e) => panic!("not a BadModel error: {e}"),
    };
    // A missing file is named, with what the directory must hold.
    let (path, reason) = open(&copy("tokenizer.json")?);
    assert!(path.ends_with("tokenizer.json") && reason.contains("preprocessor_config.json"), "{reason}");
    // A missing tensor is named.
    let dir = copy("model.safetensors")?;
    let mut tensors = candle_core::safetensors::load(src.join("model.safetensors"), &Device::Cpu)?;
    tensors.remove("vision_model.embeddings.class_embedding");
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
    let (path, reason) = open(&dir);
    assert!(path.ends_with("model.safetensors") && reason.contains("vision_model.embeddings.class_embedding"), "{reason}");
    // A tensor of the wrong shape is named.
    let t = tensors.get("text_projection.weight").ok_or("no text_projection.weight")?.t()?.contiguous()?;
    tensors.insert("vision_model.embeddings.class_embedding".into(), Tensor::zeros(32, DType::F32, &Device::Cpu)?);
    tensors.insert("text_projection.weight".into(), t);
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
    let (_, reason) = open(&dir);
    assert!(reason.contains("text_projection"), "{reason}");
    // An architecture candle's CLIP does not run.
    let dir = copy("config.json")?;
    let config = std::fs::read_to_string(src.join("config.json"))?.replace("\"model_type\": \"clip\"", "\"model_type\": \"siglip\"");
    std::fs::write(dir.join("config.json"), config)?;
    let (path, reason) = open(&dir);
    assert!(path.ends_with("config.json") && reason.contains("siglip"), "{reason}");
    // Garbage weights.
    let dir = copy("model.safetensors")?;
    std::fs::write(dir.join("model.safetensors"), b"not a safetensors file")?;
    let (path, _) = open(&dir);
    assert!(path.ends_with("model.safetensors"));
    Ok(())
}

/// `retrieve_frames` with the tiny CLIP installed as `clip-vit-b32` in a
/// scratch store: a call on `bbb.mp4`.
async fn retrieve(
    store: &Arc<vprog_modules::ModelStore>,
    cache: &Path,
    query: &str,
) -> (Result<vprog_runtime::Value, ModuleError>, vprog_runtime::StepContext) {
    use vprog_runtime::value::{Clip, TimeRange};
    use vprog_runtime::{Module as _, Value};
    let module =
        vprog_modules::vision::retrieve_frames::RetrieveFrames::new(Arc::new(FrameSearch::new(store.clone(), Some(cache.to_path_buf()))));
    let video = vprog_modules::video::open_video(&super::media("bbb.mp4"), None).expect("bbb.mp4 opens");
    let clip = Clip::new(video, [TimeRange { start: 50.0, end: 70.0 }]);
    let named = vec![("clip", Value::Clip(Arc::new(clip))), ("query", Value::text(query)), ("k", Value::Int(3))];
    let args = vprog_runtime::Args::with_defaults(module.signature(), named, vec![]);
    let ctx = vprog_runtime::StepContext::standalone("test");
    (module.call(args, &ctx).await, ctx)
}

#[tokio::test]
async fn retrieve_frames_returns_the_most_similar_frames_and_embeds_a_video_once() -> Outcome {
    use vprog_runtime::Module as _;
    let root = tempfile::tempdir()?;
    let store = Arc::new(vprog_modules::ModelStore::at(root.path().join("models")));
    let cache = root.path().join("cache");
    // Without the model: registered and typed, marked, and a clear error when run.
    let module =
        vprog_modules::vision::retrieve_frames::RetrieveFrames::new(Arc::new(FrameSearch::new(store.clone(), Some(cache.clone()))));
    assert_eq!(module.missing_model().as_deref(), Some("vprog models fetch clip-vit-b32"));
    match retrieve(&store, &cache, "a rabbit").await.0 {
        Err(ModuleError::MissingModel { install, .. }) => assert!(install.contains("vprog models fetch clip-vit-b32"), "{install}"),
        other => panic!("expected MissingModel, got {other:?}"),
    }
    vprog_models::hub::add(&store, "clip-vit-b32", &data().join("clip-tiny"), &mut |_| {})?;
    assert_eq!(module.missing_model(), None);

    let (out, ctx) = retrieve(&store, &cache, "a big white rabbit standing under a tree").await;
    let picked = match out? {
        vprog_runtime::Value::Frames(f) => f,
        other => panic!("expected Frames, got {}", other.summary()),
    };
    let note = ctx.notes.get("retrieve_frames").ok_or("a note")?;
    assert_eq!(note["frame_embeddings"], "computed");
    assert_eq!(note["frames_scanned"], 20);
    // The same ranking computed independently: every sampled frame embedded,
    // cosine with the query, the three best, in time order.
    let clip = ClipCheckpoint::open("clip", &data().join("clip-tiny"), &Device::Cpu)?;
    let video = vprog_modules::video::open_video(&super::media("bbb.mp4"), None)?;
    let c = vprog_runtime::value::Clip::new(video, [vprog_runtime::value::TimeRange { start: 50.0, end: 70.0 }]);
    let all = vprog_modules::video::sample_clip(
        &c,
        &vprog_modules::video::SampleMode::Fps(1.0),
        vprog_modules::vision::frame_search::DECODE_SIZE,
        &vprog_runtime::module::Progress::hidden(),
        &vprog_runtime::module::StopSignal::never(),
    )?
    .frames;
    let f = clip.embed_frames(&all, &Device::Cpu)?;
    let q = clip.embed_texts(&["a big white rabbit standing under a tree"], &Device::Cpu)?;
    let scores: Vec<f32> = f.matmul(&q.t()?)?.flatten_all()?.to_vec1()?;
    let mut best = vprog_modules::vision::frame_search::top_k(&scores, 3);
    best.sort_unstable();
    let times: Vec<f64> = picked.iter().map(|f| f.time).collect();
    assert_eq!(times, best.iter().map(|&i| all[i].time).collect::<Vec<_>>());
    let noted: Vec<f64> = note["best"].as_array().ok_or("best")?.iter().filter_map(|b| b["score"].as_f64()).collect();
    assert_eq!(noted.len(), 3);
    assert!(noted.windows(2).all(|w| w[0] >= w[1]), "scores best first: {noted:?}");

    // A second query on the same video embeds only the text: the frame
    // embeddings come from memory in this process, from disk in a new one.
    let (_, ctx) = retrieve(&store, &cache, "people walking across a square").await;
    let source = ctx.notes.get("retrieve_frames").ok_or("a note")?["frame_embeddings"].clone();
    assert!(source == "disk" || source == "memory", "{source}");
    assert!(std::fs::read_dir(&cache)?.count() > 0, "embeddings were written to the disk cache");
    Ok(())
}

fn ids(t: &Tensor) -> candle_core::Result<Vec<Vec<u32>>> {
    t.to_dtype(DType::U32)?.to_vec2::<u32>()
}

/// `transformers`' output rows (`[DEC]`, prompt, caption, padding) cut to
/// the caption: after `skip` tokens, up to the end token or padding.
fn captions_of(rows: &[Vec<u32>], skip: usize, end: u32) -> Vec<Vec<u32>> {
    rows.iter().map(|r| r[skip..].iter().copied().take_while(|t| *t != end && *t != 0).collect()).collect()
}

#[test]
fn blip_preprocessing_and_image_features_match_transformers() -> Outcome {
    let (g, meta) = goldens("blip-tiny");
    let blip = BlipCheckpoint::open("blip-tiny", &data().join("blip-tiny"), &Device::Cpu).expect("the tiny BLIP loads");
    // BLIP resizes to 384x384 without keeping the aspect (no crop).
    let pixels = blip.pixel_values(&frames(&meta), &Device::Cpu)?;
    let diff = max_abs_diff(&pixels, &g["pixel_values"])?;
    eprintln!("BLIP pixel values: max abs difference {diff:e}");
    assert!(diff <= 1e-6, "pixel values differ by {diff}");
    let embeds = blip.model.image_embeds(&g["pixel_values"])?;
    let diff = max_abs_diff(&embeds, &g["image_embeds"])?;
    eprintln!("BLIP image features: max abs difference {diff:e}");
    assert!(diff <= TOLERANCE, "image features differ by {diff}");
    // The decoder's first step, output layer tied to the word embeddings.
    let start = Tensor::from_vec(vec![blip.config.text_config.bos_token_id; 2], (2, 1), &Device::Cpu)?;
    let logits = blip.model.logits(&start, &g["image_embeds"])?.squeeze(1)?;
    let diff = max_abs_diff(&logits, &g["first_logits"])?;
    eprintln!("BLIP first-step logits: max abs difference {diff:e}");
    assert!(diff <= TOLERANCE, "logits differ by {diff}");
    Ok(())
}

#[test]
fn blip_greedy_captions_are_the_tokens_transformers_generates() -> Outcome {
    let (g, meta) = goldens("blip-tiny");
    let blip = BlipCheckpoint::open("blip-tiny", &data().join("blip-tiny"), &Device::Cpu).expect("the tiny BLIP loads");
    let new_tokens = meta["max_new_tokens"].as_u64().ok_or("max_new_tokens")? as usize;
    let end = blip.config.text_config.sep_token_id;
    let embeds = blip.model.image_embeds(&g["pixel_values"])?;
    // Unconditional, batched: both frames' 20 tokens, identical.
    let ours = blip.model.generate(&embeds, &[], &blip.decoding(new_tokens))?;
    let reference = captions_of(&ids(&g["generated"])?, 1, end);
    assert_eq!(ours, reference);
    assert_ne!(ours[0], ours[1], "the two frames get different captions");
    // One frame at a time gives the same tokens as the batch.
    for (i, want) in reference.iter().enumerate() {
        let one = blip.model.generate(&embeds.narrow(0, i, 1)?, &[], &blip.decoding(new_tokens))?;
        assert_eq!(&one[0], want, "frame {i} alone");
    }
    // A prompt: tokenised as transformers does, continued, and decoded with it.
    let prompt = meta["prompt"].as_str().ok_or("prompt")?;
    let prompt_ids = blip.prompt_ids(prompt)?;
    let golden_prompt = ids(&g["prompt_ids"])?;
    assert_eq!(prompt_ids, golden_prompt[0][1..golden_prompt[0].len() - 1]);
    let ours = blip.model.generate(&embeds, &prompt_ids, &blip.decoding(new_tokens))?;
    assert_eq!(ours, captions_of(&ids(&g["generated_prompted"])?, 1 + prompt_ids.len(), end));
    // A batch where one caption ends early: it stops, the other goes on.
    let stop = meta["stop_token_id"].as_u64().ok_or("stop_token_id")? as u32;
    let decoding = vprog_modules::vision::blip::Decoding { max_new_tokens: new_tokens, end_token: stop };
    let ours = blip.model.generate(&embeds, &[], &decoding)?;
    let reference = captions_of(&ids(&g["generated_stopped"])?, 1, stop);
    assert!(ours[0].len() < ours[1].len(), "{ours:?}");
    assert_eq!(ours, reference);
    // End to end, frames in and text out, as transformers decodes it.
    let texts = blip.caption(&frames(&meta), "", new_tokens, &Device::Cpu)?;
    let want: Vec<String> = meta["captions"].as_array().ok_or("captions")?.iter().filter_map(|c| c.as_str().map(String::from)).collect();
    assert_eq!(texts, want);
    let texts = blip.caption(&frames(&meta), prompt, new_tokens, &Device::Cpu)?;
    let want: Vec<String> =
        meta["captions_prompted"].as_array().ok_or("captions_prompted")?.iter().filter_map(|c| c.as_str().map(String::from)).collect();
    assert_eq!(texts, want);
    Ok(())
}

#[test]
fn damaged_blip_checkpoints_are_clear_errors() -> Outcome {
    let src = data().join("blip-tiny");
    let tmp = tempfile::tempdir()?;
    let copy = |name: &str| -> std::io::Result<PathBuf> {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir)?;
        for f in vprog_modules::vision::blip::FILES {
            std::fs::copy(src.join(f), dir.join(f))?;
        }
        Ok(dir)
    };
    let open = |dir: &Path| match BlipCheckpoint::open("broken", dir, &Device::Cpu) {
        Ok(_) => panic!("a damaged checkpoint loaded"),
        Err(ModuleError::BadModel { path, reason, .. }) => (path, reason),
        Err(e) => panic!("not a BadModel error: {e}"),
    };
    // A missing tensor is named; the tied output layer is not needed.
    let dir = copy("tensor")?;
    let mut tensors = candle_core::safetensors::load(src.join("model.safetensors"), &Device::Cpu)?;
    assert!(!tensors.contains_key("text_decoder.cls.predictions.decoder.weight"), "the checkpoint leaves the tied layer out");
    tensors.remove("text_decoder.bert.encoder.layer.1.crossattention.self.key.weight");
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
    let (path, reason) = open(&dir);
    assert!(path.ends_with("model.safetensors") && reason.contains("crossattention.self.key"), "{reason}");
    // A CLIP config in a BLIP directory.
    let dir = copy("config")?;
    std::fs::copy(data().join("clip-tiny/config.json"), dir.join("config.json"))?;
    let (path, reason) = open(&dir);
    assert!(path.ends_with("config.json") && reason.contains("`clip`"), "{reason}");
    // An image encoder the decoder cannot attend to.
    let dir = copy("width")?;
    let config = std::fs::read_to_string(src.join("config.json"))?.replace("\"encoder_hidden_size\": 32", "\"encoder_hidden_size\": 48");
    std::fs::write(dir.join("config.json"), config)?;
    let (_, reason) = open(&dir);
    assert!(reason.contains("encoder_hidden_size 48"), "{reason}");
    // A missing tokenizer.
    let dir = copy("tokenizer")?;
    std::fs::remove_file(dir.join("tokenizer.json"))?;
    let (path, _) = open(&dir);
    assert!(path.ends_with("tokenizer.json"));
    Ok(())
}

/// A `caption` call on `frames` with `named` arguments.
async fn caption(
    module: &vprog_modules::vision::caption::Caption,
    frames: &[Frame],
    named: Vec<(&'static str, vprog_runtime::Value)>,
) -> (Result<vprog_runtime::Value, ModuleError>, vprog_runtime::StepContext) {
    use vprog_runtime::Module as _;
    let mut all = vec![("frames", vprog_runtime::Value::Frames(Arc::new(frames.to_vec())))];
    all.extend(named);
    let args = vprog_runtime::Args::with_defaults(module.signature(), all, vec![]);
    let ctx = vprog_runtime::StepContext::standalone("test");
    (module.call(args, &ctx).await, ctx)
}

#[tokio::test]
async fn caption_module_gives_one_timed_caption_per_frame() -> Outcome {
    use vprog_runtime::{Module as _, Value};
    let root = tempfile::tempdir()?;
    let store = Arc::new(vprog_modules::ModelStore::at(root.path().join("models")));
    let module = vprog_modules::vision::caption::Caption::new(store.clone());
    let (_, meta) = goldens("blip-tiny");
    let frames: Vec<Frame> = frames(&meta).into_iter().zip([12.0, 14.5]).map(|(f, time)| Frame { time, ..f }).collect();
    let call = |named: Vec<(&'static str, Value)>| caption(&module, &frames, named);
    // Without the model: registered and typed, marked, and a clear error when run.
    assert_eq!(module.missing_model().as_deref(), Some("vprog models fetch blip-base"));
    match call(vec![]).await.0 {
        Err(ModuleError::MissingModel { install, .. }) => assert!(install.contains("vprog models fetch blip-base"), "{install}"),
        other => panic!("expected MissingModel, got {other:?}"),
    }
    vprog_models::hub::add(&store, "blip-base", &data().join("blip-tiny"), &mut |_| {})?;
    assert_eq!(module.missing_model(), None);

    let new_tokens = meta["max_new_tokens"].as_i64().ok_or("max_new_tokens")?;
    let (out, ctx) = call(vec![("max_tokens", Value::Int(new_tokens))]).await;
    let text = match out? {
        Value::TimedText(t) => t,
        other => panic!("expected TimedText, got {}", other.summary()),
    };
    let want: Vec<&str> = meta["captions"].as_array().ok_or("captions")?.iter().filter_map(|c| c.as_str()).collect();
    assert_eq!(text.cues.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), want);
    assert_eq!(text.cues.iter().map(|c| (c.start, c.end)).collect::<Vec<_>>(), vec![(12.0, 14.5), (14.5, 17.0)]);
    assert!(text.cues.iter().all(|c| c.source == "caption:blip-base"));
    let note = ctx.notes.get("caption").ok_or("a note")?;
    assert_eq!(note["frames"], 2);
    assert_eq!(note["captions"][1]["text"], want[1]);
    // Fewer tokens: each caption is a prefix of the longer one.
    let (out, _) = call(vec![("max_tokens", Value::Int(3))]).await;
    let Value::TimedText(short) = out? else { panic!("expected TimedText") };
    for (s, l) in short.cues.iter().zip(&text.cues) {
        assert!(l.text.starts_with(&s.text) && s.text.len() < l.text.len(), "{:?} / {:?}", s.text, l.text);
    }
    // Bad arguments are named.
    match call(vec![("max_tokens", Value::Int(0))]).await.0 {
        Err(e) => assert!(e.to_string().contains("max_tokens"), "{e}"),
        Ok(_) => panic!("max_tokens 0 ran"),
    }
    match call(vec![("model", Value::text("clip-vit-b32"))]).await.0 {
        Err(e) => assert!(e.to_string().contains("not a BLIP checkpoint"), "{e}"),
        Ok(_) => panic!("a CLIP model captioned"),
    }
    Ok(())
}

#[tokio::test]
async fn retrieve_clips_returns_the_best_windows_and_shares_frame_embeddings() -> Outcome {
    use vprog_runtime::value::{Clip, TimeRange};
    use vprog_runtime::{Module as _, Value};
    let root = tempfile::tempdir()?;
    let store = Arc::new(vprog_modules::ModelStore::at(root.path().join("models")));
    let search = Arc::new(FrameSearch::new(store.clone(), Some(root.path().join("cache"))));
    let clips = vprog_modules::vision::retrieve_clips::RetrieveClips::new(search.clone());
    let frames = vprog_modules::vision::retrieve_frames::RetrieveFrames::new(search);
    assert_eq!(clips.missing_model().as_deref(), Some("vprog models fetch clip-vit-b32"));
    vprog_models::hub::add(&store, "clip-vit-b32", &data().join("clip-tiny"), &mut |_| {})?;
    let video = vprog_modules::video::open_video(&super::media("bbb.mp4"), None)?;
    let clip = Arc::new(Clip::new(video.clone(), [TimeRange { start: 50.0, end: 70.0 }]));
    let query = "a big white rabbit standing under a tree";
    let call = |module: &dyn vprog_runtime::Module, named: Vec<(&'static str, Value)>| {
        let mut all = vec![("query", Value::text(query))];
        all.extend(named);
        (vprog_runtime::Args::with_defaults(module.signature(), all, vec![]), vprog_runtime::StepContext::standalone("test"))
    };
    // retrieve_frames first: it embeds the frames; retrieve_clips then reuses them.
    let (args, ctx) = call(&frames, vec![("clip", Value::Clip(clip.clone())), ("k", Value::Int(20))]);
    let Value::Frames(all) = frames.call(args, &ctx).await? else { panic!("expected Frames") };
    let best = &ctx.notes.get("retrieve_frames").ok_or("a note")?["best"];
    let mut scored: Vec<(f64, f32)> =
        best.as_array().ok_or("best")?.iter().filter_map(|b| Some((b["time"].as_f64()?, b["score"].as_f64()? as f32))).collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(scored.len(), all.len());

    let (args, ctx) = call(&clips, vec![("video", Value::Clip(clip.clone())), ("k", Value::Int(2)), ("window", Value::Duration(4.0))]);
    let Value::Clip(out) = clips.call(args, &ctx).await? else { panic!("expected a Clip") };
    let note = ctx.notes.get("retrieve_clips").ok_or("a note")?;
    assert_eq!(note["frame_embeddings"], "memory", "the frames were embedded once, by retrieve_frames");
    // The same windows from the same scores, computed by the public picker.
    let times: Vec<f64> = scored.iter().map(|s| s.0).collect();
    let scores: Vec<f32> = scored.iter().map(|s| s.1).collect();
    let want = vprog_modules::vision::retrieve_clips::pick_windows(&clip.segments, &times, &scores, 4.0, 2);
    assert_eq!(want.len(), 2);
    let mut spans: Vec<(f64, f64)> = want.iter().map(|w| (w.range.start, w.range.end)).collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(out.segments.iter().map(|s| (s.start, s.end)).collect::<Vec<_>>(), spans);
    assert!(out.segments.iter().all(|s| s.start >= 50.0 && s.end <= 70.0 && (s.end - s.start - 4.0).abs() < 1e-9));
    assert_eq!(note["windows"].as_array().map(Vec::len), Some(2));
    // The best window holds the best frame's neighbourhood: its score is at
    // least the mean of all frames.
    let mean = scores.iter().sum::<f32>() / scores.len() as f32;
    assert!(want[0].score >= mean, "{} < {mean}", want[0].score);
    // Bad arguments are named.
    let (args, ctx) = call(&clips, vec![("video", Value::Clip(clip.clone())), ("window", Value::Duration(0.0))]);
    match clips.call(args, &ctx).await {
        Err(e) => assert!(e.to_string().contains("window"), "{e}"),
        Ok(_) => panic!("a zero window ran"),
    }
    Ok(())
}
