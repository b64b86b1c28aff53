//! Vision modules:
//!
//! - [`detect`]: `detect(frames, label)`: COCO-80 objects with CenterNet
//!   ([`centernet`], [`objects`], model store); OpenCV's HOG people detector
//!   and Haar cascades (Debian `opencv-data`) for the classic labels.
//! - [`track`]: `track(detections)`: ByteTrack-style IoU association of
//!   detections into tracks with constant-velocity prediction.
//! - [`segment`]: `segment(frames, "person")`: person masks from MediaPipe
//!   Selfie / Meet ([`person_seg`], model store).
//! - [`ocr`]: `read_text(frames)`: PP-OCR ([`ppocr`], model store) or
//!   Tesseract OCR (Debian `tesseract-ocr-eng`) with deduplication of
//!   unchanged frames and per-line cues.
//! - [`clip`]: CLIP image and text embeddings from a Hugging Face checkpoint
//!   directory (image encoder in [`vit`]), with [`preprocess`]: a `preprocessor_config.json` applied as
//!   `transformers` applies it.
//! - [`retrieve_frames`]: `retrieve_frames(clip, query)`: the frames most
//!   like a text by CLIP similarity (hub checkpoint `clip-vit-b32`);
//!   [`retrieve_clips`]: `retrieve_clips(video, query)`: the stretches most
//!   like it; both on [`frame_search`].
//! - [`blip`], [`blip_text`]: BLIP image captioning from a Hugging Face
//!   checkpoint directory; [`caption`]: `caption(frames)`, one sentence per
//!   frame as timed text (hub checkpoint `blip-base`).
//! - [`hub_model`]: a hub checkpoint loaded once per module; [`vit`] and
//!   [`dense`]: the vision transformer and linear layer CLIP and BLIP share.
//!
//! The pixel helpers here turn a [`Frame`] (packed RGB24) into OpenCV mats
//! and split frame lists into per-core chunks for the blocking pool.

pub mod blip;
pub mod blip_text;
pub mod caption;
pub mod centernet;
pub mod clip;
pub mod dense;
pub mod detect;
pub mod frame_search;
pub mod hub_model;
pub mod leptonica;
pub mod objects;
pub mod ocr;
pub mod person_seg;
pub mod ppocr;
pub mod preprocess;
pub mod retrieve_clips;
pub mod retrieve_frames;
pub mod segment;
pub mod tfjs;
pub mod track;
pub mod vit;

use std::ops::Range;
use std::sync::Arc;

use opencv::core::{Mat, Size, Vec3b};
use opencv::imgproc;
use vprog_runtime::value::Frame;
use vprog_runtime::{ModuleError, Registry, StepContext};

use crate::model_store::ModelStore;

/// Registers this family's modules (`detect`, `track`, `read_text`,
/// `segment`, `retrieve_frames`, `retrieve_clips`, `caption`). The classic models are system files (OpenCV cascades,
/// Tesseract data); CenterNet, PP-OCR and the segmenters come from `store`.
pub fn register(r: &mut Registry, store: &Arc<ModelStore>) {
    let search = Arc::new(frame_search::FrameSearch::new(store.clone(), None));
    let modules: [Arc<dyn vprog_runtime::Module>; 7] = [
        Arc::new(detect::Detect::new(store.clone())),
        Arc::new(track::Track::new()),
        Arc::new(ocr::ReadText::new(store.clone())),
        Arc::new(segment::Segment::new(store.clone())),
        Arc::new(retrieve_frames::RetrieveFrames::new(search.clone())),
        Arc::new(retrieve_clips::RetrieveClips::new(search)),
        Arc::new(caption::Caption::new(store.clone())),
    ];
    for module in modules {
        if let Err(e) = r.register(module) {
            tracing::error!(error = %e, "vision: module not registered");
        }
    }
}

/// An OpenCV error as a module error.
pub(crate) fn cv_err(what: &str) -> impl Fn(opencv::Error) -> ModuleError + '_ {
    move |e| ModuleError::Failed(format!("{what}: OpenCV: {e}"))
}

/// Checks that a frame's pixel buffer matches its size.
pub(crate) fn check_frame(param: &str, i: usize, f: &Frame) -> Result<(), ModuleError> {
    let expected = f.width as usize * f.height as usize * 3;
    if f.width == 0 || f.height == 0 || f.rgb.len() != expected || f.width > i32::MAX as u32 || f.height > i32::MAX as u32 {
        return Err(ModuleError::invalid(
            param,
            format!(
                "frame {i} ({:.3} s) is {}x{} but holds {} bytes of RGB24 (expected {expected})",
                f.time,
                f.width,
                f.height,
                f.rgb.len()
            ),
        ));
    }
    Ok(())
}

/// The frame as an 8-bit grayscale mat (a copy).
pub(crate) fn gray_mat(f: &Frame) -> Result<Mat, ModuleError> {
    let rgb = Mat::new_rows_cols_with_bytes::<Vec3b>(f.height as i32, f.width as i32, &f.rgb).map_err(cv_err("wrapping a frame"))?;
    let mut gray = Mat::default();
    imgproc::cvt_color_def(&rgb, &mut gray, imgproc::COLOR_RGB2GRAY).map_err(cv_err("converting a frame to grayscale"))?;
    Ok(gray)
}

/// `img` scaled by `factor` (a copy; `factor == 1` clones).
pub(crate) fn scaled(img: &Mat, factor: f64, interpolation: i32) -> Result<Mat, ModuleError> {
    if (factor - 1.0).abs() < 1e-6 {
        return Ok(img.clone());
    }
    let mut out = Mat::default();
    imgproc::resize(img, &mut out, Size::default(), factor, factor, interpolation).map_err(cv_err("resizing a frame"))?;
    Ok(out)
}

/// Runs `f` over contiguous index chunks of `0..n` on the blocking pool (one
/// chunk per core, each on its own thread) and joins the results in order.
pub(crate) async fn map_chunks<R, F>(ctx: &StepContext, n: usize, f: F) -> Result<Vec<R>, ModuleError>
where
    R: Send + 'static,
    F: Fn(Range<usize>) -> Result<Vec<R>, ModuleError> + Send + Sync + 'static,
{
    if n == 0 {
        return Ok(Vec::new());
    }
    let cores = std::thread::available_parallelism().map_or(2, |c| c.get());
    let chunks = cores.min(n);
    let f = Arc::new(f);
    let mut handles = Vec::with_capacity(chunks);
    for c in 0..chunks {
        let range = (c * n / chunks)..((c + 1) * n / chunks);
        let f = f.clone();
        let ctx = ctx.clone();
        handles.push(tokio::spawn(async move { ctx.blocking(move || f(range)).await }));
    }
    let mut out = Vec::with_capacity(n);
    for h in handles {
        let part = h.await.map_err(|e| ModuleError::Failed(format!("worker task failed: {e}")))??;
        out.extend(part);
    }
    Ok(out)
}
