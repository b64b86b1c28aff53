//! The typed boundary: vprog types and values to and from the WIT ones.
//!
//! `vprog:plugin@0.1.0` carries scalars, lists of scalars, timed text,
//! detections and frames (as lent handles). Videos, clips, tracks, masks and
//! choices do not cross yet; a signature that names them is rejected when
//! the plugin is loaded, before any program runs.

use std::sync::Arc;

use vprog_runtime::types::Type;
use vprog_runtime::value::{BBox, Cue as RtCue, Detections, FrameDetections, TimedText};
use vprog_runtime::Value;

use crate::wit::since_v0_1_0::{Bbox, Cue, FrameBoxes, Kind, Output, ValueType};

/// The vprog type a WIT `value-type` denotes.
pub fn to_type(t: &ValueType) -> Type {
    let base = match t.kind {
        Kind::Video => Type::Video,
        Kind::Clip => Type::Clip,
        Kind::Frame => Type::Frame,
        Kind::Frames => Type::Frames,
        Kind::Detections => Type::Detections,
        Kind::Tracks => Type::Tracks,
        Kind::Masks => Type::Masks,
        Kind::TimedText => Type::TimedText,
        Kind::Text => Type::Text,
        Kind::Int => Type::Int,
        Kind::Number => Type::Number,
        Kind::Boolean => Type::Bool,
        Kind::Duration => Type::Duration,
        Kind::Timestamp => Type::Timestamp,
        Kind::Choice => Type::Choice,
        Kind::Any => Type::Any,
    };
    (0..t.lists).fold(base, |t, _| Type::list(t))
}

/// Types a plugin parameter may have in this version.
pub const INPUT_TYPES: &str =
    "Text, Int, Number, Bool, Duration, Timestamp, List<Text>, List<Int>, List<Number>, List<Bool>, TimedText, Detections, Frame, Frames";
/// Types a plugin may return in this version.
pub const OUTPUT_TYPES: &str =
    "Text, Int, Number, Bool, Duration, Timestamp, List<Text>, List<Int>, List<Number>, List<Bool>, TimedText, Detections";

fn scalar_or_list(t: &Type) -> bool {
    match t {
        Type::Text | Type::Int | Type::Number | Type::Bool | Type::Duration | Type::Timestamp => true,
        Type::List(inner) => matches!(**inner, Type::Text | Type::Int | Type::Number | Type::Bool),
        Type::TimedText | Type::Detections => true,
        _ => false,
    }
}

/// Whether values of `t` can be passed to a plugin.
pub fn input_supported(t: &Type) -> bool {
    scalar_or_list(t) || matches!(t, Type::Frame | Type::Frames)
}

/// Whether a plugin can return values of `t`.
pub fn output_supported(t: &Type) -> bool {
    scalar_or_list(t)
}

/// An argument value before frames are lent: frames stay host values until
/// the caller turns them into handles.
pub enum Arg {
    /// A value copied across.
    Plain(crate::wit::since_v0_1_0::Input),
    /// Frames to lend.
    Frames(Vec<vprog_runtime::value::Frame>),
}

/// The WIT form of an argument of declared type `declared`.
pub fn to_input(name: &str, declared: &Type, v: &Value) -> Result<Arg, String> {
    use crate::wit::since_v0_1_0::Input as I;
    let bad = || format!("argument `{name}`: cannot pass {} as {declared}", v.type_of());
    Ok(Arg::Plain(match (declared, v) {
        (Type::Frame | Type::Frames, Value::Frame(f)) => return Ok(Arg::Frames(vec![f.clone()])),
        (Type::Frames, Value::Frames(fs)) => return Ok(Arg::Frames(fs.as_ref().clone())),
        (Type::Text, Value::Text(s)) => I::Text(s.to_string()),
        (Type::Int, Value::Int(i)) => I::Int(*i),
        (Type::Number, Value::Number(x)) => I::Number(*x),
        (Type::Number, Value::Int(i)) => I::Number(*i as f64),
        (Type::Bool, Value::Bool(b)) => I::Boolean(*b),
        (Type::Duration, Value::Duration(x)) => I::Duration(*x),
        (Type::Timestamp, Value::Timestamp(x)) => I::Timestamp(*x),
        (Type::TimedText, Value::TimedText(t)) => I::TimedText(t.cues.iter().map(cue_out).collect()),
        (Type::Detections, Value::Detections(d)) => I::Detections(d.frames.iter().map(frame_boxes_out).collect()),
        (Type::List(inner), Value::List(items)) => match **inner {
            Type::Text => I::Texts(
                items.iter().map(|v| if let Value::Text(s) = v { Ok(s.to_string()) } else { Err(bad()) }).collect::<Result<_, _>>()?,
            ),
            Type::Int => I::Ints(items.iter().map(|v| if let Value::Int(i) = v { Ok(*i) } else { Err(bad()) }).collect::<Result<_, _>>()?),
            Type::Number => I::Numbers(
                items
                    .iter()
                    .map(|v| match v {
                        Value::Number(x) => Ok(*x),
                        Value::Int(i) => Ok(*i as f64),
                        _ => Err(bad()),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Type::Bool => {
                I::Booleans(items.iter().map(|v| if let Value::Bool(b) = v { Ok(*b) } else { Err(bad()) }).collect::<Result<_, _>>()?)
            }
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    }))
}

fn cue_out(c: &RtCue) -> Cue {
    Cue { start: c.start, end: c.end, text: c.text.clone(), score: c.score }
}

fn frame_boxes_out(f: &FrameDetections) -> FrameBoxes {
    FrameBoxes {
        time: f.time,
        width: f.width,
        height: f.height,
        boxes: f.boxes.iter().map(|b| Bbox { x: b.x, y: b.y, w: b.w, h: b.h, label: b.label.clone(), score: b.score }).collect(),
    }
}

/// Rough size of an output in bytes (strings by length, numbers 8 each),
/// checked against the output limit.
pub fn output_size(o: &Output) -> usize {
    match o {
        Output::Text(s) => s.len(),
        Output::Int(_) | Output::Number(_) | Output::Boolean(_) | Output::Duration(_) | Output::Timestamp(_) => 8,
        Output::Texts(v) => v.iter().map(|s| s.len() + 8).sum(),
        Output::Ints(v) => v.len() * 8,
        Output::Numbers(v) => v.len() * 8,
        Output::Booleans(v) => v.len(),
        Output::TimedText(v) => v.iter().map(|c| c.text.len() + 32).sum(),
        Output::Detections(v) => v.iter().map(|f| 16 + f.boxes.iter().map(|b| b.label.len() + 24).sum::<usize>()).sum(),
    }
}

fn output_name(o: &Output) -> &'static str {
    match o {
        Output::Text(_) => "text",
        Output::Int(_) => "int",
        Output::Number(_) => "number",
        Output::Boolean(_) => "boolean",
        Output::Duration(_) => "duration",
        Output::Timestamp(_) => "timestamp",
        Output::Texts(_) => "texts",
        Output::Ints(_) => "ints",
        Output::Numbers(_) => "numbers",
        Output::Booleans(_) => "booleans",
        Output::TimedText(_) => "timed-text",
        Output::Detections(_) => "detections",
    }
}

/// The vprog value of a plugin's output, which must match the declared
/// return type (an `int` is accepted where a `Number` is declared).
pub fn from_output(declared: &Type, o: Output) -> Result<Value, String> {
    let wrong = |o: &Output| format!("returned `{}` but its signature declares {declared}", output_name(o));
    let finite = |x: f64| if x.is_finite() { Ok(x) } else { Err(format!("returned the non-finite number {x}")) };
    Ok(match (declared, o) {
        (Type::Text, Output::Text(s)) => Value::text(s),
        (Type::Int, Output::Int(i)) => Value::Int(i),
        (Type::Number, Output::Number(x)) => Value::Number(finite(x)?),
        (Type::Number, Output::Int(i)) => Value::Number(i as f64),
        (Type::Bool, Output::Boolean(b)) => Value::Bool(b),
        (Type::Duration, Output::Duration(x)) => Value::Duration(finite(x)?),
        (Type::Timestamp, Output::Timestamp(x)) => Value::Timestamp(finite(x)?),
        (Type::List(inner), Output::Texts(v)) if **inner == Type::Text => Value::List(Arc::new(v.into_iter().map(Value::text).collect())),
        (Type::List(inner), Output::Ints(v)) if **inner == Type::Int => Value::List(Arc::new(v.into_iter().map(Value::Int).collect())),
        (Type::List(inner), Output::Numbers(v)) if **inner == Type::Number => {
            Value::List(Arc::new(v.into_iter().map(|x| finite(x).map(Value::Number)).collect::<Result<_, _>>()?))
        }
        (Type::List(inner), Output::Ints(v)) if **inner == Type::Number => {
            Value::List(Arc::new(v.into_iter().map(|i| Value::Number(i as f64)).collect()))
        }
        (Type::List(inner), Output::Booleans(v)) if **inner == Type::Bool => {
            Value::List(Arc::new(v.into_iter().map(Value::Bool).collect()))
        }
        (Type::TimedText, Output::TimedText(cues)) => {
            let mut out = Vec::with_capacity(cues.len());
            for c in cues {
                if !(c.start.is_finite() && c.end.is_finite() && c.start <= c.end) {
                    return Err(format!("returned a cue with bad times {}..{}", c.start, c.end));
                }
                out.push(RtCue { start: c.start, end: c.end, text: c.text, score: c.score, bbox: None, source: "plugin".into() });
            }
            Value::TimedText(Arc::new(TimedText { cues: out }))
        }
        (Type::Detections, Output::Detections(frames)) => {
            let frames = frames
                .into_iter()
                .map(|f| FrameDetections {
                    time: f.time,
                    width: f.width,
                    height: f.height,
                    boxes: f
                        .boxes
                        .into_iter()
                        .map(|b| BBox { x: b.x, y: b.y, w: b.w, h: b.h, label: b.label, score: b.score.clamp(0.0, 1.0) })
                        .collect(),
                })
                .collect();
            Value::Detections(Arc::new(Detections { frames }))
        }
        (_, o) => return Err(wrong(&o)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_both_ways() {
        assert_eq!(to_type(&ValueType { kind: Kind::Text, lists: 1 }), Type::list(Type::Text));
        assert_eq!(to_type(&ValueType { kind: Kind::Frames, lists: 0 }), Type::Frames);
        assert!(input_supported(&Type::Frames) && !output_supported(&Type::Frames));
        assert!(!input_supported(&Type::Clip));
        assert!(!input_supported(&Type::list(Type::list(Type::Int))));
    }

    #[test]
    fn outputs_are_checked_against_the_declared_type() {
        assert!(matches!(from_output(&Type::Number, Output::Int(3)), Ok(Value::Number(x)) if x == 3.0));
        let e = from_output(&Type::Number, Output::Text("x".into())).expect_err("wrong type");
        assert!(e.contains("returned `text`") && e.contains("Number"), "{e}");
        let e = from_output(&Type::list(Type::Number), Output::Numbers(vec![1.0, f64::NAN])).expect_err("nan");
        assert!(e.contains("non-finite"), "{e}");
        let v = to_input("xs", &Type::list(Type::Number), &Value::List(Arc::new(vec![Value::Int(1), Value::Number(2.5)]))).expect("widen");
        assert!(matches!(v, Arg::Plain(crate::wit::since_v0_1_0::Input::Numbers(ref xs)) if xs == &[1.0, 2.5]));
    }
}
