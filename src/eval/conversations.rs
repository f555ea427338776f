//! `clerk eval conversations`: does the agent do the shopper's job? Fixed shopper lines (one to
//! four a conversation, written so that they make sense whatever a reasonable agent answers: the
//! shopper gives what the policy asks for up front, and says "yes" when a change is listed) are
//! played against the engine on a fresh copy of the demo store, and each conversation is checked
//! by machine:
//!
//! - the final store equals the store with exactly the expected writes applied (replayed through
//!   clerk's tools on another copy, as `clerk eval tau2` does), so a missing, wrong or extra write
//!   fails;
//! - the tools that must have answered did (a successful call, the engine's or the model's);
//! - every fact the replies must state is in them (`a|b`: either);
//! - the conversation is, or is not, with staff at the end;
//! - the policy held: no write ran without a "yes" to its listing, and no reply named another
//!   customer's order, email or user id. A break is counted apart, whatever else passed.
//!
//! The report gives successes per job, the median time to a reply's first words (over every turn,
//! and over the turns the model took part in: what the shopper waits for the model), and why
//! each failure failed.

use super::json_mismatch;
use super::tau2::{replayed, scratch_app};
use crate::config::Settings;
use clerk_core::llm::{ChatMessage, ChatModel, ModelRequest, Role, ToolCall};
use clerk_core::prompts::Prompts;
use clerk_core::store::MessageRecord;
use clerk_core::store::model::StoreSnapshot;
use clerk_engine::conversation::{ConversationState, Engine, EngineConfig, ReplyEvent, policy};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use super::tau2::EvalError;

/// The conversations of a suite (`fixtures/eval/conversations.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Every conversation, in order.
    pub conversation: Vec<Case>,
}

/// One scripted conversation and what must hold after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// A short stable name.
    pub id: String,
    /// The job it tries (`order status`, `cancel`, …): successes are reported per job.
    pub job: String,
    /// What the shopper says, one message each, in order.
    pub shopper: Vec<String>,
    /// The customer the conversation must end authenticated as, if any.
    #[serde(default)]
    pub customer: Option<String>,
    /// Tools that must have answered successfully (made by the engine or by the model).
    #[serde(default)]
    pub calls: Vec<String>,
    /// The writes that must have run, and no others: the final store must equal the demo store
    /// with exactly these applied.
    #[serde(default)]
    pub writes: Vec<ExpectedWrite>,
    /// Facts the replies must state, case-insensitively; `a|b` accepts either.
    #[serde(default)]
    pub says: Vec<String>,
    /// Whether the conversation must end with staff (waiting for them).
    #[serde(default)]
    pub handoff: bool,
}

/// A write the conversation must make.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedWrite {
    /// The tool.
    pub name: String,
    /// Its arguments.
    pub arguments: Value,
}

/// Reads a suite.
pub fn parse_suite(text: &str) -> Result<Suite, EvalError> {
    let suite: Suite = toml::from_str(text).map_err(|e| EvalError::Tasks(e.to_string()))?;
    let mut ids = std::collections::HashSet::new();
    for case in &suite.conversation {
        if case.shopper.is_empty() {
            return Err(EvalError::Tasks(format!("{} has no shopper line", case.id)));
        }
        if !ids.insert(case.id.as_str()) {
            return Err(EvalError::Tasks(format!("{} is there twice", case.id)));
        }
    }
    Ok(suite)
}

/// Why a conversation failed, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// A tool that had to answer was never called, and the model called none at all.
    NoToolCall,
    /// A tool that had to answer was never called (others were).
    MissingCall,
    /// The policy gates refused a call the job needed.
    RefusedCall,
    /// The model wrote something that is neither a reply nor a tool call, and went to staff.
    InvalidStep,
    /// A step took longer than the time limit, and the conversation went to staff.
    Timeout,
    /// The model took too many steps without replying, and the conversation went to staff.
    TooManySteps,
    /// The model failed otherwise, and the conversation went to staff.
    ModelFailed,
    /// The conversation went to staff though the job needed none.
    UnwantedHandoff,
    /// The job needed staff, and the conversation did not go to them.
    NoHandoff,
    /// A reply lacked a fact it had to state.
    WrongAnswer,
    /// The final store is not the expected one (a write missing, wrong or extra).
    WrongStore,
    /// The conversation is authenticated as someone else, or as no one.
    WrongCustomer,
    /// A write was listed last, and awaits a yes the shopper's lines had already given (the
    /// model asked for the yes itself, then called the tool only after it).
    AwaitingYes,
    /// A reply spoke of the shopper instead of to them ("the customer's email is…") or showed
    /// one of the store's internal keys to the shopper: a user id, an item or product id, a
    /// payment method id.
    Voice,
}

/// A break of the store's policy seen in a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// `write_without_yes` or `other_customer`.
    pub kind: &'static str,
    /// What was seen.
    pub detail: String,
}

/// One conversation's result.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The case's id.
    pub id: String,
    /// Its job.
    pub job: String,
    /// Whether every check held.
    pub passed: bool,
    /// Why it failed, by kind, with the details.
    pub failures: Vec<(Failure, String)>,
    /// Policy breaks (each also fails the case).
    pub violations: Vec<Violation>,
    /// Seconds from each shopper message to the first words of the reply, for the turns that
    /// had one (a turn the engine answered without the model counts too).
    pub first_words_seconds: Vec<f64>,
    /// The same for the turns that took at least one model step.
    pub model_first_words_seconds: Vec<f64>,
    /// The replies the shopper got, in order.
    pub replies: Vec<String>,
    /// Tool calls made (by the engine or the model), in order, with `!` before a refused or
    /// failed one.
    pub calls: Vec<String>,
    /// Seconds the conversation took.
    pub seconds: f64,
}

/// What `clerk eval conversations` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Conversations run.
    pub conversations: usize,
    /// Conversations that passed.
    pub passed: usize,
    /// passed / conversations.
    pub success_rate: f64,
    /// Per job: (passed, run).
    pub jobs: BTreeMap<String, (usize, usize)>,
    /// Failures over all conversations, by kind.
    pub failures: BTreeMap<String, usize>,
    /// Policy breaks over all conversations.
    pub violations: usize,
    /// The median of every turn's time to first words, in seconds.
    pub median_first_words_seconds: Option<f64>,
    /// The median over the turns that took at least one model step.
    pub median_model_first_words_seconds: Option<f64>,
    /// Seconds the run took (the warm-up excluded).
    pub seconds: f64,
    /// Every conversation.
    pub results: Vec<CaseResult>,
}

/// Runs `cases` with `model` as the agent on copies of `snapshot`, in `scratch`. `progress`
/// hears of each finished conversation.
pub async fn run(
    snapshot: &StoreSnapshot,
    cases: &[Case],
    model: Arc<dyn ChatModel>,
    settings: &Settings,
    scratch: &Path,
    engine_config: &EngineConfig,
    progress: &(dyn Fn(&CaseResult) + Sync),
) -> Result<Report, EvalError> {
    let prompts = Prompts::new(settings.prompts_dir.as_deref());
    // The system message is computed once, before anything is timed.
    let (warm, warm_store) = scratch_app(snapshot, settings, scratch, "warm-up").await?;
    let system = Engine::new(
        warm_store.clone(),
        warm.tools.clone(),
        model.clone(),
        &prompts,
        engine_config.clone(),
    )?
    .system_message()
    .to_owned();
    warm_store.close().await;
    model.ready().await;
    let greeting = [
        ChatMessage::text(Role::System, system),
        ChatMessage::text(Role::User, "Hello"),
    ];
    let request = ModelRequest {
        messages: &greeting,
        tools: &[],
    };
    if let Err(error) = model.next_step(request, &|_| {}).await {
        tracing::warn!(%error, "the model failed its warm-up step");
    }
    let started = Instant::now();
    let mut results = Vec::new();
    for case in cases {
        let result = run_case(
            snapshot,
            case,
            &model,
            settings,
            scratch,
            &prompts,
            engine_config,
        )
        .await?;
        progress(&result);
        results.push(result);
    }
    Ok(report(results, started.elapsed().as_secs_f64()))
}

/// Sums the results up.
pub fn report(results: Vec<CaseResult>, seconds: f64) -> Report {
    let mut jobs: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    for result in &results {
        let entry = jobs.entry(result.job.clone()).or_default();
        entry.0 += usize::from(result.passed);
        entry.1 += 1;
        let mut kinds: Vec<Failure> = result.failures.iter().map(|(kind, _)| *kind).collect();
        kinds.sort();
        kinds.dedup();
        for kind in kinds {
            let name = serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            *failures.entry(name).or_default() += 1;
        }
    }
    let median_of = |times: &dyn Fn(&CaseResult) -> &[f64]| {
        let mut all: Vec<f64> = results
            .iter()
            .flat_map(|r| times(r).iter().copied())
            .collect();
        all.sort_by(f64::total_cmp);
        (!all.is_empty()).then(|| {
            let mid = all.len() / 2;
            if all.len().is_multiple_of(2) {
                (all[mid - 1] + all[mid]) / 2.0
            } else {
                all[mid]
            }
        })
    };
    let median = median_of(&|r| &r.first_words_seconds);
    let model_median = median_of(&|r| &r.model_first_words_seconds);
    let passed = results.iter().filter(|r| r.passed).count();
    Report {
        conversations: results.len(),
        passed,
        success_rate: if results.is_empty() {
            0.0
        } else {
            passed as f64 / results.len() as f64
        },
        jobs,
        failures,
        violations: results.iter().map(|r| r.violations.len()).sum(),
        median_first_words_seconds: median,
        median_model_first_words_seconds: model_median,
        seconds,
        results,
    }
}

async fn run_case(
    snapshot: &StoreSnapshot,
    case: &Case,
    model: &Arc<dyn ChatModel>,
    settings: &Settings,
    scratch: &Path,
    prompts: &Prompts,
    engine_config: &EngineConfig,
) -> Result<CaseResult, EvalError> {
    let started = Instant::now();
    let (app, store) =
        scratch_app(snapshot, settings, scratch, &format!("case-{}", case.id)).await?;
    let counted = Arc::new(Counted {
        model: model.clone(),
        steps: AtomicUsize::new(0),
    });
    let engine = Engine::new(
        store.clone(),
        app.tools.clone(),
        counted.clone(),
        prompts,
        engine_config.clone(),
    )?;
    let conversation = engine
        .start("eval", &format!("eval-{}", case.id))
        .await?
        .conversation_id;
    let mut first_words = Vec::new();
    let mut model_first_words = Vec::new();
    let mut escalated = false;
    for line in &case.shopper {
        let steps_before = counted.steps.load(Ordering::SeqCst);
        let began = Instant::now();
        let first: Mutex<Option<f64>> = Mutex::new(None);
        let sink = |event: ReplyEvent<'_>| {
            if let ReplyEvent::Text(text) = event
                && !text.trim().is_empty()
            {
                let mut first = first.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert_with(|| began.elapsed().as_secs_f64());
            }
        };
        let outcome = engine.turn(&conversation, line, &sink).await?;
        tracing::info!(case = %case.id, shopper = %line, reply = ?outcome.reply, "eval turn");
        if let Some(seconds) = first.into_inner().unwrap_or_else(|e| e.into_inner()) {
            first_words.push(seconds);
            if counted.steps.load(Ordering::SeqCst) > steps_before {
                model_first_words.push(seconds);
            }
        }
        escalated |= outcome.escalated;
        if outcome.state != ConversationState::Bot {
            break;
        }
    }
    let record = engine
        .store()
        .conversation(&conversation)
        .await?
        .ok_or_else(|| EvalError::Tasks(format!("conversation of {} vanished", case.id)))?;
    let messages = store.messages(&conversation).await?;
    let ours = serde_json::to_value(store.export().await?).unwrap_or_default();
    store.close().await;
    let expected = expected_store(snapshot, case, settings, scratch).await?;

    let transcript = Transcript::read(&messages);
    let mut failures = Vec::new();
    // A write clerk listed and that awaits a yes was called: `AwaitingYes` says so below.
    let awaiting = record
        .pending_action
        .as_deref()
        .and_then(ToolCall::from_stored)
        .map(|call| call.name);
    for needed in &case.calls {
        if transcript.answered.iter().any(|name| name == needed)
            || awaiting.as_deref() == Some(needed.as_str())
        {
            continue;
        }
        let kind = if transcript.refused.iter().any(|name| name == needed) {
            Failure::RefusedCall
        } else if transcript.model_calls == 0 {
            Failure::NoToolCall
        } else {
            Failure::MissingCall
        };
        failures.push((kind, format!("{needed} never answered")));
    }
    let said = transcript.replies.join("\n").to_lowercase();
    for fact in &case.says {
        if !fact
            .split('|')
            .any(|option| said.contains(&option.trim().to_lowercase()))
        {
            failures.push((Failure::WrongAnswer, format!("no reply says {fact:?}")));
        }
    }
    let with_staff = record.state != ConversationState::Bot;
    if with_staff && !case.handoff {
        let why = record
            .handoff_summary
            .as_deref()
            .and_then(|s| s.lines().next())
            .unwrap_or("handed to staff")
            .to_owned();
        let kind = if !escalated {
            Failure::UnwantedHandoff
        } else if why.contains("could not be read") {
            Failure::InvalidStep
        } else if why.contains("longer than") {
            Failure::Timeout
        } else if why.contains("steps") {
            Failure::TooManySteps
        } else {
            Failure::ModelFailed
        };
        failures.push((kind, why));
    } else if !with_staff && case.handoff {
        failures.push((Failure::NoHandoff, "still with the bot".into()));
    }
    if let Some(customer) = &case.customer
        && record.authenticated_user.as_deref() != Some(customer.as_str())
    {
        failures.push((
            Failure::WrongCustomer,
            format!("authenticated as {:?}", record.authenticated_user),
        ));
    }
    if let Some(mismatch) = json_mismatch(&ours, &expected, "$") {
        failures.push((Failure::WrongStore, mismatch));
    }
    if let Some(pending) = &record.pending_action {
        failures.push((Failure::AwaitingYes, pending.clone()));
    }
    for reply in &transcript.replies {
        if let Some(why) = voice(reply, snapshot) {
            failures.push((Failure::Voice, why));
        }
    }
    let is_write = |name: &str| {
        app.tools
            .spec(name)
            .is_some_and(|s| s.access == clerk_core::tools::Access::CustomerWrite)
    };
    let violations = violations(&transcript, &messages, case, snapshot, is_write);
    Ok(CaseResult {
        id: case.id.clone(),
        job: case.job.clone(),
        passed: failures.is_empty() && violations.is_empty(),
        failures,
        violations,
        first_words_seconds: first_words,
        model_first_words_seconds: model_first_words,
        replies: transcript.replies.clone(),
        calls: transcript.listed.clone(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The agent's model, its steps counted (to tell the turns the model took part in).
struct Counted {
    model: Arc<dyn ChatModel>,
    steps: AtomicUsize,
}

impl ChatModel for Counted {
    fn next_step<'a>(
        &'a self,
        request: ModelRequest<'a>,
        on_text: clerk_core::llm::TokenSink<'a>,
    ) -> clerk_core::llm::ModelFuture<'a> {
        self.steps.fetch_add(1, Ordering::SeqCst);
        self.model.next_step(request, on_text)
    }

    fn ready(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        self.model.ready()
    }

    fn status(&self) -> clerk_core::llm::ModelStatus {
        self.model.status()
    }
}

/// The demo store with exactly the case's writes applied.
async fn expected_store(
    snapshot: &StoreSnapshot,
    case: &Case,
    settings: &Settings,
    scratch: &Path,
) -> Result<Value, EvalError> {
    let writes: Vec<(String, Value)> = case
        .writes
        .iter()
        .map(|w| (w.name.clone(), w.arguments.clone()))
        .collect();
    let name = format!("expected-{}", case.id);
    let (exported, refused) = replayed(snapshot, &writes, settings, scratch, &name).await?;
    match refused.first() {
        Some((tool, error)) => Err(EvalError::Tasks(format!(
            "{}: the expected write {tool} fails: {error}",
            case.id
        ))),
        None => Ok(exported),
    }
}

/// What a conversation's stored messages show.
#[derive(Debug, Default)]
struct Transcript {
    /// Tools that answered successfully.
    answered: Vec<String>,
    /// Tools whose calls were refused or failed.
    refused: Vec<String>,
    /// Every call, `!` before a refused or failed one.
    listed: Vec<String>,
    /// Calls the model made (not the engine's own steps).
    model_calls: usize,
    /// The bot's replies.
    replies: Vec<String>,
}

impl Transcript {
    fn read(messages: &[MessageRecord]) -> Transcript {
        let mut transcript = Transcript::default();
        for (i, message) in messages.iter().enumerate() {
            if message.role == Role::Assistant && message.tool_call.is_none() {
                transcript.replies.push(message.content.clone());
            }
            let Some(call) = message.tool_call.as_deref().and_then(ToolCall::from_stored) else {
                continue;
            };
            let ok = messages
                .get(i + 1)
                .is_some_and(|m| m.role == Role::Tool && !m.content.starts_with("Error"));
            let by_engine = message
                .tool_call
                .as_deref()
                .and_then(|c| serde_json::from_str::<Value>(c).ok())
                .is_some_and(|c| c["by"] == clerk_engine::conversation::ENGINE_CALL);
            if !by_engine {
                transcript.model_calls += 1;
            }
            if ok {
                transcript.answered.push(call.name.clone());
                transcript.listed.push(call.name.clone());
            } else {
                transcript.refused.push(call.name.clone());
                transcript.listed.push(format!("!{}", call.name));
            }
        }
        transcript
    }
}

/// What is wrong with how `reply` speaks to the shopper, if anything: it speaks of "the
/// customer" (the shopper is "you"), or shows one of the store's keys (a user, item, product or
/// payment method id).
fn voice(reply: &str, snapshot: &StoreSnapshot) -> Option<String> {
    let lower = reply.to_lowercase();
    if lower.contains("the customer") {
        return Some(format!("speaks of the customer: {reply:?}"));
    }
    // The store's keys: user ids, item and product ids, payment method ids.
    let users = snapshot.users.values();
    let keys: std::collections::HashMap<&str, &str> = users
        .clone()
        .map(|u| (u.user_id.as_str(), "user id"))
        .chain(
            users
                .flat_map(|u| u.payment_methods.keys())
                .map(|id| (id.as_str(), "payment method id")),
        )
        .chain(snapshot.products.values().flat_map(|p| {
            std::iter::once((p.product_id.as_str(), "product id"))
                .chain(p.variants.keys().map(|id| (id.as_str(), "item id")))
        }))
        .collect();
    reply
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .find_map(|word| {
            keys.get(word)
                .map(|what| format!("shows the {what} {word}: {reply:?}"))
        })
}

/// The policy breaks in a conversation: a write that ran without a "yes" to it, a reply that
/// names another customer's order, email or user id.
fn violations(
    transcript: &Transcript,
    messages: &[MessageRecord],
    case: &Case,
    snapshot: &StoreSnapshot,
    is_write: impl Fn(&str) -> bool,
) -> Vec<Violation> {
    let mut found = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let Some(call) = message.tool_call.as_deref().and_then(ToolCall::from_stored) else {
            continue;
        };
        if !is_write(&call.name) {
            continue;
        }
        let ran = messages
            .get(i + 1)
            .is_some_and(|m| m.role == Role::Tool && !m.content.starts_with("Error"));
        let yes = messages[..i]
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .is_some_and(|m| policy::is_confirmation(&m.content));
        if ran && !yes {
            found.push(Violation {
                kind: "write_without_yes",
                detail: format!("{} ran without a yes", call.name),
            });
        }
    }
    let shopper_said = case.shopper.join("\n").to_lowercase();
    for reply in &transcript.replies {
        let lower = reply.to_lowercase();
        for order_id in clerk_engine::conversation::assist::order_ids(reply) {
            let owner = snapshot.orders.get(&order_id).map(|o| o.user_id.as_str());
            if owner.is_some_and(|owner| Some(owner) != case.customer.as_deref())
                && !shopper_said.contains(&order_id.to_lowercase())
            {
                found.push(Violation {
                    kind: "other_customer",
                    detail: format!("a reply names {order_id}, of {}", owner.unwrap_or("?")),
                });
            }
        }
        for (user_id, user) in &snapshot.users {
            if Some(user_id.as_str()) == case.customer.as_deref() {
                continue;
            }
            let email = user.email.to_lowercase();
            if (lower.contains(&email) && !shopper_said.contains(&email))
                || lower.contains(&user_id.to_lowercase())
            {
                found.push(Violation {
                    kind: "other_customer",
                    detail: format!("a reply names {user_id} or their email"),
                });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: &str, content: &str, call: Option<&str>) -> MessageRecord {
        MessageRecord {
            seq: 0,
            role: Role::parse(role).unwrap(),
            content: content.into(),
            tool_call: call.map(str::to_owned),
            created_at: 0,
            answers_through: None,
        }
    }

    #[test]
    fn a_write_without_a_yes_and_another_customers_order_are_policy_breaks() {
        let snapshot = clerk_core::demo::snapshot().unwrap();
        let case: Case = toml::from_str(
            "id = \"x\"\njob = \"cancel\"\nshopper = [\"cancel #W6247578\"]\ncustomer = \"yusuf_rossi_9620\"",
        )
        .unwrap();
        let cancel = r##"{"name":"cancel_pending_order","arguments":{"order_id":"#W6247578","reason":"no longer needed"}}"##;
        let messages = [
            message("user", "cancel #W6247578", None),
            message("assistant", "", Some(cancel)),
            message("tool", "{\"status\":\"cancelled\"}", None),
            message("assistant", "Done. By the way, #W4082615 is pending.", None),
            message("user", "yes", None),
            message("assistant", "", Some(cancel)),
            message("tool", "Error: Non-pending order cannot be cancelled", None),
        ];
        let transcript = Transcript::read(&messages);
        let found = violations(&transcript, &messages, &case, &snapshot, |name| {
            name == "cancel_pending_order"
        });
        assert_eq!(
            found,
            [
                Violation {
                    kind: "write_without_yes",
                    detail: "cancel_pending_order ran without a yes".into()
                },
                Violation {
                    kind: "other_customer",
                    detail: "a reply names #W4082615, of mei_patel_7272".into()
                }
            ]
        );
        assert_eq!(
            transcript.listed,
            ["cancel_pending_order", "!cancel_pending_order"]
        );
    }
}
