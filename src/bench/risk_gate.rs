//! The risk gate's effect on the tau2-retail reference tasks: each task's reference actions are
//! replayed in order on a fresh copy of the demo store through clerk's tools, every gated write
//! scored first as the engine would (an address or payment change earlier in the task counts),
//! and the bench reports how many of these legitimate writes each threshold would have held for
//! staff: what a merchant gives up in automation for the threshold they choose. Part of
//! `clerk bench fraud`.

use clerk_core::retail::Retail;
use clerk_core::risk::{assess, gated, is_change};
use clerk_core::store::Store;
use clerk_core::tools::{Models, ToolRegistry};
use serde::Serialize;
use std::path::Path;

/// The thresholds reported.
pub const THRESHOLDS: [f64; 6] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8];

/// How many reference writes one threshold would hold.
#[derive(Debug, Clone, Serialize)]
pub struct Held {
    /// The threshold.
    pub threshold: f64,
    /// Reference writes it would hold.
    pub held: usize,
    /// Tasks with at least one write held.
    pub tasks: usize,
}

/// What the replay measured.
#[derive(Debug, Clone, Serialize)]
pub struct GateEffect {
    /// Tasks replayed.
    pub tasks: usize,
    /// Reference writes the gate scores.
    pub gated_writes: usize,
    /// Writes with any reason at all (score above 0).
    pub with_reasons: usize,
    /// The highest score of a reference write.
    pub max_score: f64,
    /// Each threshold's effect.
    pub by_threshold: Vec<Held>,
    /// The reasons given, with how many writes each.
    pub reasons: Vec<(String, usize)>,
}

/// Replays every task of `tasks` (tau2's tasks JSON) on fresh copies of the demo store under
/// `scratch`.
pub async fn run(tasks: &str, scratch: &Path) -> anyhow::Result<GateEffect> {
    let snapshot = clerk_core::demo::snapshot()?;
    let tasks = crate::eval::tau2::parse_tasks(tasks)?;
    let prompts = clerk_core::prompts::Prompts::new(None);
    let mut scores: Vec<(usize, f64)> = Vec::new();
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    for (t, task) in tasks.iter().enumerate() {
        let file = scratch.join(format!("gate-{t}.db"));
        let _ = std::fs::remove_file(&file);
        let store = Store::connect(&format!("sqlite://{}", file.display())).await?;
        store.import(&snapshot, true, &mut |_, _, _| {}).await?;
        let tools = ToolRegistry::for_store(
            Retail::new(store.clone()),
            None,
            Models::default(),
            &prompts,
        )?;
        let mut changed = false;
        for (tool, arguments) in &task.actions {
            if let Some(gated) = gated(tool)
                && let Some(assessment) = assess(&store, gated, arguments, changed, None).await?
            {
                scores.push((t, assessment.score));
                for why in assessment.reasons {
                    // The numbers vary; the kind of reason is what a merchant weighs.
                    let mut kind = String::new();
                    for c in why.chars() {
                        if c.is_ascii_digit() || c == '.' {
                            if !kind.ends_with('N') {
                                kind.push('N');
                            }
                        } else {
                            kind.push(c);
                        }
                    }
                    *reasons.entry(kind).or_default() += 1;
                }
            }
            let ran = tools.call(tool, arguments.clone()).await.is_ok();
            changed |= ran && is_change(tool);
        }
        store.close().await;
        let _ = std::fs::remove_file(&file);
    }
    let by_threshold = THRESHOLDS
        .iter()
        .map(|&threshold| {
            let held: Vec<usize> = scores
                .iter()
                .filter(|(_, s)| *s >= threshold)
                .map(|(t, _)| *t)
                .collect();
            let mut tasks = held.clone();
            tasks.dedup();
            Held {
                threshold,
                held: held.len(),
                tasks: tasks.len(),
            }
        })
        .collect();
    let mut reasons: Vec<(String, usize)> = reasons.into_iter().collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
    Ok(GateEffect {
        tasks: tasks.len(),
        gated_writes: scores.len(),
        with_reasons: scores.iter().filter(|(_, s)| *s > 0.0).count(),
        max_score: scores.iter().map(|(_, s)| *s).fold(0.0, f64::max),
        by_threshold,
        reasons,
    })
}
