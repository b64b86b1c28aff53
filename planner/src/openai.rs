//! Any OpenAI-compatible chat-completions server (to be written).
