//! `clerk eval merchant`: does the agent answer the merchant's questions with the right
//! figures? Questions a merchant asks (`fixtures/eval/merchant.toml`: phrasings a merchant would
//! use, periods such as "in December", follow-ups in the same conversation) are asked in
//! merchant conversations on a scratch copy of the Ta-Feng store, and each is checked by
//! machine:
//!
//! - **tool**: the tool the question needs answered this turn (among any others);
//! - **figures**: every figure the question expects is stated in the reply, to the cent or
//!   within 0.5 % — each expected figure computed independently by the question's own SQL on
//!   the store's tables (never through clerk's tools);
//! - **chart**: where the merchant asked for a chart, a tool answered this turn with one
//!   ([`clerk_core::analytics::chart`]).
//!
//! With `--reference` the agent is [`Reference`]: each question's own tool call, then a reply
//! quoting the figures the question names from the tool's result. That checks the tools'
//! figures against the SQL and the eval's plumbing without a model (the test suite runs it);
//! without it, the store's model answers.

use super::tau2::{EvalError, scratch_app, scratch_database};
use crate::config::Settings;
use clerk_core::llm::{ChatModel, ModelFuture, ModelRequest, ModelStep, Role, TokenSink, ToolCall};
use clerk_core::prompts::Prompts;
use clerk_core::store::model::StoreSnapshot;
use clerk_engine::conversation::{Engine, EngineConfig, MERCHANT_CHANNEL};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The questions of a suite.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Every question, in order.
    pub question: Vec<Question>,
}

/// One question and what its answer must hold.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// A short stable name.
    pub id: String,
    /// What it is about (`sales`, `products`, `customers`, `change`…): scores are per topic.
    pub topic: String,
    /// What the merchant types.
    pub ask: String,
    /// Asked in the conversation of the question before it (a follow-up), not a new one.
    #[serde(default)]
    pub follow_up: bool,
    /// The tool that must answer it.
    pub tool: String,
    /// The reference call's arguments (what [`Reference`] calls the tool with).
    #[serde(default = "empty_object")]
    pub arguments: Value,
    /// Where in the tool's result the figures are (`totals.revenue`, `rows.0.revenue`): what
    /// [`Reference`] quotes.
    #[serde(default)]
    pub quote: Vec<String>,
    /// Whether the merchant asked for a chart.
    #[serde(default)]
    pub chart: bool,
    /// The figures the reply must state.
    #[serde(default)]
    pub expect: Vec<Expected>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// A figure the reply must state, and the SQL (SQLite, on the store's `orders` and
/// `order_items` tables) that computes it: one row, one number.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// What it is, in words.
    pub name: String,
    /// The query.
    pub sql: String,
}

/// Reads a suite: ids and words unique, a follow-up never first.
pub fn parse_suite(text: &str) -> Result<Suite, EvalError> {
    let suite: Suite = toml::from_str(text).map_err(|e| EvalError::Tasks(e.to_string()))?;
    let (mut ids, mut asks) = (
        std::collections::HashSet::new(),
        std::collections::HashSet::new(),
    );
    for (i, question) in suite.question.iter().enumerate() {
        if !ids.insert(question.id.as_str()) {
            return Err(EvalError::Tasks(format!("{} is there twice", question.id)));
        }
        // The reference agent knows a question by its words.
        if !asks.insert(question.ask.as_str()) {
            return Err(EvalError::Tasks(format!(
                "{}: its words are another question's",
                question.id
            )));
        }
        if question.follow_up && i == 0 {
            return Err(EvalError::Tasks(format!(
                "{} follows up on nothing",
                question.id
            )));
        }
        if !question.arguments.is_object() {
            return Err(EvalError::Tasks(format!(
                "{}: arguments must be a table",
                question.id
            )));
        }
    }
    Ok(suite)
}

/// One expected figure, as found.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// What it is.
    pub name: String,
    /// What the question's SQL computed (none: the query found nothing).
    pub expected: Option<f64>,
    /// Whether the reply states it.
    pub stated: bool,
}

/// One question's result.
#[derive(Debug, Clone, Serialize)]
pub struct QuestionResult {
    /// The question's id.
    pub id: String,
    /// Its topic.
    pub topic: String,
    /// What was asked.
    pub ask: String,
    /// The reply.
    pub reply: String,
    /// The tools that answered this turn, in order, with their arguments.
    pub calls: Vec<String>,
    /// Whether the needed tool answered.
    pub tool_right: bool,
    /// Whether every expected figure is stated.
    pub figures_right: bool,
    /// Each expected figure.
    pub figures: Vec<Figure>,
    /// Whether a chart was asked for.
    pub chart_asked: bool,
    /// The charts the turn's tools gave.
    pub charts: Vec<String>,
    /// All three held (a chart counts only where one was asked).
    pub passed: bool,
    /// Seconds the turn took.
    pub seconds: f64,
}

/// What `clerk eval merchant` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The agent: `reference`, or the model's description.
    pub agent: String,
    /// Questions asked.
    pub questions: usize,
    /// Questions whose every check held.
    pub passed: usize,
    /// Questions answered by the right tool.
    pub tool_right: usize,
    /// Questions whose figures were all stated.
    pub figures_right: usize,
    /// Questions that asked for a chart, and of those how many got one.
    pub charts_asked: usize,
    /// Of those, how many got one.
    pub charts_given: usize,
    /// Per topic: (passed, asked).
    pub topics: BTreeMap<String, (usize, usize)>,
    /// Seconds the run took.
    pub seconds: f64,
    /// Every question.
    pub results: Vec<QuestionResult>,
}

impl Report {
    /// Sums `results` up.
    pub fn of(agent: &str, results: Vec<QuestionResult>, seconds: f64) -> Report {
        let mut topics: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for r in &results {
            let entry = topics.entry(r.topic.clone()).or_default();
            entry.0 += usize::from(r.passed);
            entry.1 += 1;
        }
        let count = |f: &dyn Fn(&QuestionResult) -> bool| results.iter().filter(|r| f(r)).count();
        Report {
            agent: agent.to_owned(),
            questions: results.len(),
            passed: count(&|r| r.passed),
            tool_right: count(&|r| r.tool_right),
            figures_right: count(&|r| r.figures_right),
            charts_asked: count(&|r| r.chart_asked),
            charts_given: count(&|r| r.chart_asked && !r.charts.is_empty()),
            topics,
            seconds,
            results,
        }
    }
}

/// The numbers a reply states (as the grounding guard reads them: not the parts of a date, nor
/// digits glued to letters).
pub fn numbers_in(text: &str) -> Vec<f64> {
    clerk_engine::conversation::grounding::stated_numbers(text)
        .into_iter()
        .map(|n| n.value)
        .collect()
}

/// Whether `stated` is `expected` to the cent or within 0.5 %.
pub fn matches(stated: f64, expected: f64) -> bool {
    let gap = (stated - expected).abs();
    gap <= 0.005 + 1e-9 || gap <= 0.005 * expected.abs()
}

/// The agent that answers each question as its reference says: the question's own tool call,
/// then a reply quoting the named figures of the result, each by its field's name (an error is
/// repeated as it is).
pub struct Reference {
    questions: Vec<Question>,
}

impl Reference {
    /// The reference agent of these questions.
    pub fn new(questions: &[Question]) -> Reference {
        Reference {
            questions: questions.to_vec(),
        }
    }
}

/// The value at a dotted path (`rows.0.revenue`).
fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| match v {
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => v.get(key),
    })
}

impl ChatModel for Reference {
    fn next_step<'a>(
        &'a self,
        request: ModelRequest<'a>,
        on_text: TokenSink<'a>,
    ) -> ModelFuture<'a> {
        Box::pin(async move {
            let messages = request.messages;
            let newest = messages.iter().rposition(|m| m.role == Role::User);
            let asked = newest.map_or("", |at| messages[at].content.as_str());
            let question = self.questions.iter().find(|q| q.ask == asked);
            let Some(question) = question else {
                return Ok(ModelStep::Reply(
                    "I have no reference answer for that.".into(),
                ));
            };
            // The tool's result this turn (the engine may add a note after it).
            let answered =
                newest.and_then(|at| messages[at..].iter().rev().find(|m| m.role == Role::Tool));
            let Some(result) = answered else {
                return Ok(ModelStep::Call(ToolCall {
                    name: question.tool.clone(),
                    arguments: question.arguments.clone(),
                }));
            };
            let text = match serde_json::from_str::<Value>(&result.content) {
                Ok(out) => {
                    // Each figure named by its field (a path's row numbers are not figures).
                    let parts: Vec<String> = question
                        .quote
                        .iter()
                        .map(|path| {
                            let name = path
                                .rsplit('.')
                                .find(|key| key.parse::<usize>().is_err())
                                .unwrap_or(path)
                                .replace('_', " ");
                            match at(&out, path) {
                                Some(Value::String(s)) => format!("{name}: {s}"),
                                Some(v) => format!("{name}: {v}"),
                                None => format!("{name}: not given"),
                            }
                        })
                        .collect();
                    format!("From {}: {}.", question.tool, parts.join("; "))
                }
                Err(_) => result.content.clone(),
            };
            on_text(&text);
            Ok(ModelStep::Reply(text))
        })
    }
}

/// Runs `questions` with `model` as the agent on a scratch copy of `snapshot` (in `scratch`);
/// `progress` hears of each answered question.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    snapshot: &StoreSnapshot,
    questions: &[Question],
    model: Arc<dyn ChatModel>,
    agent: &str,
    settings: &Settings,
    scratch: &Path,
    engine_config: &EngineConfig,
    progress: &(dyn Fn(&QuestionResult) + Sync),
) -> Result<Report, EvalError> {
    let prompts = Prompts::new(settings.prompts_dir.as_deref());
    let (app, store) = scratch_app(snapshot, settings, scratch, "merchant").await?;
    let engine = Engine::new(
        store.clone(),
        app.tools.clone(),
        model.clone(),
        &prompts,
        engine_config.clone(),
    )?;
    let url = format!(
        "sqlite://{}",
        scratch_database(scratch, "merchant").display()
    );
    let sql = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .map_err(|e| EvalError::Tasks(format!("opening the scratch store for the SQL: {e}")))?;
    model.ready().await;
    let started = Instant::now();
    let mut results = Vec::new();
    let mut conversation = String::new();
    for question in questions {
        if !question.follow_up || conversation.is_empty() {
            conversation = engine
                .start(MERCHANT_CHANNEL, &format!("eval-{}", question.id))
                .await?
                .conversation_id;
        }
        let began = Instant::now();
        let outcome = engine.turn(&conversation, &question.ask, &|_| {}).await?;
        let reply = outcome.reply.clone().unwrap_or_default();
        tracing::info!(question = %question.id, %reply, "eval merchant turn");
        let stated = numbers_in(&reply);
        let mut figures = Vec::new();
        for expected in &question.expect {
            let value = scalar(&sql, &expected.sql).await.map_err(|e| {
                EvalError::Tasks(format!("{}: {}: {e}", question.id, expected.name))
            })?;
            figures.push(Figure {
                name: expected.name.clone(),
                expected: value,
                stated: value.is_some_and(|v| stated.iter().any(|s| matches(*s, v))),
            });
        }
        let charts: Vec<String> = outcome
            .tool_results
            .iter()
            .flat_map(|r| clerk_core::analytics::chart::for_tool(&r.name, &r.output))
            .map(|c| c.title)
            .collect();
        let tool_right = outcome.tool_results.iter().any(|r| r.name == question.tool);
        let figures_right = figures.iter().all(|f| f.stated);
        let chart_right = !question.chart || !charts.is_empty();
        let result = QuestionResult {
            id: question.id.clone(),
            topic: question.topic.clone(),
            ask: question.ask.clone(),
            reply,
            calls: outcome
                .tool_results
                .iter()
                .map(|r| format!("{}({})", r.name, r.arguments))
                .collect(),
            tool_right,
            figures_right,
            figures,
            chart_asked: question.chart,
            charts,
            passed: tool_right && figures_right && chart_right,
            seconds: began.elapsed().as_secs_f64(),
        };
        progress(&result);
        results.push(result);
    }
    sql.close().await;
    store.close().await;
    Ok(Report::of(agent, results, started.elapsed().as_secs_f64()))
}

/// The one number a query returns (none for no row or NULL).
async fn scalar(pool: &sqlx::AnyPool, query: &str) -> Result<Option<f64>, sqlx::Error> {
    use sqlx::Row;
    let row = sqlx::query(sqlx::AssertSqlSafe(query.to_owned()))
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(match row.try_get::<Option<f64>, _>(0) {
        Ok(value) => value,
        Err(_) => row.try_get::<Option<i64>, _>(0)?.map(|v| v as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_matches_to_the_cent_or_within_half_a_percent() {
        assert!(matches(1234.56, 1234.564));
        assert!(matches(126_728.0, 126_100.0));
        assert!(!matches(126_728.0, 125_000.0));
        assert!(matches(12.3, 12.3));
        assert!(!matches(12.0, 12.3));
        assert!(matches(0.0, 0.004));
    }

    #[test]
    fn a_suite_is_checked_as_it_is_read() {
        let ok = "[[question]]\nid = \"a\"\ntopic = \"sales\"\nask = \"How much?\"\ntool = \"sales_summary\"\n\
                  [[question.expect]]\nname = \"revenue\"\nsql = \"SELECT 1\"\n";
        let suite = parse_suite(ok).unwrap();
        assert_eq!(suite.question[0].arguments, serde_json::json!({}));
        let twice = format!("{ok}{ok}");
        assert!(
            parse_suite(&twice)
                .unwrap_err()
                .to_string()
                .contains("a is there twice")
        );
        let follow = ok.replace("tool =", "follow_up = true\ntool =");
        assert!(
            parse_suite(&follow)
                .unwrap_err()
                .to_string()
                .contains("follows up on nothing")
        );
    }

    #[tokio::test]
    async fn the_reference_calls_the_tool_then_quotes_its_figures() {
        use clerk_core::llm::ChatMessage;
        let question: Question = toml::from_str(
            "id = \"d\"\ntopic = \"sales\"\nask = \"December?\"\ntool = \"sales_summary\"\n\
             arguments = { start = \"2000-12\" }\nquote = [\"totals.revenue\", \"rows.0.day\"]\n",
        )
        .unwrap();
        let reference = Reference::new(&[question]);
        let mut messages = vec![ChatMessage::text(Role::User, "December?")];
        let step = |messages: Vec<ChatMessage>| {
            let reference = &reference;
            async move {
                let request = ModelRequest {
                    messages: &messages,
                    tools: &[],
                };
                reference.next_step(request, &|_| {}).await.unwrap()
            }
        };
        let ModelStep::Call(call) = step(messages.clone()).await else {
            panic!("no call");
        };
        assert_eq!(call.name, "sales_summary");
        assert_eq!(call.arguments, serde_json::json!({"start": "2000-12"}));
        messages.push(ChatMessage::text(
            Role::Tool,
            r#"{"totals": {"revenue": 1234.5}, "rows": [{"day": "2000-12-01"}]}"#,
        ));
        let ModelStep::Reply(text) = step(messages).await else {
            panic!("no reply");
        };
        assert_eq!(
            text,
            "From sales_summary: revenue: 1234.5; day: 2000-12-01."
        );
    }
}
