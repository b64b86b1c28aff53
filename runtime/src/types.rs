//! The static type system shared by the checker, module signatures and values.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A vprog type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Type {
    /// A whole input video.
    Video,
    /// One or more time ranges of a video. A `Video` is usable as a `Clip`.
    Clip,
    /// One decoded frame with its timestamp. Usable as `Frames`.
    Frame,
    /// Decoded frames in time order.
    Frames,
    /// Boxes found in frames, per frame.
    Detections,
    /// Objects followed across frames.
    Tracks,
    /// Segmentation masks, per frame.
    Masks,
    /// Text with time spans (subtitles, transcripts, OCR), optionally scored and boxed.
    TimedText,
    /// A string.
    Text,
    /// A whole number. Usable as `Number`.
    Int,
    /// A real number.
    Number,
    /// True or false.
    Bool,
    /// A length of time.
    Duration,
    /// A point in a video's timeline.
    Timestamp,
    /// A selected option with its confidence.
    Choice,
    /// A homogeneous list.
    List(Box<Type>),
    /// Any type (only in signatures, and for mixed lists such as evidence).
    Any,
}

impl Type {
    /// `List<inner>`.
    pub fn list(inner: Type) -> Type {
        Type::List(Box::new(inner))
    }

    /// Whether a value of type `self` may be passed where `target` is expected.
    ///
    /// Besides equality: everything to `Any`, `Video` to `Clip`, `Frame` to
    /// `Frames`, `Int` to `Number`, and lists element-wise.
    pub fn is_assignable_to(&self, target: &Type) -> bool {
        match (self, target) {
            (a, b) if a == b => true,
            (_, Type::Any) => true,
            (Type::Video, Type::Clip) | (Type::Frame, Type::Frames) | (Type::Int, Type::Number) => true,
            (Type::List(a), Type::List(b)) => a.is_assignable_to(b),
            _ => false,
        }
    }

    /// The element type when iterated over in a comprehension.
    pub fn element(&self) -> Option<Type> {
        Some(match self {
            Type::List(t) => (**t).clone(),
            Type::Frames => Type::Frame,
            // One cue, one frame's boxes, one track and one time range are
            // themselves values of the collection type.
            Type::TimedText | Type::Detections | Type::Tracks | Type::Masks => self.clone(),
            Type::Clip | Type::Video => Type::Clip,
            _ => return None,
        })
    }

    /// The smallest type both `a` and `b` are assignable to (`Any` if none
    /// other).
    pub fn join(a: &Type, b: &Type) -> Type {
        if a.is_assignable_to(b) {
            b.clone()
        } else if b.is_assignable_to(a) {
            a.clone()
        } else {
            match (a, b) {
                (Type::List(x), Type::List(y)) => Type::list(Type::join(x, y)),
                (Type::Video, Type::Clip) | (Type::Clip, Type::Video) => Type::Clip,
                _ => Type::Any,
            }
        }
    }

    /// Whether the type has a position in time (usable with before/after/during).
    pub fn is_timed(&self) -> bool {
        matches!(
            self,
            Type::Clip | Type::Video | Type::Frame | Type::Frames | Type::Detections | Type::Tracks | Type::TimedText | Type::Masks
        )
    }

    /// Whether it is a number type.
    pub fn is_numeric(&self) -> bool {
        matches!(self, Type::Int | Type::Number)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::List(t) => write!(f, "List<{t}>"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignability_and_join() {
        assert!(Type::Video.is_assignable_to(&Type::Clip));
        assert!(!Type::Clip.is_assignable_to(&Type::Video));
        assert!(Type::list(Type::Int).is_assignable_to(&Type::list(Type::Number)));
        assert!(Type::list(Type::Text).is_assignable_to(&Type::list(Type::Any)));
        assert_eq!(Type::join(&Type::Int, &Type::Number), Type::Number);
        assert_eq!(Type::join(&Type::TimedText, &Type::Detections), Type::Any);
        assert_eq!(Type::list(Type::Text).to_string(), "List<Text>");
        assert_eq!(Type::Frames.element(), Some(Type::Frame));
        assert_eq!(Type::Text.element(), None);
    }
}
