//! `clerk eval tau2`: the agent (the conversation engine, its gates and a model) on tau2-retail
//! tasks, against a simulated shopper played by a model from each task's `user_scenario`
//! (`prompts/eval/shopper.toml`). Each trial runs on its own fresh copy of the store. A trial
//! passes when its final store equals the one the task's reference actions produce — those
//! actions replayed through clerk's own tools on another fresh copy — compared as the data README
//! says. The report gives pass^k for every k up to the trials, and what the gates stopped.

use super::{json_mismatch, pass_hat_k};
use crate::app::{App, AppError};
use crate::config::Settings;
use clerk_core::llm::{ChatMessage, ChatModel, ModelRequest, ModelStep, Role};
use clerk_core::prompts::{PromptError, Prompts, ShopperPrompts};
use clerk_core::store::model::StoreSnapshot;
use clerk_core::store::{Store, StoreError};
use clerk_engine::conversation::{ConversationState, Engine, EngineConfig, EngineError};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// What the agent says first, as in tau2-bench.
const GREETING: &str = "Hi! How can I help you today?";

/// The marks a simulated shopper ends the conversation with.
const STOP_MARKS: [&str; 3] = ["###STOP###", "###TRANSFER###", "###OUT-OF-SCOPE###"];

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The tasks file is not tau2 tasks.
    #[error("invalid tasks: {0}")]
    Tasks(String),
    /// A scratch store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// clerk could not be assembled on a scratch store.
    #[error(transparent)]
    App(#[from] AppError),
    /// The engine failed (not the model: a model failure is part of the score).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A prompt file is broken.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// A scratch store's catalog could not be indexed or embedded.
    #[error(transparent)]
    Search(#[from] clerk_core::search::SearchError),
}

/// One task: who the shopper is and what they want, and the reference actions.
#[derive(Debug, Clone)]
pub struct Task {
    /// The task's id.
    pub id: String,
    /// The shopper's situation, as the simulated shopper is told it.
    pub instructions: String,
    /// The reference tool calls: name and arguments.
    pub actions: Vec<(String, Value)>,
}

/// Reads a tau2 tasks file (a JSON array of tasks).
pub fn parse_tasks(text: &str) -> Result<Vec<Task>, EvalError> {
    let tasks: Vec<Value> =
        serde_json::from_str(text).map_err(|e| EvalError::Tasks(e.to_string()))?;
    tasks
        .iter()
        .map(|task| {
            let id = match &task["id"] {
                Value::String(id) => id.clone(),
                Value::Number(id) => id.to_string(),
                _ => return Err(EvalError::Tasks("a task has no id".into())),
            };
            let scenario = &task["user_scenario"]["instructions"];
            let instructions = match scenario {
                Value::String(text) => text.clone(),
                Value::Object(fields) => [
                    ("reason_for_call", "Why you are contacting the store"),
                    ("known_info", "What you know"),
                    ("unknown_info", "What you do not know"),
                    ("task_instructions", "How you behave"),
                ]
                .iter()
                .filter_map(|(key, title)| {
                    fields
                        .get(*key)
                        .and_then(Value::as_str)
                        .map(|text| format!("## {title}\n\n{text}"))
                })
                .collect::<Vec<_>>()
                .join("\n\n"),
                _ => return Err(EvalError::Tasks(format!("task {id} has no user scenario"))),
            };
            let actions = task["evaluation_criteria"]["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|action| {
                    (
                        action["name"].as_str().unwrap_or_default().to_owned(),
                        action["arguments"].clone(),
                    )
                })
                .collect();
            Ok(Task {
                id,
                instructions,
                actions,
            })
        })
        .collect()
}

/// How to run the evaluation.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Trials per task.
    pub trials: usize,
    /// The most shopper messages in one conversation.
    pub max_turns: usize,
    /// The engine's limits (model time-out, steps per turn).
    pub engine: EngineConfig,
}

/// How a trial's conversation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// The shopper said they were done.
    Shopper,
    /// The bot transferred the conversation to a person.
    Transferred,
    /// The bot failed (model error, time-out, endless loop) and handed it to a person.
    Escalated,
    /// The shopper's message limit was reached.
    TurnLimit,
    /// The simulated shopper's model failed.
    ShopperFailed,
}

/// One trial of one task.
#[derive(Debug, Clone, Serialize)]
pub struct TrialResult {
    /// The task's id.
    pub task_id: String,
    /// Which trial (from 0).
    pub trial: usize,
    /// Whether the final store equals the reference's.
    pub passed: bool,
    /// Where the final store first differs from the reference's.
    pub mismatch: Option<String>,
    /// How the conversation ended.
    pub ending: Ending,
    /// Messages the shopper sent.
    pub shopper_messages: usize,
    /// Tool calls the policy gates refused (no authentication, another customer, unknown tool).
    pub refused_calls: usize,
    /// Replies the grounding guard held back.
    pub held_replies: usize,
    /// Seconds the trial took.
    pub seconds: f64,
}

/// What `clerk eval tau2` found.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Tasks run.
    pub tasks: usize,
    /// Trials per task.
    pub trials: usize,
    /// pass^k for k = 1 ..= trials (index 0 is pass^1).
    pub pass_hat_k: Vec<f64>,
    /// Tool calls the gates refused, over all trials.
    pub refused_calls: usize,
    /// Replies the grounding guard held back, over all trials.
    pub held_replies: usize,
    /// Conversations the bot handed to a person because it failed.
    pub escalations: usize,
    /// Seconds the whole run took.
    pub seconds: f64,
    /// Every trial.
    pub results: Vec<TrialResult>,
}

/// The models of an evaluation (they may be the same one).
pub struct Players {
    /// The model behind the agent.
    pub agent: Arc<dyn ChatModel>,
    /// The model playing the shopper.
    pub shopper: Arc<dyn ChatModel>,
}

/// Runs `tasks` on copies of `snapshot` with `players`, in `scratch` (a folder it may fill).
/// `progress` hears of each finished trial.
pub async fn run(
    snapshot: &StoreSnapshot,
    tasks: &[Task],
    players: &Players,
    settings: &Settings,
    scratch: &Path,
    options: &EvalOptions,
    progress: &(dyn Fn(&TrialResult) + Sync),
) -> Result<EvalReport, EvalError> {
    let started = Instant::now();
    let prompts = Prompts::new(settings.prompts_dir.as_deref());
    let shopper_prompts = prompts.eval_shopper()?;
    // The agent's system message is the same in every trial: computed here once, without the
    // engine's time-out, so that no task's first step pays for it (minutes on a CPU).
    let (warm, warm_store) = scratch_app(snapshot, settings, scratch, "warm-up").await?;
    let system = Engine::new(
        warm_store.clone(),
        warm.tools.clone(),
        players.agent.clone(),
        &prompts,
        options.engine.clone(),
    )?
    .system_message()
    .to_owned();
    warm_store.close().await;
    let greeting = [
        ChatMessage::text(Role::System, system),
        ChatMessage::text(Role::User, GREETING),
    ];
    let warm_request = ModelRequest {
        messages: &greeting,
        tools: &[],
    };
    if let Err(error) = players.agent.next_step(warm_request, &|_| {}).await {
        tracing::warn!(%error, "the agent's model failed its first step");
    }
    let mut results = Vec::new();
    for task in tasks {
        let reference = reference_store(snapshot, task, settings, scratch).await?;
        for trial in 0..options.trials.max(1) {
            let trial_started = Instant::now();
            let name = format!("task-{}-{trial}", task.id);
            let (app, store) = scratch_app(snapshot, settings, scratch, &name).await?;
            let engine = Engine::new(
                store.clone(),
                app.tools.clone(),
                players.agent.clone(),
                &prompts,
                options.engine.clone(),
            )?;
            let mut result = converse(
                &engine,
                players.shopper.as_ref(),
                &ShopperPrompts {
                    system: shopper_prompts
                        .system
                        .replace("{instructions}", &task.instructions),
                    ..shopper_prompts.clone()
                },
                &task.id,
                options.max_turns,
            )
            .await?;
            let ours = serde_json::to_value(store.export().await?).unwrap_or_default();
            result.mismatch = json_mismatch(&ours, &reference, "$");
            result.passed = result.mismatch.is_none();
            result.trial = trial;
            result.seconds = trial_started.elapsed().as_secs_f64();
            store.close().await;
            progress(&result);
            results.push(result);
        }
    }
    let per_task: Vec<(usize, usize)> = tasks
        .iter()
        .map(|task| {
            let runs = results.iter().filter(|r| r.task_id == task.id);
            (runs.clone().filter(|r| r.passed).count(), runs.count())
        })
        .collect();
    Ok(EvalReport {
        tasks: tasks.len(),
        trials: options.trials.max(1),
        pass_hat_k: (1..=options.trials.max(1))
            .filter_map(|k| pass_hat_k(&per_task, k))
            .collect(),
        refused_calls: results.iter().map(|r| r.refused_calls).sum(),
        held_replies: results.iter().map(|r| r.held_replies).sum(),
        escalations: results
            .iter()
            .filter(|r| r.ending == Ending::Escalated)
            .count(),
        seconds: started.elapsed().as_secs_f64(),
        results,
    })
}

/// The SQLite file of the scratch store `name` under `scratch` ([`scratch_app`]).
pub(super) fn scratch_database(scratch: &Path, name: &str) -> std::path::PathBuf {
    scratch.join(format!("{name}.db"))
}

/// A fresh copy of the store, with clerk assembled over it.
pub(super) async fn scratch_app(
    snapshot: &StoreSnapshot,
    settings: &Settings,
    scratch: &Path,
    name: &str,
) -> Result<(App, Store), EvalError> {
    let file = scratch_database(scratch, name);
    let _ = std::fs::remove_file(&file);
    let store = Store::connect(&format!("sqlite://{}", file.display())).await?;
    store.import(snapshot, true, &mut |_, _, _| {}).await?;
    let mut settings = settings.clone();
    settings.global.index_dir = scratch.join(format!("{name}-index"));
    // Its own models, trained on its own copy, as the demo trains its own.
    settings.global.data_dir = scratch.join(format!("{name}-data"));
    let app = App::with_store(store.clone(), &settings)?;
    app.train_recommender(&settings).await?;
    if app.search.hybrid() {
        // The catalog's vectors are ready before the first message, so that no case's search
        // depends on timing: the copies share their product texts, so the vectors of the first
        // copy serve every other (only changed texts are embedded again).
        let shared = scratch.join("vectors.bin");
        let _ = std::fs::create_dir_all(&settings.global.index_dir);
        let _ = std::fs::copy(&shared, settings.global.index_dir.join("vectors.bin"));
        app.search.embed_catalog().await?;
        let _ = std::fs::copy(settings.global.index_dir.join("vectors.bin"), &shared);
    }
    Ok((app, store))
}

/// The store as the task's reference actions leave it (each replayed through clerk's tools; a
/// reference call that fails leaves the store as it is, as it does in the reference).
async fn reference_store(
    snapshot: &StoreSnapshot,
    task: &Task,
    settings: &Settings,
    scratch: &Path,
) -> Result<Value, EvalError> {
    let name = format!("reference-{}", task.id);
    let (exported, refused) = replayed(snapshot, &task.actions, settings, scratch, &name).await?;
    for (tool, error) in refused {
        tracing::debug!(task = %task.id, %tool, %error, "reference action refused");
    }
    Ok(exported)
}

/// A fresh copy of `snapshot` with `calls` (tool name, arguments) run through clerk's tools, in
/// order, exported; and the calls the store refused, with why.
pub(super) async fn replayed(
    snapshot: &StoreSnapshot,
    calls: &[(String, Value)],
    settings: &Settings,
    scratch: &Path,
    name: &str,
) -> Result<(Value, Vec<(String, String)>), EvalError> {
    let (app, store) = scratch_app(snapshot, settings, scratch, name).await?;
    let mut refused = Vec::new();
    for (tool, arguments) in calls {
        if let Err(error) = app.tools.call(tool, arguments.clone()).await {
            refused.push((tool.clone(), error.to_string()));
        }
    }
    let exported = serde_json::to_value(store.export().await?).unwrap_or_default();
    store.close().await;
    Ok((exported, refused))
}

/// One conversation between the simulated shopper and the agent.
async fn converse(
    engine: &Engine,
    shopper: &dyn ChatModel,
    shopper_prompts: &ShopperPrompts,
    task_id: &str,
    max_turns: usize,
) -> Result<TrialResult, EvalError> {
    let conversation = engine
        .start("eval", &format!("tau2-task-{task_id}"))
        .await?
        .conversation_id;
    // The shopper's model is asked to write the customer's next line of the transcript so far
    // (an instruction-tuned model asked to *be* the customer answers as an assistant instead).
    let mut transcript = format!("Agent: {GREETING}\n");
    let mut result = TrialResult {
        task_id: task_id.to_owned(),
        trial: 0,
        passed: false,
        mismatch: None,
        ending: Ending::TurnLimit,
        shopper_messages: 0,
        refused_calls: 0,
        held_replies: 0,
        seconds: 0.0,
    };
    while result.shopper_messages < max_turns {
        let view = [
            ChatMessage::text(Role::System, shopper_prompts.system.as_str()),
            ChatMessage::text(
                Role::User,
                format!(
                    "The chat so far:\n\n{transcript}\n{}",
                    if result.shopper_messages == 0 {
                        &shopper_prompts.first
                    } else {
                        &shopper_prompts.next
                    }
                ),
            ),
        ];
        let request = ModelRequest {
            messages: &view,
            tools: &[],
        };
        let said = match shopper.next_step(request, &|_| {}).await {
            Ok(ModelStep::Reply(text)) => text,
            Ok(ModelStep::Call(call)) => {
                tracing::warn!(task = task_id, ?call, "the simulated shopper called a tool");
                result.ending = Ending::ShopperFailed;
                break;
            }
            Err(error) => {
                tracing::warn!(task = task_id, %error, "the simulated shopper failed");
                result.ending = Ending::ShopperFailed;
                break;
            }
        };
        if STOP_MARKS.iter().any(|mark| said.contains(mark)) {
            tracing::info!(task = task_id, shopper = %said, "the shopper ended the conversation");
            result.ending = Ending::Shopper;
            break;
        }
        let message = match engine.check_message(&said) {
            Ok(message) => message.to_owned(),
            Err(_) => said.chars().take(2000).collect(),
        };
        tracing::info!(task = task_id, shopper = %message, "the shopper writes");
        transcript.push_str(&format!("Customer: {message}\n"));
        result.shopper_messages += 1;
        let outcome = engine.turn(&conversation, &message, &|_| {}).await?;
        tracing::info!(task = task_id, shopper = %message, agent = ?outcome.reply, "eval turn");
        result.refused_calls += outcome.refused_calls;
        result.held_replies += outcome.held_replies;
        if outcome.state != ConversationState::Bot {
            result.ending = if outcome.escalated {
                Ending::Escalated
            } else {
                Ending::Transferred
            };
            break;
        }
        transcript.push_str(&format!("Agent: {}\n", outcome.reply.unwrap_or_default()));
    }
    Ok(result)
}
