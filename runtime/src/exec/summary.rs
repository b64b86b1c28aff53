//! A run's outcome in brief: the step counts and the JSON summary that
//! `vprog run` prints (the trace holds everything).

use std::path::Path;

use super::RunOutcome;
use crate::cache::CacheStatus;

impl RunOutcome {
    /// Steps run by their module (`.0`) and steps served from the memory or
    /// disk cache (`.1`); constants and inputs count as neither.
    pub fn computed_and_cached(&self) -> (usize, usize) {
        let cached = self.steps.iter().filter(|s| matches!(s.cache, CacheStatus::Memory | CacheStatus::Disk)).count();
        let computed =
            self.steps.iter().filter(|s| !matches!(s.cache, CacheStatus::Memory | CacheStatus::Disk) && s.version.is_some()).count();
        (computed, cached)
    }

    /// The answer (type, summary, value) or the error, and each step's
    /// module, output summary, cache status, status, time and error, with
    /// the trace directory the run was written to.
    pub fn summary_json(&self, trace_dir: &Path) -> serde_json::Value {
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .map(|s| {
                serde_json::json!({
                    "id": s.id,
                    "module": s.op,
                    "output": s.output.as_ref().map(|v| v.summary()),
                    "cache": s.cache,
                    "status": s.status,
                    "ms": s.duration.as_secs_f64() * 1000.0,
                    "error": s.error,
                })
            })
            .collect();
        let (status, answer, error) = match &self.result {
            Ok(v) => ("ok", Some(serde_json::json!({"type": v.type_of().to_string(), "summary": v.summary(), "value": v.to_json()})), None),
            Err(e) => ("failed", None, Some(serde_json::json!({"message": e.to_string(), "step": e.step()}))),
        };
        serde_json::json!({
            "status": status,
            "answer": answer,
            "error": error,
            "answer_step": self.answer_step,
            "supporting_steps": self.supporting_steps,
            "steps": steps,
            "wall_ms": self.wall.as_secs_f64() * 1000.0,
            "trace": trace_dir,
        })
    }
}
