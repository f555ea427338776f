//! The in-process model on candle 0.11 (the default on the CPU): a quantized Qwen2 GGUF file read
//! with candle's tiled, int8-repacked kernels ([`qwen2`]), its tokenizer read from the same file,
//! Qwen's chat template and clerk's protocol, and the computed prefixes kept between steps
//! ([`prefix`]): the shared system message once per process, and each conversation's latest
//! sequence, so a step computes only what was added since.
//!
//! The model runs on a thread of its own, one step at a time, never on the async runtime's
//! workers; a step streams its text back as it is generated and stops when its caller goes away
//! (a time-out, a shopper who left).

mod attention;
pub mod prefix;
pub mod qwen2;

use crate::spec::StepCounts;
use candle_core::Device;
use candle_core::quantized::gguf_file;
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use candle_transformers::generation::{LogitsProcessor, Sampling};
use clerk_core::llm::protocol::{self, ChatRole, Piece};
use clerk_core::llm::{ChatMessage, LlmError, Role};
use prefix::PrefixStore;
use qwen2::{KvCache, Qwen2};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tokenizers::Tokenizer;
use tokio::sync::mpsc;

/// Conversations whose latest sequence is kept (about 57 KB a token for the bundled model: a
/// conversation of 3,000 tokens holds 170 MB).
const CONVERSATIONS_KEPT: usize = 8;
/// Distinct system messages kept (the shoppers', the merchants').
const SYSTEM_MESSAGES_KEPT: usize = 2;
/// Most prompt tokens computed in one pass (bounds the attention's scratch memory, and lets a
/// step abandoned mid-prompt stop soon). A 2,866-token prompt on 2 cores (`examples/qwen2_speed`,
/// release): 87 tokens/s in passes of 256, 79 of 512, 75 of 1,024, 63 in one.
const PROMPT_CHUNK: usize = 256;

/// Qwen's chat markup and clerk's protocol tags as the model's own tokens, and text as text.
#[derive(Debug)]
pub struct ChatTokenizer {
    /// Reads text as text: markup a shopper types is never the model's markup.
    text: Tokenizer,
    im_start: u32,
    im_end: u32,
    end_of_text: u32,
    /// The protocol's tags and their tokens, where the vocabulary has one (Qwen2.5 has
    /// `<tool_call>` and `</tool_call>`, and reads `<tool_response>` as text).
    tags: Vec<(&'static str, u32)>,
}

impl ChatTokenizer {
    /// The tokenizer of a GGUF file (its vocabulary, merges and special tokens).
    pub fn from_gguf(content: &gguf_file::Content) -> Result<ChatTokenizer, String> {
        let mut text = Tokenizer::from_gguf(content).map_err(|e| e.to_string())?;
        let id = |token: &str| {
            text.token_to_id(token)
                .ok_or_else(|| format!("the model's vocabulary has no {token}"))
        };
        let im_start = id("<|im_start|>")?;
        let im_end = id("<|im_end|>")?;
        let end_of_text = id("<|endoftext|>")?;
        let tags = protocol::TAGS
            .into_iter()
            .filter_map(|tag| Some((tag, text.token_to_id(tag)?)))
            .collect();
        text.set_encode_special_tokens(true);
        Ok(ChatTokenizer {
            text,
            im_start,
            im_end,
            end_of_text,
            tags,
        })
    }

    /// `text`'s tokens, markup and all read as text. A text the tokenizer cannot read fails the
    /// step (the engine hands the shopper to staff) rather than reaching the model with words
    /// left out.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        self.text
            .encode(text, false)
            .map(|encoding| encoding.get_ids().to_vec())
            .map_err(|e| LlmError::Failed(format!("the tokenizer cannot read a message: {e}")))
    }

    /// The text of `ids`, markup included.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.text.decode(ids, false).unwrap_or_default()
    }

    /// The token of a protocol tag, if the vocabulary has one.
    fn tag(&self, tag: &str) -> Option<u32> {
        self.tags.iter().find(|(t, _)| *t == tag).map(|(_, id)| *id)
    }

    /// The prompt of `messages` in Qwen's chat template, ending where the assistant's step
    /// begins, and where the leading system message ends (what every conversation shares).
    pub fn prompt(&self, messages: &[ChatMessage]) -> Result<(Vec<u32>, Option<usize>), LlmError> {
        let mut tokens = Vec::new();
        let mut system_end = None;
        for i in 0..messages.len() {
            let (role, pieces) = protocol::message_pieces(messages, i);
            let name = match role {
                ChatRole::System => "system",
                ChatRole::User => "user",
                ChatRole::Assistant => "assistant",
            };
            tokens.push(self.im_start);
            let mut text = format!("{name}\n");
            for piece in pieces {
                match piece {
                    Piece::Text(more) => text.push_str(&more),
                    Piece::Tag(tag) => match self.tag(tag) {
                        Some(id) => {
                            tokens.extend(self.encode(&std::mem::take(&mut text))?);
                            tokens.push(id);
                        }
                        None => text.push_str(tag),
                    },
                }
            }
            tokens.extend(self.encode(&text)?);
            tokens.push(self.im_end);
            tokens.extend(self.encode("\n")?);
            if i == 0 && messages[0].role == Role::System {
                system_end = Some(tokens.len());
            }
        }
        tokens.push(self.im_start);
        tokens.extend(self.encode("assistant\n")?);
        Ok((tokens, system_end))
    }
}

/// What the worker sends back while a step runs.
enum Event {
    /// More of the step's text.
    Text(String),
    /// The step ended.
    Done(StepCounts),
    /// The step failed.
    Failed(LlmError),
}

/// A step for the worker.
struct Job {
    tokens: Vec<u32>,
    system_end: Option<usize>,
    max_tokens: usize,
    events: mpsc::UnboundedSender<Event>,
}

/// The GGUF model on candle, on its own thread.
pub struct CandleModel {
    tokenizer: Arc<ChatTokenizer>,
    jobs: std::sync::mpsc::Sender<Job>,
}

impl CandleModel {
    /// Reads the GGUF file (weights and tokenizer) and starts the model's thread. Blocking: a
    /// second or two for the bundled model.
    pub fn load(path: &Path) -> Result<CandleModel, LlmError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            LlmError::Unavailable(format!("cannot load {}: {e}", path.display()))
        };
        let mut file = std::fs::File::open(path).map_err(|e| unavailable(&e))?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| unavailable(&e))?;
        let architecture = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if architecture != "qwen2" {
            return Err(unavailable(&format!(
                "the candle runtime runs Qwen2 models, and this one is {architecture:?} \
                 (try --runtime mistralrs, or a remote model with --model-url)"
            )));
        }
        let tokenizer = Arc::new(ChatTokenizer::from_gguf(&content).map_err(|e| unavailable(&e))?);
        let model =
            Qwen2::from_gguf(&content, &mut file, &Device::Cpu).map_err(|e| unavailable(&e))?;
        let (jobs, queue) = std::sync::mpsc::channel();
        let worker_tokenizer = tokenizer.clone();
        std::thread::Builder::new()
            .name("clerk-model".into())
            .spawn(move || serve(&model, &worker_tokenizer, &queue))
            .map_err(|e| unavailable(&e))?;
        Ok(CandleModel { tokenizer, jobs })
    }

    /// Tokens of `text`, if the tokenizer reads it.
    pub fn count_tokens(&self, text: &str) -> Option<usize> {
        self.tokenizer.encode(text).ok().map(|ids| ids.len())
    }

    /// Runs one step of `messages`: at most `max_tokens` generated, its text given to
    /// `on_piece` as it comes. Returns the whole text and what was computed.
    pub async fn generate(
        &self,
        messages: &[ChatMessage],
        max_tokens: usize,
        on_piece: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(String, StepCounts), LlmError> {
        let (tokens, system_end) = self.tokenizer.prompt(messages)?;
        let (events, mut receiver) = mpsc::unbounded_channel();
        self.jobs
            .send(Job {
                tokens,
                system_end,
                max_tokens,
                events,
            })
            .map_err(|_| LlmError::Unavailable("the model's thread has stopped".into()))?;
        let mut text = String::new();
        while let Some(event) = receiver.recv().await {
            match event {
                Event::Text(piece) => {
                    text.push_str(&piece);
                    on_piece(&piece);
                }
                Event::Done(counts) => return Ok((text, counts)),
                Event::Failed(error) => return Err(error),
            }
        }
        Err(LlmError::Failed(
            "the model's thread stopped mid-step".into(),
        ))
    }
}

/// The model's thread: steps one after another, the computed prefixes kept between them.
fn serve(model: &Qwen2, tokenizer: &ChatTokenizer, jobs: &std::sync::mpsc::Receiver<Job>) {
    let mut kept = PrefixStore::<KvCache>::new(CONVERSATIONS_KEPT, SYSTEM_MESSAGES_KEPT);
    while let Ok(job) = jobs.recv() {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run(model, tokenizer, &mut kept, &job)
        }));
        let event = match outcome {
            Ok(Ok(counts)) => Event::Done(counts),
            Ok(Err(error)) => Event::Failed(error),
            Err(_) => {
                kept = PrefixStore::new(CONVERSATIONS_KEPT, SYSTEM_MESSAGES_KEPT);
                Event::Failed(LlmError::Failed("the model's step panicked".into()))
            }
        };
        // A caller gone away wants nothing more.
        let _ = job.events.send(event);
    }
}

/// Why a step stopped early.
fn failed(error: candle_core::Error) -> LlmError {
    LlmError::Failed(error.to_string())
}

/// Computes `tokens` after `cache` in passes of [`PROMPT_CHUNK`]; the last pass's logits.
fn prompt_in_chunks(
    model: &Qwen2,
    tokens: &[u32],
    cache: &mut KvCache,
    job: &Job,
) -> Result<candle_core::Tensor, LlmError> {
    let mut logits = None;
    for chunk in tokens.chunks(PROMPT_CHUNK) {
        if job.events.is_closed() {
            return Err(LlmError::Failed("the step was abandoned".into()));
        }
        logits = Some(model.forward(chunk, cache).map_err(failed)?);
    }
    logits.ok_or_else(|| LlmError::Failed("an empty prompt".into()))
}

/// One step: the prompt from the longest kept prefix on (the system message first, and kept,
/// when it is not yet), then tokens one at a time until the end of the turn, a whole tool call,
/// or the limit.
fn run(
    model: &Qwen2,
    tokenizer: &ChatTokenizer,
    kept: &mut PrefixStore<KvCache>,
    job: &Job,
) -> Result<StepCounts, LlmError> {
    let started = Instant::now();
    let tokens = &job.tokens;
    let (mut cache, cached) = kept.take(tokens).unwrap_or_default();
    let mut done = cached;
    if let Some(end) = job
        .system_end
        .filter(|&end| end > done && end < tokens.len())
        && !kept.is_pinned(&tokens[..end])
    {
        prompt_in_chunks(model, &tokens[done..end], &mut cache, job)?;
        kept.keep(tokens[..end].to_vec(), cache.clone(), true);
        done = end;
    }
    let mut logits = prompt_in_chunks(model, &tokens[done..], &mut cache, job)?;
    let prompt_seconds = started.elapsed().as_secs_f64();
    let decoding = Instant::now();
    let mut sampler = LogitsProcessor::from_sampling(0, Sampling::ArgMax);
    let mut computed = tokens.clone();
    let mut generated = Vec::new();
    let mut shown = 0;
    let call_close = tokenizer.tag(protocol::CALL_CLOSE);
    let outcome = loop {
        let next = sampler.sample(&logits).map_err(failed)?;
        if next == tokenizer.im_end || next == tokenizer.end_of_text {
            break Ok(false);
        }
        generated.push(next);
        let text = tokenizer.decode(&generated);
        // A character split over tokens is sent whole, with its last token.
        if text.len() > shown && !text.ends_with('\u{FFFD}') && text.is_char_boundary(shown) {
            let _ = job.events.send(Event::Text(text[shown..].to_owned()));
            shown = text.len();
        }
        if Some(next) == call_close {
            break Ok(false);
        }
        if generated.len() >= job.max_tokens {
            break Ok(true);
        }
        if job.events.is_closed() {
            break Err(LlmError::Failed("the step was abandoned".into()));
        }
        logits = model.forward(&[next], &mut cache).map_err(failed)?;
        computed.push(next);
    };
    kept.keep(computed, cache, false);
    let cut = outcome?;
    Ok(StepCounts {
        prompt_tokens: tokens.len(),
        cached_tokens: Some(cached),
        prompt_seconds,
        prompt_tokens_per_sec: (tokens.len() - cached) as f64 / prompt_seconds.max(1e-9),
        completion_tokens: generated.len(),
        completion_seconds: decoding.elapsed().as_secs_f64(),
        cut,
    })
}
