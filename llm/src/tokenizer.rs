//! The tokenizer of a GGUF model, built from its metadata.
//!
//! Only byte-level BPE vocabularies (`tokenizer.ggml.model = "gpt2"`) are
//! supported, which covers SmolLM2 and Qwen2. The construction follows the
//! reference (transformers' GGUF conversion):
//!
//! - **Vocabulary**: `tokenizer.ggml.tokens` in order; a token holding a
//!   character outside the byte-level alphabet is re-spelled through its UTF-8
//!   bytes. **Merges**: `tokenizer.ggml.merges` (`"a b"` pairs), rank = order.
//! - **Pre-tokenizer** by `tokenizer.ggml.pre`: `qwen2` (and its aliases)
//!   splits with Qwen2's regex, then maps to byte-level characters; `llama3`
//!   style vocabularies use Llama 3's regex; anything else (`smollm`, `gpt2`,
//!   ...) uses the GPT-2 byte-level regex.
//! - **Added tokens**: every `CONTROL` token (type 3, e.g. `<|im_start|>`,
//!   `<|im_end|>`, `<|endoftext|>`) spelled in the byte-level alphabet becomes a
//!   special token, matched whole in the text; every `USER_DEFINED` token
//!   (type 4, e.g. `<tool_call>`) an ordinary added token, also matched whole.
//! - No BOS is added (both models say `add_bos_token = false`); the decoder is
//!   byte-level.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::Error;
use candle_core::quantized::gguf_file;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

use crate::gguf::GgufFile;

/// Qwen2's pre-tokenizer split.
pub const QWEN2_SPLIT: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Llama 3's pre-tokenizer split.
pub const LLAMA3_SPLIT: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A GGUF model's tokenizer and the ids the modules need.
pub struct LlmTokenizer {
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos: Option<u32>,
    /// `<|im_end|>`, when the vocabulary has it (end of a ChatML turn).
    pub im_end: Option<u32>,
    /// Which pre-tokenizer split was used (`qwen2`, `llama3`, `gpt2`).
    pub split: &'static str,
}

impl LlmTokenizer {
    /// Builds the tokenizer from the metadata of `f`.
    pub fn from_gguf(f: &GgufFile) -> Result<LlmTokenizer, Error> {
        let kind = f.meta_str("tokenizer.ggml.model")?;
        if kind != "gpt2" {
            return Err(f.bad(format!("tokenizer `{kind}` is not supported (byte-level BPE, `gpt2`, is)")));
        }
        let tokens = strings(f, "tokenizer.ggml.tokens")?;
        let merges = strings(f, "tokenizer.ggml.merges")?;
        let types: Vec<i64> = match f.content.metadata.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(|e| f.bad(format!("tokenizer.ggml.token_type: {e}")))?
                .iter()
                .map(|t| match t {
                    gguf_file::Value::I32(x) => i64::from(*x),
                    gguf_file::Value::U32(x) => i64::from(*x),
                    other => other.to_i32().map(i64::from).unwrap_or(1),
                })
                .collect(),
            None => Vec::new(),
        };
        let alphabet = byte_alphabet();
        let in_alphabet = |t: &str| t.chars().all(|c| alphabet.contains_key(&c));
        let mut vocab = Vocab::default();
        for (i, t) in tokens.iter().enumerate() {
            let spelled = if in_alphabet(t) { t.clone() } else { t.bytes().map(byte_char).collect() };
            vocab.insert(spelled, i as u32);
        }
        let mut pairs = Vec::with_capacity(merges.len());
        for m in &merges {
            let Some((a, b)) = m.split_once(' ') else {
                return Err(f.bad(format!("merge `{m}` is not a pair")));
            };
            pairs.push((a.to_string(), b.to_string()));
        }
        let bpe =
            BPE::builder().vocab_and_merges(vocab, pairs).build().map_err(|e| f.bad(format!("the BPE vocabulary is inconsistent: {e}")))?;
        let mut tokenizer = Tokenizer::new(bpe);
        let pre = f.meta_str("tokenizer.ggml.pre").unwrap_or("gpt2");
        let (split, regex) = match pre {
            "qwen2" | "deepseek-r1-qwen" | "megrez" => ("qwen2", Some(QWEN2_SPLIT)),
            "llama3" | "llama-v3" | "llama-bpe" | "smaug-bpe" | "dbrx" | "falcon3" => ("llama3", Some(LLAMA3_SPLIT)),
            _ => ("gpt2", None),
        };
        let pre_tokenizer: PreTokenizerWrapper = match regex {
            Some(r) => {
                let split = Split::new(SplitPattern::Regex(r.to_string()), SplitDelimiterBehavior::Isolated, false)
                    .map_err(|e| f.bad(format!("pre-tokenizer regex: {e}")))?;
                Sequence::new(vec![split.into(), ByteLevel::new(false, true, false).into()]).into()
            }
            None => ByteLevel::new(false, true, true).into(),
        };
        tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
        tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
        let control: Vec<AddedToken> = tokens
            .iter()
            .zip(types.iter())
            .filter(|(t, ty)| **ty == 3 && in_alphabet(t))
            .map(|(t, _)| AddedToken::from(t.clone(), true).normalized(false))
            .collect();
        tokenizer.add_special_tokens(control).map_err(|e| f.bad(format!("special tokens: {e}")))?;
        let user: Vec<AddedToken> = tokens
            .iter()
            .zip(types.iter())
            .filter(|(t, ty)| **ty == 4 && in_alphabet(t))
            .map(|(t, _)| AddedToken::from(t.clone(), false).normalized(false))
            .collect();
        tokenizer.add_tokens(user).map_err(|e| f.bad(format!("added tokens: {e}")))?;
        let eos = f.meta_usize("tokenizer.ggml.eos_token_id").ok().and_then(|x| u32::try_from(x).ok());
        let im_end = tokenizer.token_to_id("<|im_end|>");
        Ok(LlmTokenizer { tokenizer, eos, im_end, split })
    }

    /// Token ids of `text` (special tokens in the text are matched whole; no BOS).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, Error> {
        let enc = self.tokenizer.encode_fast(text, false).map_err(|e| Error::Failed(format!("tokenizing: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// How many tokens `text` is.
    pub fn count(&self, text: &str) -> usize {
        self.encode(text).map(|ids| ids.len()).unwrap_or_else(|_| text.len())
    }

    /// The text of `ids` (special tokens dropped).
    pub fn decode(&self, ids: &[u32]) -> Result<String, Error> {
        self.tokenizer.decode(ids, true).map_err(|e| Error::Failed(format!("detokenizing: {e}")))
    }

    /// Whether `id` ends a generation (EOS or `<|im_end|>`).
    pub fn is_end(&self, id: u32) -> bool {
        Some(id) == self.eos || Some(id) == self.im_end
    }
}

fn strings(f: &GgufFile, key: &str) -> Result<Vec<String>, Error> {
    f.meta_array(key)?.iter().map(|v| v.to_string().cloned().map_err(|e| f.bad(format!("`{key}` holds a non-string: {e}")))).collect()
}

/// GPT-2's reversible byte → printable character map.
fn byte_table() -> &'static [char; 256] {
    static TABLE: OnceLock<[char; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = ['\0'; 256];
        let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let mut n = 0u32;
        for b in 0..256u32 {
            table[b as usize] = if printable(b) {
                char::from_u32(b).unwrap_or('\0')
            } else {
                n += 1;
                char::from_u32(255 + n).unwrap_or('\0')
            };
        }
        table
    })
}

fn byte_char(b: u8) -> char {
    byte_table()[b as usize]
}

fn byte_alphabet() -> &'static HashMap<char, u8> {
    static MAP: OnceLock<HashMap<char, u8>> = OnceLock::new();
    MAP.get_or_init(|| byte_table().iter().enumerate().map(|(b, c)| (*c, b as u8)).collect())
}
