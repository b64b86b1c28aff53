//! Relevance of lines of text to a query, by the same hybrid of BM25 and
//! MiniLM cosines that `retrieve_subtitles` uses ([`super::retrieve`]):
//! `alpha · minmax(cos) + (1 − alpha) · bm25 / max bm25`, in `[0, 1]`.
//! `choose` uses it to keep the most relevant evidence when the evidence is
//! over its token budget.

use super::bm25::Bm25;
use super::embed::{dot, Embedder};
use vprog_runtime::ModuleError;

/// Each of `texts`' relevance to `query`, in `[0, 1]`. With no `embedder`
/// (or `alpha = 0`) BM25 alone.
///
/// # Errors
///
/// When the embedder fails on the texts.
pub fn relevance(embedder: Option<&Embedder>, query: &str, texts: &[String], alpha: f64) -> Result<Vec<f64>, ModuleError> {
    let bm25 = normalise(&Bm25::new(texts).scores(query), Some(0.0), 0.0);
    let Some(embedder) = embedder.filter(|_| alpha > 0.0) else { return Ok(bm25) };
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = embedder.embed(&refs)?;
    let q = embedder.embed(&[query])?.pop().unwrap_or_default();
    let cos: Vec<f64> = vectors.iter().map(|v| f64::from(dot(&q, v))).collect();
    let cos = normalise(&cos, None, 1.0);
    Ok(cos.iter().zip(&bm25).map(|(c, b)| alpha * c + (1.0 - alpha) * b).collect())
}

/// Min-max normalisation to `[0, 1]` with a given floor (`lo`; `None`: the
/// minimum). When the spread is ~0 every value maps to `flat`.
pub fn normalise(xs: &[f64], lo: Option<f64>, flat: f64) -> Vec<f64> {
    let min = lo.unwrap_or_else(|| xs.iter().copied().fold(f64::INFINITY, f64::min));
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !(max - min).is_finite() || max - min <= 1e-12 {
        return vec![flat; xs.len()];
    }
    xs.iter().map(|x| ((x - min) / (max - min)).clamp(0.0, 1.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_relevance_ranks_the_matching_line_first() {
        let texts: Vec<String> = [
            "[00:01.0-00:02.0] a red car drives past",
            "[00:03.0-00:04.0] THE END",
            "[00:05.0-00:06.0] credits: directed by Sacha Goedegebure",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let r = relevance(None, "Who directed the film?", &texts, 0.5).expect("bm25 only");
        assert_eq!(r.len(), 3);
        assert!(r[2] > r[0] && r[2] > r[1], "{r:?}");
        assert!(r.iter().all(|x| (0.0..=1.0).contains(x)));
    }
}
