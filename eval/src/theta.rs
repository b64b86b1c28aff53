//! θ, the confidence below which the slow path runs: given, read from a
//! calibration file, the calibration `vprog calibrate` stored, or the one
//! shipped with the planner; and storing a new calibration.

use std::path::{Path, PathBuf};

use vprog_planner::calibrate::{calibrate, Calibration, CostBudget, SHIPPED};
use vprog_planner::fast_slow::Theta;

use crate::result::{observation, ItemResult};
use crate::{write_atomic, Error};

/// Where `vprog calibrate` stores θ and `ask`/`eval` look for it:
/// `$VPROG_CALIBRATION`, else `<config dir>/vprog/calibration.json`.
pub fn calibration_path() -> Option<PathBuf> {
    std::env::var_os("VPROG_CALIBRATION")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::config_dir().map(|d| d.join("vprog").join("calibration.json")))
}

/// Reads a calibration file.
pub fn read_calibration(path: &Path) -> Result<Calibration, Error> {
    let text = std::fs::read_to_string(path).map_err(Error::io("read the calibration", path))?;
    Calibration::from_json(&text)
        .map_err(|e| Error::File { path: path.to_path_buf(), reason: format!("{e} (recreate it with `vprog calibrate`)") })
}

/// θ from, in order: `value` (named `flag` in the source), the calibration
/// file `file`, the stored calibration ([`calibration_path`]) when there is
/// one, or the calibration shipped with the planner.
pub fn resolve(value: Option<f64>, flag: &str, file: Option<&Path>) -> Result<Theta, Error> {
    if let Some(v) = value {
        return Ok(Theta { value: v, source: flag.to_string() });
    }
    if let Some(path) = file {
        let c = read_calibration(path)?;
        return Ok(Theta { value: c.theta, source: format!("calibration {}", path.display()) });
    }
    if let Some(path) = calibration_path().filter(|p| p.is_file()) {
        let c = read_calibration(&path)?;
        return Ok(Theta { value: c.theta, source: format!("calibration {}", path.display()) });
    }
    let c = Calibration::from_json(SHIPPED).map_err(|e| Error::Session(format!("the shipped calibration is damaged: {e}")))?;
    let bench = c.source.get("bench").and_then(serde_json::Value::as_str).unwrap_or("its labelled set");
    Ok(Theta { value: c.theta, source: format!("the calibration shipped with vprog ({bench})") })
}

/// Writes calibration `c` to `store` (creating its directory) and returns
/// its text.
pub fn store(c: &Calibration, store: &Path) -> Result<String, Error> {
    let text = serde_json::to_string_pretty(c).map_err(|e| Error::File { path: store.to_path_buf(), reason: e.to_string() })?;
    if let Some(dir) = store.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    }
    write_atomic(store, &text)?;
    Ok(text)
}

/// θ chosen from the results of a run with both paths on every item
/// (`--mode compare`): the most accurate θ within `budget`.
pub fn calibrate_results(results: &[ItemResult], budget: CostBudget, source: serde_json::Value) -> Result<Calibration, Error> {
    let observations: Vec<_> = results.iter().filter_map(observation).collect();
    Ok(calibrate(&observations, budget, source)?)
}

/// Calibrates on the results of the run in `run_dir` (as
/// [`calibrate_results`]), adding the run's size and place to `settings`
/// (an object; anything else is kept as `settings.given`),
/// and stores the calibration twice: beside the run, and at `store` (default
/// [`calibration_path`]), where `ask` and `eval` read it. Returns it with the
/// place it was stored.
pub fn calibrate_run(
    results: &[ItemResult],
    budget: CostBudget,
    settings: serde_json::Value,
    run_dir: &Path,
    store_at: Option<PathBuf>,
) -> Result<(Calibration, PathBuf), Error> {
    let mut settings = match settings {
        serde_json::Value::Object(m) => m,
        other => serde_json::Map::from_iter([("given".to_string(), other)]),
    };
    settings.insert("items".into(), results.len().into());
    settings.insert("errors".into(), results.iter().filter(|r| r.error.is_some()).count().into());
    settings.insert("run".into(), run_dir.display().to_string().into());
    let c = calibrate_results(results, budget, serde_json::Value::Object(settings))?;
    store(&c, &run_dir.join("calibration.json"))?;
    let Some(at) = store_at.or_else(calibration_path) else {
        return Err(Error::File { path: run_dir.to_path_buf(), reason: "no place to store the calibration: give --store FILE".into() });
    };
    store(&c, &at)?;
    Ok((c, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_calibration_reads_and_a_value_wins() {
        let shipped = resolve(None, "--theta", None).map(|t| t.source);
        // The stored calibration, when this machine has one, comes first.
        assert!(shipped.is_ok(), "{shipped:?}");
        let t = resolve(Some(0.25), "--theta", None).expect("a value");
        assert_eq!((t.value, t.source.as_str()), (0.25, "--theta"));
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = dir.path().join("c.json");
        std::fs::write(&bad, "{").expect("write");
        let e = resolve(None, "--theta", Some(&bad)).expect_err("a damaged file is refused");
        assert!(e.to_string().contains("vprog calibrate"), "{e}");
    }
}
