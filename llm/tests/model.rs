//! The language model on the real GGUF files (SmolLM2-135M and the default
//! Qwen2.5-Coder-0.5B): tokenizer goldens from the reference implementation,
//! blocked attention against short chunks, and truncated files as clear
//! errors. The modules built on it are tested in `modules/tests/llm.rs`.
//!
//! Models come from `$VPROG_MODELS` (`vprog models fetch ID`).

use std::path::PathBuf;

use vprog_llm::gguf::GgufFile;
use vprog_llm::{Error, LlmTokenizer, Model};
use vprog_models::catalog::{QWEN_CODER_05B, SMOLLM2_135M};
use vprog_models::ModelStore;

/// The installed GGUF file of model `id` (`$VPROG_MODELS`, else the user cache).
fn gguf(id: &str) -> PathBuf {
    vprog_llm::model_path(&ModelStore::from_env(), id).unwrap_or_else(|e| panic!("{e}: run `vprog models fetch {id}`"))
}

#[test]
fn tokenizers_match_reference_goldens() {
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("data/tokenizer_golden.json")).expect("tokenizer_golden.json is valid JSON");
    for id in [SMOLLM2_135M, QWEN_CODER_05B] {
        let f = GgufFile::open(id, &gguf(id)).expect("the GGUF opens");
        let tok = LlmTokenizer::from_gguf(&f).expect("the tokenizer builds");
        let cases = golden["models"][id].as_array().expect("goldens for the model");
        assert!(cases.len() >= 15, "{id}: {} golden strings", cases.len());
        for case in cases {
            let text = case["text"].as_str().expect("text");
            let want: Vec<u32> = case["ids"].as_array().expect("ids").iter().map(|x| x.as_u64().expect("id") as u32).collect();
            let got = tok.encode(text).expect("encodes");
            assert_eq!(got, want, "{id}: token ids of {text:?}");
        }
        // Chat markers are single special tokens; decoding round-trips plain text.
        let ids = tok.encode("<|im_start|>user\nhi<|im_end|>").expect("encodes");
        assert_eq!(ids.first().copied(), tok.tokenizer.token_to_id("<|im_start|>"));
        assert_eq!(ids.last().copied(), tok.im_end);
        let text = "Café — 3.14 “quotes” 😀";
        assert_eq!(tok.decode(&tok.encode(text).expect("encodes")).expect("decodes"), text);
    }
}

#[test]
fn truncated_gguf_is_a_bad_model() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let bytes = std::fs::read(gguf(SMOLLM2_135M)).expect("reads the model");
    for keep in [0usize, 16, 4096, bytes.len() / 2, bytes.len() - 1] {
        let path = tmp.path().join(format!("cut{keep}.gguf"));
        std::fs::write(&path, &bytes[..keep]).expect("writes the copy");
        match Model::load(SMOLLM2_135M, &path, &candle_core::Device::Cpu) {
            Err(Error::BadModel { path: p, reason, .. }) => assert_eq!(p, path, "{reason}"),
            Err(other) => panic!("{keep} bytes: expected BadModel, got {other}"),
            Ok(_) => panic!("{keep} bytes: a truncated model loaded"),
        }
    }
}

/// A long chunk runs its attention in blocks of `QUERY_BLOCK` queries, each
/// against only the keys it may see; the logits equal those of feeding the
/// same tokens in chunks of one block each, on top of the cache.
#[test]
fn blocked_attention_matches_short_chunks() {
    let path = gguf(SMOLLM2_135M);
    let f = GgufFile::open(SMOLLM2_135M, &path).expect("SmolLM2 opens");
    let tok = LlmTokenizer::from_gguf(&f).expect("tokenizer");
    let model = Model::load(SMOLLM2_135M, &path, &candle_core::Device::Cpu).expect("SmolLM2 loads");
    let ids = tok.encode(&"So what is luck? It is success or failure apparently caused by chance. ".repeat(20)).expect("encodes");
    assert!(ids.len() > 300, "{} tokens: long enough for three blocks", ids.len());
    let mut whole = vprog_llm::model::KvCache::default();
    let a = model.forward_last(&ids, &mut whole).expect("one chunk").to_vec1::<f32>().expect("logits");
    let mut pieces = vprog_llm::model::KvCache::default();
    let mut b = Vec::new();
    for chunk in ids.chunks(vprog_llm::model::QUERY_BLOCK) {
        b = model.forward_last(chunk, &mut pieces).expect("a short chunk").to_vec1::<f32>().expect("logits");
    }
    assert_eq!(whole.len(), pieces.len());
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-2, "largest logit difference {worst}");
    let argmax = |v: &[f32]| v.iter().enumerate().fold((0, f32::MIN), |m, (i, &x)| if x > m.1 { (i, x) } else { m }).0;
    assert_eq!(argmax(&a), argmax(&b));
}
