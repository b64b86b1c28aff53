//! Okapi BM25 over short documents (cues, sentences) and the word tokeniser it uses.
//!
//! Tokens: the text lowercased, split on anything not alphanumeric (so
//! `it's` gives `it` and `s`), without one-letter words (digits stay), without
//! a short list of English function words, lightly stemmed ([`stem`]).
//!
//! Score of document `d` for query tokens `q` (each distinct token once):
//! `Σ_{t∈q} idf(t) · tf(t,d)·(k1+1) / (tf(t,d) + k1·(1 − b + b·|d|/avgdl))`
//! with `k1 = 1.2`, `b = 0.75` and `idf(t) = ln(1 + (N − df(t) + 0.5)/(df(t) + 0.5))`
//! (always positive), over the `N` documents of the index.

use std::collections::{BTreeSet, HashMap};

/// Term-frequency saturation.
pub const K1: f64 = 1.2;
/// Length normalisation.
pub const B: f64 = 0.75;

/// Function words that carry no topic (BM25 alone would give them a high idf
/// in a collection as small as one talk's cues).
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has",
    "have", "he", "her", "him", "his", "how", "if", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "our", "she", "so",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "to", "us", "was", "we", "were", "what",
    "when", "where", "which", "who", "why", "will", "with", "would", "you", "your", "ll", "re", "ve", "don", "isn", "doesn", "didn",
];

/// Light suffix stripping, enough to match plurals and simple inflections:
/// `-ies`→`-y`, `-sses`→`-ss`, plural `-s` (not `-ss`, `-us`, `-is`), then
/// `-ing`, `-ed`, `-ly` when a stem of at least three letters remains.
pub fn stem(word: &str) -> String {
    let n = word.len();
    let mut w: String = if n > 4 && word.ends_with("ies") {
        format!("{}y", &word[..n - 3])
    } else if word.ends_with("sses") {
        word[..n - 2].to_string()
    } else if n > 3 && word.ends_with('s') && !word.ends_with("ss") && !word.ends_with("us") && !word.ends_with("is") {
        word[..n - 1].to_string()
    } else {
        word.to_string()
    };
    for suffix in ["ing", "ed", "ly"] {
        if w.len() >= suffix.len() + 3 && w.ends_with(suffix) {
            w.truncate(w.len() - suffix.len());
            break;
        }
    }
    w
}

/// The BM25 tokens of `text`, in order.
pub fn tokenize(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .filter(|w| w.chars().nth(1).is_some() || w.chars().all(|c| c.is_ascii_digit()))
        .filter(|w| !STOPWORDS.contains(w))
        .map(|w| if w.is_ascii() { stem(w) } else { w.to_string() })
        .collect()
}

/// A BM25 index over a fixed list of documents.
#[derive(Debug, Clone)]
pub struct Bm25 {
    /// Per document: token → count.
    tf: Vec<HashMap<String, u32>>,
    /// Per document: token count.
    len: Vec<f64>,
    /// Token → number of documents holding it.
    df: HashMap<String, u32>,
    avgdl: f64,
}

impl Bm25 {
    /// Indexes `docs`.
    pub fn new<S: AsRef<str>>(docs: &[S]) -> Bm25 {
        let mut tf = Vec::with_capacity(docs.len());
        let mut len = Vec::with_capacity(docs.len());
        let mut df: HashMap<String, u32> = HashMap::new();
        for d in docs {
            let tokens = tokenize(d.as_ref());
            len.push(tokens.len() as f64);
            let mut counts: HashMap<String, u32> = HashMap::new();
            for t in tokens {
                *counts.entry(t).or_insert(0) += 1;
            }
            for t in counts.keys() {
                *df.entry(t.clone()).or_insert(0) += 1;
            }
            tf.push(counts);
        }
        let avgdl = if len.is_empty() { 0.0 } else { len.iter().sum::<f64>() / len.len() as f64 };
        Bm25 { tf, len, df, avgdl }
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.tf.len()
    }

    /// Whether there are no documents.
    pub fn is_empty(&self) -> bool {
        self.tf.is_empty()
    }

    /// `idf(t)`; 0 for a token no document holds.
    pub fn idf(&self, token: &str) -> f64 {
        let n = self.tf.len() as f64;
        match self.df.get(token) {
            Some(&df) => (1.0 + (n - f64::from(df) + 0.5) / (f64::from(df) + 0.5)).ln(),
            None => 0.0,
        }
    }

    /// The BM25 score of every document for `query` (0 where no query token occurs).
    pub fn scores(&self, query: &str) -> Vec<f64> {
        let terms: BTreeSet<String> = tokenize(query).into_iter().collect();
        let idf: Vec<(&String, f64)> = terms.iter().map(|t| (t, self.idf(t))).filter(|(_, w)| *w > 0.0).collect();
        self.tf
            .iter()
            .zip(&self.len)
            .map(|(tf, &dl)| {
                let norm = if self.avgdl > 0.0 { K1 * (1.0 - B + B * dl / self.avgdl) } else { K1 };
                idf.iter()
                    .map(|(t, w)| match tf.get(*t) {
                        Some(&f) => {
                            let f = f64::from(f);
                            w * f * (K1 + 1.0) / (f + norm)
                        }
                        None => 0.0,
                    })
                    .sum()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_lowercased_stemmed_and_filtered() {
        assert_eq!(tokenize("So what is Luck?"), vec!["luck"]);
        assert_eq!(
            tokenize("Entrepreneurs' ventures failed, strikes 2 parties"),
            vec!["entrepreneur", "venture", "fail", "strike", "2", "party"]
        );
        assert_eq!(stem("teaching"), "teach");
        assert_eq!(stem("class"), "class");
        assert_eq!(stem("sing"), "sing");
    }

    #[test]
    fn rarer_terms_and_shorter_docs_score_higher() {
        let idx = Bm25::new(&["luck is chance", "luck luck and more luck in a long sentence about many things", "nothing here"]);
        let s = idx.scores("luck chance");
        assert!(s[0] > s[1] && s[1] > 0.0, "{s:?}");
        assert_eq!(s[2], 0.0);
        assert!(idx.idf("chance") > idx.idf("luck"));
        assert_eq!(idx.scores("zebra"), vec![0.0; 3]);
        assert!(Bm25::new::<&str>(&[]).scores("x").is_empty());
    }
}
