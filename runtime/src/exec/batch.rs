//! Calling a module on frames in chunks of at most its declared batch size.

use std::sync::Arc;

use crate::module::{Args, Module, ModuleError, StepContext};
use crate::value::{Detections, Masks, TimedText, Tracks, Value};

/// Calls `module`, splitting any `Frames` argument longer than the module's
/// `max_batch` into chunks and joining the chunk outputs.
pub(crate) async fn call_batched(module: &Arc<dyn Module>, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
    let Some(batch) = module.signature().max_batch.filter(|b| *b > 0) else {
        return module.call(args, ctx).await;
    };
    let oversized = args.iter().find_map(|(name, v)| match v {
        Value::Frames(fs) if fs.len() > batch => Some((name.clone(), fs.clone())),
        _ => None,
    });
    let Some((name, frames)) = oversized else {
        return module.call(args, ctx).await;
    };
    let mut outputs = Vec::with_capacity(frames.len().div_ceil(batch));
    for chunk in frames.chunks(batch) {
        let mut values: std::collections::BTreeMap<String, Value> = args.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        values.insert(name.clone(), Value::Frames(Arc::new(chunk.to_vec())));
        outputs.push(module.call(Args::new(values, args.variadic().to_vec()), ctx).await?);
    }
    join(outputs)
}

/// Joins per-chunk outputs of one module into one value.
fn join(parts: Vec<Value>) -> Result<Value, ModuleError> {
    let mut it = parts.into_iter();
    let Some(first) = it.next() else {
        return Err(ModuleError::Failed("no frames to process".into()));
    };
    it.try_fold(first, |acc, next| match (acc, next) {
        (Value::Frames(a), Value::Frames(b)) => Ok(Value::Frames(Arc::new(a.iter().chain(b.iter()).cloned().collect()))),
        (Value::Detections(a), Value::Detections(b)) => {
            Ok(Value::Detections(Arc::new(Detections { frames: a.frames.iter().chain(&b.frames).cloned().collect() })))
        }
        (Value::TimedText(a), Value::TimedText(b)) => {
            Ok(Value::TimedText(Arc::new(TimedText { cues: a.cues.iter().chain(&b.cues).cloned().collect() })))
        }
        (Value::Masks(a), Value::Masks(b)) => {
            Ok(Value::Masks(Arc::new(Masks { masks: a.masks.iter().chain(&b.masks).cloned().collect() })))
        }
        (Value::Tracks(a), Value::Tracks(b)) => {
            Ok(Value::Tracks(Arc::new(Tracks { tracks: a.tracks.iter().chain(&b.tracks).cloned().collect() })))
        }
        (Value::List(a), Value::List(b)) => Ok(Value::List(Arc::new(a.iter().chain(b.iter()).cloned().collect()))),
        (a, _) => Err(ModuleError::Failed(format!("cannot join batched outputs of type {}", a.type_of()))),
    })
}
