//! Evidence images: frames as JPEG, with boxes drawn where a step found
//! them and masks tinted over the pixels they cover.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use image::{ImageBuffer, Rgb, RgbImage};

use crate::value::{BBox, Frame, Mask};

/// Longest side of an evidence image, in pixels.
pub const ARTIFACT_MAX_SIDE: u32 = 640;
/// Most images kept per step (evenly spaced over its frames).
pub const ARTIFACTS_PER_STEP: usize = 48;
/// Most distinct images in one trace (images are named by their content, so
/// a frame shown by many steps is written once). At most about 60 KB each at
/// [`ARTIFACT_MAX_SIDE`]: a trace's images stay under about 30 MB.
pub const ARTIFACTS_PER_TRACE: usize = 512;
/// Elements of one map whose steps get evidence images (evenly spaced); the
/// others keep their outputs and records, without images.
pub const MAP_ELEMENTS_WITH_EVIDENCE: usize = 16;

/// One image to write.
pub(crate) struct ArtifactJob {
    pub path: PathBuf,
    pub frame: Frame,
    pub boxes: Vec<BBox>,
    pub mask: Option<Mask>,
}

/// Indices of at most `max` items out of `n`, evenly spaced.
pub(crate) fn pick_evenly(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    (0..max).map(|i| i * n / max).collect()
}

/// Writes every job, one worker per core.
pub(crate) fn write_all(jobs: Vec<ArtifactJob>) -> Result<(), (PathBuf, String)> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let errors = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                if let Err(e) = write_one(job) {
                    errors.lock().unwrap_or_else(|p| p.into_inner()).push((job.path.clone(), e));
                }
            });
        }
    });
    match errors.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn write_one(job: &ArtifactJob) -> Result<(), String> {
    let f = &job.frame;
    let expected = f.width as usize * f.height as usize * 3;
    if f.rgb.len() != expected || f.width == 0 || f.height == 0 {
        return Err(format!("frame at {:.3}s has {} bytes for {}x{}", f.time, f.rgb.len(), f.width, f.height));
    }
    let scale = (ARTIFACT_MAX_SIDE as f32 / f.width.max(f.height) as f32).min(1.0);
    let mut img: RgbImage = if scale < 1.0 {
        let (w, h) = (((f.width as f32 * scale).round() as u32).max(1), ((f.height as f32 * scale).round() as u32).max(1));
        let src = fast_image_resize::images::ImageRef::new(f.width, f.height, &f.rgb, fast_image_resize::PixelType::U8x3)
            .map_err(|e| e.to_string())?;
        let mut dst = fast_image_resize::images::Image::new(w, h, fast_image_resize::PixelType::U8x3);
        let options = fast_image_resize::ResizeOptions::new()
            .resize_alg(fast_image_resize::ResizeAlg::Convolution(fast_image_resize::FilterType::Bilinear));
        fast_image_resize::Resizer::new().resize(&src, &mut dst, &options).map_err(|e| e.to_string())?;
        ImageBuffer::from_raw(w, h, dst.into_vec()).ok_or("bad resized buffer")?
    } else {
        ImageBuffer::from_raw(f.width, f.height, f.rgb.to_vec()).ok_or("bad frame buffer")?
    };
    if let Some(mask) = &job.mask {
        tint_mask(&mut img, mask)?;
    }
    for b in &job.boxes {
        draw_box(&mut img, b, scale);
    }
    save_jpeg(&img, &job.path)
}

/// Encodes `img` to a temporary file beside `path` and renames it into
/// place: an image is named by its content, so a half-written one must never
/// carry the name.
fn save_jpeg(img: &RgbImage, path: &Path) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| e.to_string())?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut w, 82).encode_image(img).map_err(|e| e.to_string())?;
        std::io::Write::flush(&mut w).map_err(|e| e.to_string())?;
    }
    tmp.persist(path).map_err(|e| e.error.to_string())?;
    Ok(())
}

/// Colour for a label (stable across runs).
fn colour(label: &str) -> Rgb<u8> {
    const PALETTE: [[u8; 3]; 6] = [[255, 64, 64], [64, 220, 64], [64, 128, 255], [255, 200, 0], [255, 64, 255], [0, 220, 220]];
    let h = label.bytes().fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(b as usize));
    Rgb(PALETTE[h % PALETTE.len()])
}

/// Blends the mask's label colour over the pixels it covers (half
/// strength), sampling the mask at the image's scale, and outlines its edge.
fn tint_mask(img: &mut RgbImage, mask: &Mask) -> Result<(), String> {
    let bits =
        mask.decode().ok_or_else(|| format!("the mask at {:.3}s has runs that do not cover {}x{}", mask.time, mask.width, mask.height))?;
    let (mw, mh) = (mask.width as usize, mask.height as usize);
    let (w, h) = (img.width() as usize, img.height() as usize);
    let at = |x: usize, y: usize| -> bool {
        let (mx, my) = ((x * mw / w).min(mw.saturating_sub(1)), (y * mh / h).min(mh.saturating_sub(1)));
        bits.get(my * mw + mx).copied().unwrap_or(false)
    };
    let c = colour(&mask.label);
    for y in 0..h {
        for x in 0..w {
            if !at(x, y) {
                continue;
            }
            let edge = x == 0 || y == 0 || x + 1 == w || y + 1 == h || !at(x - 1, y) || !at(x + 1, y) || !at(x, y - 1) || !at(x, y + 1);
            let p = img.get_pixel_mut(x as u32, y as u32);
            for k in 0..3 {
                p.0[k] = if edge { c.0[k] } else { ((u16::from(p.0[k]) + u16::from(c.0[k])) / 2) as u8 };
            }
        }
    }
    Ok(())
}

fn draw_box(img: &mut RgbImage, b: &BBox, scale: f32) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let x0 = ((b.x * scale) as i64).clamp(0, w - 1);
    let y0 = ((b.y * scale) as i64).clamp(0, h - 1);
    let x1 = (((b.x + b.w) * scale) as i64).clamp(0, w - 1);
    let y1 = (((b.y + b.h) * scale) as i64).clamp(0, h - 1);
    let c = colour(&b.label);
    for t in 0..2 {
        for x in x0..=x1 {
            for y in [y0 + t, y1 - t] {
                if (0..h).contains(&y) {
                    img.put_pixel(x as u32, y as u32, c);
                }
            }
        }
        for y in y0..=y1 {
            for x in [x0 + t, x1 - t] {
                if (0..w).contains(&x) {
                    img.put_pixel(x as u32, y as u32, c);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evenly_picks_at_most_max() {
        assert_eq!(pick_evenly(3, 5), vec![0, 1, 2]);
        assert_eq!(pick_evenly(10, 5), vec![0, 2, 4, 6, 8]);
    }

    #[test]
    fn writes_a_scaled_jpeg_with_a_box() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.jpg");
        let frame = Frame { time: 1.0, width: 1280, height: 720, rgb: vec![10u8; 1280 * 720 * 3].into() };
        let bbox = BBox { x: 100.0, y: 100.0, w: 200.0, h: 300.0, label: "person".into(), score: 0.9 };
        write_all(vec![ArtifactJob { path: path.clone(), frame, boxes: vec![bbox], mask: None }]).expect("writes");
        let img = image::open(&path).expect("a jpeg").to_rgb8();
        assert_eq!((img.width(), img.height()), (640, 360));
        // The box's top edge (y = 50 after scaling) is coloured, the background is not.
        let edge = img.get_pixel(100, 50);
        let bg = img.get_pixel(20, 20);
        assert!(edge.0.iter().map(|c| *c as i32).sum::<i32>() > bg.0.iter().map(|c| *c as i32).sum::<i32>() + 100);
    }

    #[test]
    fn tints_the_masked_pixels_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.jpg");
        let (w, h) = (64u32, 32u32);
        let frame = Frame { time: 2.0, width: w, height: h, rgb: vec![0u8; (w * h * 3) as usize].into() };
        // The right half is the mask.
        let bits: Vec<bool> = (0..w * h).map(|i| i % w >= w / 2).collect();
        let mask = Mask::encode(2.0, w, h, "person", 0.9, &bits);
        write_all(vec![ArtifactJob { path: path.clone(), frame, boxes: Vec::new(), mask: Some(mask) }]).expect("writes");
        let img = image::open(&path).expect("a jpeg").to_rgb8();
        let sum = |x, y| img.get_pixel(x, y).0.iter().map(|c| *c as i32).sum::<i32>();
        assert!(sum(48, 16) > 100, "inside the mask is tinted: {:?}", img.get_pixel(48, 16));
        assert!(sum(8, 16) < 30, "outside stays dark: {:?}", img.get_pixel(8, 16));
        // Runs that do not cover the frame are an error, not a panic.
        let bad = Mask { runs: vec![3], ..Mask::encode(2.0, w, h, "person", 0.9, &bits) };
        let frame = Frame { time: 2.0, width: w, height: h, rgb: vec![0u8; (w * h * 3) as usize].into() };
        assert!(write_all(vec![ArtifactJob { path: dir.path().join("bad.jpg"), frame, boxes: Vec::new(), mask: Some(bad) }]).is_err());
    }
}
