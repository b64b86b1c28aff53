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

/// A long stable prefix (a system prompt) prefilled in one process is read
/// back in the next: the second prefill reuses it, gives the same logits
/// bit for bit, and a damaged or foreign file is ignored, not trusted.
#[test]
fn stored_prefixes_are_reused_across_processes_and_checked() {
    use vprog_llm::model::{PrefixCache, QUERY_BLOCK};
    use vprog_llm::persist::PrefixStore;
    let path = gguf(SMOLLM2_135M);
    let f = GgufFile::open(SMOLLM2_135M, &path).expect("SmolLM2 opens");
    let tok = LlmTokenizer::from_gguf(&f).expect("tokenizer");
    let model = Model::load(SMOLLM2_135M, &path, &candle_core::Device::Cpu).expect("SmolLM2 loads");
    let system = "You write programs. ".repeat(80);
    let ids = tok.encode(&format!("{system}Question: how many people walk through the scene?")).expect("encodes");
    let stable = tok.encode(&system).expect("encodes").len();
    assert!(stable >= 2 * QUERY_BLOCK, "{stable} tokens");
    let root = tempfile::tempdir().expect("temp dir");
    let store = PrefixStore::for_model(root.path(), &path).expect("a store for the model file");
    let aligned = stable / QUERY_BLOCK * QUERY_BLOCK;

    // First process: computed, and stored.
    let (first, _, reused) = PrefixCache::default().prefill_persisting(&model, &ids, Some((&store, stable))).expect("prefill");
    assert_eq!(reused, 0);
    let files: Vec<_> = std::fs::read_dir(store.dir()).expect("stored").flatten().collect();
    assert_eq!(files.len(), 1, "one prefix file");
    // Next process (a fresh memory cache): read back, same logits.
    let (second, cache, reused) = PrefixCache::default().prefill_persisting(&model, &ids, Some((&store, stable))).expect("prefill");
    assert_eq!(reused, aligned, "the stored prefix is reused");
    assert_eq!(cache.len(), ids.len());
    assert_eq!(first.to_vec1::<f32>().expect("logits"), second.to_vec1::<f32>().expect("logits"), "identical logits");
    // Another model's store never sees this one's files.
    let other = PrefixStore::for_model(root.path(), &gguf(QWEN_CODER_05B)).expect("store");
    assert_ne!(other.dir(), store.dir());
    // A damaged file is ignored: computed again (and rewritten).
    let file = files[0].path();
    std::fs::write(&file, b"not safetensors").expect("damage it");
    let (third, _, reused) = PrefixCache::default().prefill_persisting(&model, &ids, Some((&store, stable))).expect("prefill");
    assert_eq!(reused, 0, "a damaged file is not used");
    assert_eq!(first.to_vec1::<f32>().expect("logits"), third.to_vec1::<f32>().expect("logits"));
    assert!(std::fs::metadata(&file).expect("rewritten").len() > 1000, "the damaged file was replaced");
}

/// Qwen's Q5_0 matrices are requantized to Q8_0 at load; the prepared weights
/// are stored on the first load and read back by the next, giving the same
/// logits bit for bit, and a damaged file or one made for another model is
/// ignored and written again, never trusted.
#[test]
fn prepared_weights_are_stored_read_back_and_checked() {
    use vprog_llm::model::KvCache;
    use vprog_llm::prepared::PreparedStore;
    let cpu = candle_core::Device::Cpu;
    let path = gguf(QWEN_CODER_05B);
    let tok = LlmTokenizer::from_gguf(&GgufFile::open(QWEN_CODER_05B, &path).expect("Qwen opens")).expect("tokenizer");
    let ids = tok.encode("Question: how many people walk through the scene?").expect("encodes");
    let logits = |m: &Model| m.forward_last(&ids, &mut KvCache::default()).expect("runs").to_vec1::<f32>().expect("logits");
    let want = logits(&Model::load(QWEN_CODER_05B, &path, &cpu).expect("Qwen loads"));
    let root = tempfile::tempdir().expect("temp dir");
    let store = PreparedStore::for_model(root.path(), &path).expect("a store for the model file");
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).expect("the prepared file");

    // First process: prepared while loading, and stored.
    assert_eq!(logits(&Model::load_prepared(QWEN_CODER_05B, &path, &cpu, &store).expect("loads")), want);
    let file = store.file().to_path_buf();
    let size = std::fs::metadata(&file).expect("stored").len();
    let (f, stamp) = (GgufFile::open(QWEN_CODER_05B, &file).expect("a GGUF file"), modified(&file));
    // Stored as the model holds it: Q8_0, padded to 1,024 columns where candle's VNNI kernels need it.
    let cols = if vprog_llm::model::kernel_tag() == "cpu-vnni" { 1024 } else { 896 };
    assert_eq!(f.tensor_dims("blk.0.ffn_up.weight"), Some(&[4864, cols][..]));
    assert_eq!(f.content.tensor_infos["blk.0.ffn_up.weight"].ggml_dtype, candle_core::quantized::GgmlDType::Q8_0);
    // Next process: read back (not prepared and written again), same logits.
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(logits(&Model::load_prepared(QWEN_CODER_05B, &path, &cpu, &store).expect("loads")), want);
    assert_eq!(modified(&file), stamp, "read, not rewritten");

    // A truncated file: ignored, the weights prepared again, the file replaced.
    let bytes = std::fs::read(&file).expect("read");
    std::fs::write(&file, &bytes[..bytes.len() / 2]).expect("truncate it");
    assert_eq!(logits(&Model::load_prepared(QWEN_CODER_05B, &path, &cpu, &store).expect("loads")), want);
    assert_eq!(std::fs::metadata(&file).expect("rewritten").len(), size, "the damaged file was replaced");

    // Another model's store has its own file, and never trusts Qwen's.
    let small = gguf(SMOLLM2_135M);
    let other = PreparedStore::for_model(root.path(), &small).expect("store");
    assert_ne!(other.file(), store.file());
    std::fs::copy(&file, other.file()).expect("plant Qwen's weights");
    let m = Model::load_prepared(SMOLLM2_135M, &small, &cpu, &other).expect("SmolLM2 loads");
    assert_eq!(m.config.hidden, 576, "SmolLM2's own weights");
    assert!(std::fs::metadata(other.file()).expect("rewritten").len() < size, "the planted file was replaced");
}
