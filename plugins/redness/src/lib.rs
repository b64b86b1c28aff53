//! `redness(frames: Frames, ratio: Number = 1.4, min_red: Int = 80) -> List<Number>`: for each frame, the
//! fraction of its pixels that are red.
//!
//! A pixel (R, G, B) is red when `R > ratio * G`, `R > ratio * B` and `R > min_red` (0..=255): clearly
//! more red than green or blue, and not so dark that noise decides. The answer is in [0, 1].
//!
//! An example vprog plugin in Rust; plugins/README.md tells how it is built and loaded.

mod contract;

use contract::{frames, Argument, Call, Describe, Frame, Input, Kind, Output, Param, Signature, ValueType};

struct Redness;

const RATIO: f64 = 1.4;
const MIN_RED: i64 = 80;

fn ty(kind: Kind, lists: u8) -> ValueType {
    ValueType { kind, lists }
}

fn param(name: &str, ty: ValueType, doc: &str, optional: bool) -> Param {
    Param { name: name.into(), ty, doc: doc.into(), optional }
}

/// The fraction of red pixels in packed RGB24 `pixels`.
fn red_fraction(pixels: &[u8], ratio: f32, min_red: u8) -> f64 {
    let total = pixels.len() / 3;
    if total == 0 {
        return 0.0;
    }
    let red = pixels
        .chunks_exact(3)
        .filter(|p| {
            let (r, g, b) = (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]));
            p[0] > min_red && r > ratio * g && r > ratio * b
        })
        .count();
    red as f64 / total as f64
}

impl Describe for Redness {
    fn describe() -> Signature {
        Signature {
            name: "redness".into(),
            version: "0.1.0".into(),
            doc: "The fraction of red pixels in each frame, in [0, 1].\n\
                  A pixel is red when R > ratio*G, R > ratio*B and R > min_red."
                .into(),
            params: vec![
                param("frames", ty(Kind::Frames, 0), "The frames to measure.", false),
                param("ratio", ty(Kind::Number, 0), "How many times R must exceed G and B (default 1.4).", true),
                param("min_red", ty(Kind::Int, 0), "The least R (0-255) of a red pixel (default 80).", true),
            ],
            returns: ty(Kind::Number, 1),
        }
    }
}

impl Call for Redness {
    fn call(args: Vec<Argument>) -> Result<Output, String> {
        // Take over every frame borrow first, so that all of them end however this returns.
        let mut input: Option<Vec<Frame>> = None;
        let mut rest = Vec::new();
        for arg in args {
            match arg.value {
                Input::Frames(handles) if arg.name == "frames" => input = Some(frames(handles)),
                Input::Frames(handles) => drop(frames(handles)),
                value => rest.push((arg.name, value)),
            }
        }
        let (mut ratio, mut min_red) = (RATIO, MIN_RED);
        for (name, value) in rest {
            match (name.as_str(), value) {
                ("ratio", Input::Number(r)) if r.is_finite() && r > 0.0 => ratio = r,
                ("ratio", _) => return Err("redness: `ratio` must be a positive Number".into()),
                ("min_red", Input::Int(m)) if (0..=255).contains(&m) => min_red = m,
                ("min_red", _) => return Err("redness: `min_red` must be an Int in 0..=255".into()),
                (other, _) => return Err(format!("redness: unexpected argument `{other}`")),
            }
        }
        let input = input.ok_or("redness: `frames` (Frames) is required")?;
        let min_red = u8::try_from(min_red).unwrap_or(u8::MAX);
        // One copy per frame: the host writes the pixels straight into this list.
        Ok(Output::Numbers(input.iter().map(|f| red_fraction(&f.pixels(), ratio as f32, min_red)).collect()))
    }
}

export_plugin!(Redness);
