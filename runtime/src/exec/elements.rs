//! Splitting a collection into elements for a map, and reassembling a filtered one.

use std::sync::Arc;

use crate::dataflow::MapOutput;
use crate::value::{Clip, Detections, Masks, TimedText, Tracks, Value};

/// The elements a comprehension iterates over.
pub(crate) fn split(source: &Value) -> Result<Vec<Value>, String> {
    Ok(match source {
        Value::List(items) => items.as_ref().clone(),
        Value::Frames(fs) => fs.iter().cloned().map(Value::Frame).collect(),
        Value::Frame(f) => vec![Value::Frame(f.clone())],
        Value::TimedText(t) => t.cues.iter().map(|c| Value::TimedText(Arc::new(TimedText { cues: vec![c.clone()] }))).collect(),
        Value::Detections(d) => d.frames.iter().map(|f| Value::Detections(Arc::new(Detections { frames: vec![f.clone()] }))).collect(),
        Value::Tracks(t) => t.tracks.iter().map(|tr| Value::Tracks(Arc::new(Tracks { tracks: vec![tr.clone()] }))).collect(),
        Value::Masks(m) => m.masks.iter().map(|mk| Value::Masks(Arc::new(Masks { masks: vec![mk.clone()] }))).collect(),
        Value::Clip(c) => c.segments.iter().map(|s| Value::Clip(Arc::new(Clip { video: c.video.clone(), segments: vec![*s] }))).collect(),
        Value::Video(v) => vec![Value::Clip(Arc::new(Clip::whole(v.clone())))],
        other => return Err(format!("cannot iterate over {}", other.type_of())),
    })
}

/// Builds a map's output from the kept body values (and, for filters, the
/// kept elements).
pub(crate) fn assemble(output: &MapOutput, source: &Value, kept: Vec<Value>) -> Result<Value, String> {
    match output {
        MapOutput::List => Ok(Value::List(Arc::new(kept))),
        MapOutput::Filtered(_) => Ok(match source {
            Value::Frames(_) | Value::Frame(_) => Value::Frames(Arc::new(
                kept.into_iter()
                    .filter_map(|v| match v {
                        Value::Frame(f) => Some(f),
                        _ => None,
                    })
                    .collect(),
            )),
            Value::TimedText(_) => Value::TimedText(Arc::new(TimedText {
                cues: kept
                    .iter()
                    .flat_map(|v| match v {
                        Value::TimedText(t) => t.cues.clone(),
                        _ => Vec::new(),
                    })
                    .collect(),
            })),
            Value::Detections(_) => Value::Detections(Arc::new(Detections {
                frames: kept
                    .iter()
                    .flat_map(|v| match v {
                        Value::Detections(d) => d.frames.clone(),
                        _ => Vec::new(),
                    })
                    .collect(),
            })),
            Value::Tracks(_) => Value::Tracks(Arc::new(Tracks {
                tracks: kept
                    .iter()
                    .flat_map(|v| match v {
                        Value::Tracks(t) => t.tracks.clone(),
                        _ => Vec::new(),
                    })
                    .collect(),
            })),
            Value::Masks(_) => Value::Masks(Arc::new(Masks {
                masks: kept
                    .iter()
                    .flat_map(|v| match v {
                        Value::Masks(m) => m.masks.clone(),
                        _ => Vec::new(),
                    })
                    .collect(),
            })),
            Value::Clip(c) => Value::Clip(Arc::new(Clip::new(
                c.video.clone(),
                kept.iter().flat_map(|v| match v {
                    Value::Clip(k) => k.segments.clone(),
                    _ => Vec::new(),
                }),
            ))),
            Value::Video(v) => Value::Clip(Arc::new(Clip::new(
                v.clone(),
                kept.iter().flat_map(|k| match k {
                    Value::Clip(k) => k.segments.clone(),
                    _ => Vec::new(),
                }),
            ))),
            Value::List(_) => Value::List(Arc::new(kept)),
            other => return Err(format!("cannot rebuild {} from its elements", other.type_of())),
        }),
    }
}
