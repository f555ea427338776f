//! The command line: `serve`, `import`, `export`, `tool`, `tools`, `index`, `catalog`. This is
//! the binary's edge: errors become a message on standard error and an exit code.

mod reviews;

use crate::app::App;
use crate::config::{
    BenchCommand, CatalogCommand, Command, CustomerCommand, EvalCommand, Format, IndexCommand,
    Invocation, RiskCommand, Settings, StaffCommand,
};
use anyhow::{Context, bail};
use clerk_core::demo;
use clerk_core::money::Cents;
use clerk_core::store::Store;
use clerk_core::store::model::StoreSnapshot;
use clerk_core::tools::ToolError;
use clerk_engine::conversation::ReplyEvent;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// Exit code of a call that was itself wrong (unknown tool, arguments that fail the schema).
const EXIT_USAGE: u8 = 2;

/// Runs a command line read by [`crate::config::load`].
pub async fn run(invocation: Invocation) -> anyhow::Result<ExitCode> {
    let Invocation { command, settings } = invocation;
    init_logging(&settings.global.log);
    match command {
        Command::Serve(_) => serve(&settings).await,
        Command::Import {
            format,
            file,
            replace,
        } => import(&settings, format, &file, replace).await,
        Command::Export { format, output } => export(&settings, format, output.as_deref()).await,
        Command::Tool { name, args } => tool(&settings, &name, &args).await,
        Command::Chat { merchant } => chat(&settings, merchant).await,
        Command::Tools => {
            let app = App::open(&settings).await?;
            let specs: Vec<_> = app.tools.specs().collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({ "tools": specs }))?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Index(IndexCommand::Rebuild) => {
            let app = App::open(&settings).await?;
            let started = Instant::now();
            let items = app.search.rebuild().await?;
            eprintln!(
                "indexed {items} items in {} ms into {}",
                started.elapsed().as_millis(),
                app.search.dir().display()
            );
            if app.search.hybrid() {
                let started = Instant::now();
                let products = app.search.embed_catalog().await?;
                eprintln!(
                    "embedded {products} products in {} ms",
                    started.elapsed().as_millis()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Search {
            output,
            rounds,
            products,
            scale_rounds,
        }) => {
            let scratch = tempfile_dir()?;
            let snapshot = demo::snapshot()?;
            let embedder =
                clerk_core::embed::Embedder::load_or_warn(&settings.global.embedding_model);
            let results = async {
                let mut results =
                    crate::bench::search::run(&snapshot, &scratch, rounds.max(1)).await?;
                results.relevance = Some(crate::bench::search_scale::relevance(
                    &snapshot,
                    &scratch,
                    embedder.as_deref(),
                )?);
                if products > 0 {
                    results.scale = Some(
                        crate::bench::search_scale::scale(
                            &snapshot,
                            products,
                            scale_rounds.max(1),
                            &scratch,
                            embedder.as_deref(),
                        )
                        .await?,
                    );
                }
                anyhow::Ok(results)
            }
            .await;
            let _ = std::fs::remove_dir_all(&scratch);
            crate::bench::write_results(&output, &results?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Llm {
            output,
            llama_bench,
        }) => {
            let scratch = tempfile_dir()?;
            let results = crate::bench::llm::run(&settings, &scratch, llama_bench.as_deref()).await;
            let _ = std::fs::remove_dir_all(&scratch);
            crate::bench::write_results(&output, &results?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Train {
            tune_encoder,
            tune_epochs,
        } => {
            let tune = tune_encoder.then(|| clerk_core::sentiment::tuned::TunedParams {
                epochs: tune_epochs.max(1),
                ..Default::default()
            });
            train(&settings, tune).await
        }
        Command::Bench(BenchCommand::Demand { output, data }) => {
            let params = clerk_core::forecast::Params::default();
            let results =
                tokio::task::spawn_blocking(move || crate::bench::demand::run(&data, params))
                    .await??;
            crate::bench::write_results(&output, &results)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Pricing { output, data }) => {
            let results =
                tokio::task::spawn_blocking(move || crate::bench::pricing::run(&data)).await??;
            crate::bench::write_results(&output, &results)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Fraud { output, data }) => {
            let mut results =
                tokio::task::spawn_blocking(move || crate::bench::fraud::run(&data)).await??;
            let scratch = tempfile_dir()?;
            let gate = crate::bench::risk_gate::run(demo::TASKS, &scratch).await;
            let _ = std::fs::remove_dir_all(&scratch);
            results.tau2_gate = Some(gate?);
            crate::bench::write_results(&output, &results)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Sentiment { output, data }) => {
            let results =
                tokio::task::spawn_blocking(move || crate::bench::sentiment::run(&data)).await??;
            crate::bench::write_results(&output, &results)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sentiment {
            review,
            train,
            output,
        } => reviews::sentiment(&settings, review, train.as_deref(), output.as_deref()).await,
        Command::Bench(BenchCommand::Analytics {
            output,
            ta_feng,
            postgres,
            runs,
        }) => {
            let scratch = tempfile_dir()?;
            let results =
                crate::bench::analytics::run(&ta_feng.path, postgres.as_deref(), runs, &scratch)
                    .await;
            let _ = std::fs::remove_dir_all(&scratch);
            crate::bench::write_results(&output, &results?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Recommend {
            output,
            ta_feng,
            half_life_days,
            together_weight,
            popular_weight,
            popular_days,
            popularity_half_life_days,
            neighbours,
            until,
        }) => {
            let until = match until.as_deref().map(clerk_core::dates::parse_iso) {
                None => None,
                Some(Some(day)) => Some(day),
                Some(None) => anyhow::bail!("--until takes a date as YYYY-MM-DD"),
            };
            let defaults = clerk_core::recommend::Params::default();
            let params = clerk_core::recommend::Params {
                half_life_days: half_life_days.unwrap_or(defaults.half_life_days),
                together_weight: together_weight.unwrap_or(defaults.together_weight),
                popular_weight: popular_weight.unwrap_or(defaults.popular_weight),
                popular_days: popular_days.unwrap_or(defaults.popular_days),
                popularity_half_life_days: popularity_half_life_days
                    .unwrap_or(defaults.popularity_half_life_days),
                neighbours: neighbours.unwrap_or(defaults.neighbours),
                ..defaults
            };
            let results = tokio::task::spawn_blocking(move || {
                crate::bench::recommend::run(&ta_feng.path, params, until)
            })
            .await??;
            crate::bench::write_results(&output, &results)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval(EvalCommand::Tau2 {
            tasks,
            limit,
            ids,
            trials,
            max_turns,
            output,
        }) => {
            eval_tau2(
                &settings,
                tasks.as_deref(),
                limit,
                &ids,
                trials,
                max_turns,
                &output,
            )
            .await
        }
        Command::Eval(EvalCommand::Conversations {
            file,
            ids,
            jobs,
            limit,
            output,
        }) => eval_conversations(&settings, file.as_deref(), &ids, &jobs, limit, &output).await,
        Command::Eval(EvalCommand::Merchant {
            data,
            file,
            reference,
            ids,
            output,
        }) => eval_merchant(&settings, &data, file.as_deref(), reference, &ids, &output).await,
        Command::Customer(command) => customer(&settings, command).await,
        Command::Risk(RiskCommand::Label { order_id, outcome }) => {
            let store = Store::connect(&settings.database).await?;
            let labelled = store.label_risk(&order_id, outcome == "fraud").await?;
            if labelled == 0 {
                eprintln!("error: no request on order {order_id} was scored");
                return Ok(ExitCode::FAILURE);
            }
            eprintln!("{labelled} scored request(s) on {order_id} labelled {outcome}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Risk(RiskCommand::List { days, min_score }) => {
            let store = Store::connect(&settings.database).await?;
            let since =
                clerk_core::store::now_ms().saturating_sub(days.max(0).saturating_mul(86_400_000));
            let risks = store.risks_since(since, min_score).await?;
            println!("{}", serde_json::to_string_pretty(&risks)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Staff(StaffCommand::Add { username, role }) => {
            let password = match std::env::var("CLERK_STAFF_PASSWORD") {
                Ok(password) => password,
                Err(_) => {
                    use std::io::BufRead;
                    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                        eprint!("password for {username}: ");
                    }
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let store = Store::connect(&settings.database).await?;
            match clerk_core::accounts::add_account(&store, &username, &password, &role).await {
                Ok(()) => {
                    eprintln!("account {username} ({role}) saved");
                    Ok(ExitCode::SUCCESS)
                }
                Err(
                    error @ (clerk_core::accounts::AccountError::InvalidUsername
                    | clerk_core::accounts::AccountError::WeakPassword
                    | clerk_core::accounts::AccountError::UnknownRole(_)),
                ) => {
                    eprintln!("error: {error}");
                    Ok(ExitCode::from(EXIT_USAGE))
                }
                Err(error) => Err(error.into()),
            }
        }
        Command::Catalog(CatalogCommand::SetItem {
            item_id,
            price,
            available,
            stock,
            lead_time_days,
        }) => {
            let store = Store::connect(&settings.database).await?;
            let edit = clerk_core::store::ItemEdit {
                price: price.map(Cents::from_dollars).transpose()?,
                available,
                stock: stock.map(|c| c.0),
                lead_time_days: lead_time_days.map(|c| c.0),
            };
            let variant = store.update_item(&item_id, &edit).await?;
            println!("{}", serde_json::to_string(&variant)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A new scratch folder under the system's temporary folder.
fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("clerk-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn tool(settings: &Settings, name: &str, args: &str) -> anyhow::Result<ExitCode> {
    let args: Value = match serde_json::from_str(args) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: --args is not valid JSON: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let app = App::open(settings).await?;
    let line = match app.tools.call(name, args).await {
        Ok(output) => json!({ "ok": true, "output": output }),
        Err(error) if error.is_refusal() => json!({ "ok": false, "error": error.to_string() }),
        Err(error @ (ToolError::UnknownTool(_) | ToolError::InvalidArguments { .. })) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        Err(error) => return Err(error.into()),
    };
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

/// `clerk chat`: the engine in the terminal. Interactive, it streams replies after a prompt;
/// scripted (standard input not a terminal), it prints one reply per shopper line, nothing else.
async fn chat(settings: &Settings, merchant: bool) -> anyhow::Result<ExitCode> {
    use std::io::{BufRead, IsTerminal};
    let app = App::open(settings).await?;
    let engine = app.engine(settings).await?;
    let user = std::env::var("USER").unwrap_or_else(|_| "terminal".to_owned());
    // Whoever holds the store's database is its merchant here, as with `clerk tool`.
    let channel = if merchant {
        clerk_engine::conversation::MERCHANT_CHANNEL
    } else {
        "terminal"
    };
    let conversation = engine.start(channel, &user).await?.conversation_id;
    let interactive = std::io::stdin().is_terminal();
    // Standard input is read on its own thread and handed over line by line.
    let (sender, mut lines) = tokio::sync::mpsc::channel::<std::io::Result<String>>(1);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if sender.blocking_send(line).is_err() {
                break;
            }
        }
    });
    loop {
        if interactive {
            eprint!("you> ");
        }
        let Some(line) = lines.recv().await.transpose()? else {
            break;
        };
        if line.trim().is_empty() {
            continue;
        }
        let stream = |event: ReplyEvent<'_>| {
            if interactive {
                match event {
                    ReplyEvent::Text(text) => print!("{text}"),
                    ReplyEvent::Retract => print!(" [withdrawn]\nclerk> "),
                }
                let _ = std::io::stdout().flush();
            }
        };
        if interactive {
            print!("clerk> ");
        }
        match engine.turn(&conversation, &line, &stream).await {
            Ok(outcome) => match outcome.reply {
                Some(reply) if !interactive => println!("{reply}"),
                Some(_) => println!(),
                None => eprintln!("(the conversation is waiting for staff)"),
            },
            Err(error) => eprintln!("error: {error}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `clerk eval tau2`: the bundled tasks (or `tasks`), the model of `settings` as both the agent
/// and the simulated shopper.
async fn eval_tau2(
    settings: &Settings,
    tasks: Option<&Path>,
    limit: usize,
    ids: &[String],
    trials: usize,
    max_turns: usize,
    output: &Path,
) -> anyhow::Result<ExitCode> {
    use crate::eval::tau2;
    let text = match tasks {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => demo::TASKS.to_owned(),
    };
    let mut tasks = tau2::parse_tasks(&text)?;
    if !ids.is_empty() {
        tasks.retain(|task| ids.contains(&task.id));
    }
    tasks.truncate(limit);
    if tasks.is_empty() {
        bail!("no task to run");
    }
    let loaded = crate::app::load_model(settings).await?;
    let scratch = tempfile_dir()?;
    let options = tau2::EvalOptions {
        trials: trials.max(1),
        max_turns,
        engine: crate::app::engine_config(settings),
    };
    eprintln!("running {} tasks × {} trials", tasks.len(), options.trials);
    // Each finished trial is reported, and the results so far written, so that a long run on a
    // CPU can be read (or stopped) before its end.
    let done = std::sync::Mutex::new(Vec::new());
    let progress = |result: &tau2::TrialResult| {
        eprintln!(
            "task {} trial {}: {} ({:?}, {} shopper messages, {} calls refused, {} replies held, {:.0} s){}",
            result.task_id,
            result.trial,
            if result.passed { "pass" } else { "fail" },
            result.ending,
            result.shopper_messages,
            result.refused_calls,
            result.held_replies,
            result.seconds,
            result
                .mismatch
                .as_deref()
                .map(|m| format!(" — differs at {m}"))
                .unwrap_or_default()
        );
        let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
        done.push(result.clone());
        let partial = json!({"partial": true, "results": *done});
        if let Some(parent) = output.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(output, format!("{partial:#}\n"));
    };
    let report = tau2::run(
        &demo::snapshot()?,
        &tasks,
        &tau2::Players {
            agent: loaded.model.clone(),
            shopper: loaded.model,
        },
        settings,
        &scratch,
        &options,
        &progress,
    )
    .await;
    let _ = std::fs::remove_dir_all(&scratch);
    crate::bench::write_results(output, &report?)?;
    Ok(ExitCode::SUCCESS)
}

/// `clerk eval conversations`: the bundled conversations (or `file`), with the model of
/// `settings` as the agent.
async fn eval_conversations(
    settings: &Settings,
    file: Option<&Path>,
    ids: &[String],
    jobs: &[String],
    limit: Option<usize>,
    output: &Path,
) -> anyhow::Result<ExitCode> {
    use crate::eval::conversations;
    let text = match file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => demo::CONVERSATIONS.to_owned(),
    };
    let mut cases = conversations::parse_suite(&text)?.conversation;
    cases.retain(|case| {
        (ids.is_empty() || ids.contains(&case.id)) && (jobs.is_empty() || jobs.contains(&case.job))
    });
    cases.truncate(limit.unwrap_or(usize::MAX));
    if cases.is_empty() {
        bail!("no conversation to run");
    }
    let loaded = crate::app::load_model(settings).await?;
    let scratch = tempfile_dir()?;
    eprintln!("running {} conversations", cases.len());
    let done = std::sync::Mutex::new(Vec::new());
    let progress = |result: &conversations::CaseResult| {
        eprintln!(
            "{} ({}): {} in {:.0} s, first words after {:?} s{}",
            result.id,
            result.job,
            if result.passed { "pass" } else { "FAIL" },
            result.seconds,
            result
                .first_words_seconds
                .iter()
                .map(|s| (s * 10.0).round() / 10.0)
                .collect::<Vec<_>>(),
            result
                .failures
                .iter()
                .map(|(kind, detail)| format!(" — {kind:?}: {detail}"))
                .chain(
                    result
                        .violations
                        .iter()
                        .map(|v| format!(" — POLICY {}: {}", v.kind, v.detail))
                )
                .collect::<String>()
        );
        let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
        done.push(result.clone());
        let partial = conversations::report(done.clone(), 0.0);
        if let Some(parent) = output.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(
            output,
            format!("{:#}\n", json!({"partial": true, "report": partial})),
        );
    };
    let report = conversations::run(
        &demo::snapshot()?,
        &cases,
        loaded.model,
        settings,
        &scratch,
        &crate::app::engine_config(settings),
        &progress,
    )
    .await;
    let _ = std::fs::remove_dir_all(&scratch);
    let report = report?;
    eprintln!(
        "{} of {} conversations passed ({:.0} %), {} policy breaks, median first words {:?} s \
         ({:?} s where the model took part)",
        report.passed,
        report.conversations,
        report.success_rate * 100.0,
        report.violations,
        report.median_first_words_seconds,
        report.median_model_first_words_seconds
    );
    crate::bench::write_results(output, &report)?;
    Ok(ExitCode::SUCCESS)
}

/// `clerk eval merchant`: the merchant's questions on a scratch Ta-Feng store, each answer's
/// tool, figures and chart checked.
async fn eval_merchant(
    settings: &Settings,
    data: &Path,
    file: Option<&Path>,
    reference: bool,
    ids: &[String],
    output: &Path,
) -> anyhow::Result<ExitCode> {
    use crate::eval::merchant;
    let text = match file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => demo::MERCHANT_QUESTIONS.to_owned(),
    };
    let mut questions = merchant::parse_suite(&text)?.question;
    if !ids.is_empty() {
        questions.retain(|q| ids.contains(&q.id));
    }
    if questions.is_empty() {
        bail!("no question to ask");
    }
    let snapshot = read_ta_feng(data)?;
    let (model, agent): (std::sync::Arc<dyn clerk_core::llm::ChatModel>, String) = if reference {
        (
            std::sync::Arc::new(merchant::Reference::new(&questions)),
            "reference".to_owned(),
        )
    } else {
        let agent = settings
            .global
            .model_url
            .clone()
            .unwrap_or_else(|| settings.global.model.display().to_string());
        (crate::app::load_model(settings).await?.model, agent)
    };
    let scratch = tempfile_dir()?;
    eprintln!("asking {} questions", questions.len());
    let done = std::sync::Mutex::new(Vec::new());
    let progress = |r: &merchant::QuestionResult| {
        let figures: Vec<String> = r
            .figures
            .iter()
            .filter(|f| !f.stated)
            .map(|f| format!("{} {:?} not stated", f.name, f.expected))
            .collect();
        eprintln!(
            "{} ({}): {} in {:.0} s — tool {}, figures {}, charts {}{}",
            r.id,
            r.topic,
            if r.passed { "pass" } else { "FAIL" },
            r.seconds,
            if r.tool_right { "right" } else { "WRONG" },
            if r.figures_right { "right" } else { "WRONG" },
            r.charts.len(),
            if figures.is_empty() {
                String::new()
            } else {
                format!(" — {}", figures.join("; "))
            }
        );
        // What is answered so far is kept, should the run be stopped.
        let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
        done.push(r.clone());
        let partial = merchant::Report::of(&agent, done.clone(), 0.0);
        let _ = crate::bench::write_results(output, &json!({"partial": true, "report": partial}));
    };
    let report = merchant::run(
        &snapshot,
        &questions,
        model,
        &agent,
        settings,
        &scratch,
        &crate::app::engine_config(settings),
        &progress,
    )
    .await;
    let _ = std::fs::remove_dir_all(&scratch);
    let report = report?;
    eprintln!(
        "{} of {} questions passed: right tool {}, figures right {}, charts {} of {} asked",
        report.passed,
        report.questions,
        report.tool_right,
        report.figures_right,
        report.charts_given,
        report.charts_asked
    );
    crate::bench::write_results(output, &report)?;
    Ok(ExitCode::SUCCESS)
}

/// Deletes, once an hour, conversations nobody handles and records of staff actions older than
/// `retention`.
async fn purge_old(store: clerk_core::store::Store, retention: std::time::Duration) {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    loop {
        match store
            .purge_before(clerk_core::store::now_ms().saturating_sub(retention_ms))
            .await
        {
            Ok(purge) if purge.conversations + purge.staff_actions > 0 => {
                tracing::info!(
                    conversations = purge.conversations,
                    staff_actions = purge.staff_actions,
                    "old records purged"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "purging old records failed"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

/// Forgets, once an hour, identity tokens and link codes that expired (a used token is kept until
/// then, so that it cannot be replayed).
async fn forget_expired(store: clerk_core::store::Store) {
    loop {
        if let Err(error) = store
            .purge_expired_identity(clerk_core::store::now_ms())
            .await
        {
            tracing::warn!(%error, "forgetting expired identity tokens failed");
        }
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

/// Closes, once a minute, the conversations the bot owns that were idle for `idle`.
async fn close_idle(store: clerk_core::store::Store, idle: std::time::Duration) {
    let idle_ms = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
    loop {
        match store
            .close_idle(clerk_core::store::now_ms().saturating_sub(idle_ms))
            .await
        {
            Ok(0) => {}
            Ok(closed) => tracing::info!(closed, "idle conversations closed"),
            Err(error) => tracing::warn!(%error, "closing idle conversations failed"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
}

/// `clerk customer export|erase`.
async fn customer(settings: &Settings, command: CustomerCommand) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&settings.database).await?;
    match command {
        CustomerCommand::Export { user_id, output } => {
            let Some(data) = store.customer_data(&user_id).await? else {
                eprintln!("error: no customer {user_id}");
                return Ok(ExitCode::from(EXIT_USAGE));
            };
            let text = format!("{:#}\n", serde_json::to_value(&data)?);
            match output {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!(
                        "customer {user_id}: {} orders, {} conversations written to {}",
                        data.orders.len(),
                        data.conversations.len(),
                        path.display()
                    );
                }
                None => std::io::stdout().lock().write_all(text.as_bytes())?,
            }
            Ok(ExitCode::SUCCESS)
        }
        CustomerCommand::Erase { user_id, confirm } => {
            if !confirm {
                eprintln!(
                    "error: erasing a customer cannot be undone: add --confirm (export first with `clerk customer export`)"
                );
                return Ok(ExitCode::from(EXIT_USAGE));
            }
            let Some(erasure) = store.erase_customer(&user_id, "cli").await? else {
                eprintln!("error: no customer {user_id}");
                return Ok(ExitCode::from(EXIT_USAGE));
            };
            eprintln!(
                "customer erased: {} orders anonymised, {} conversations deleted",
                erasure.orders_anonymised, erasure.conversations_deleted
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn import(
    settings: &Settings,
    format: Format,
    file: &Path,
    replace: bool,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let snapshot = match format {
        Format::Reviews => return reviews::import(settings, file, replace).await,
        Format::Stock => return import_stock(settings, file, replace).await,
        Format::Tau2Retail => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a tau2-retail store", file.display()))?
        }
        Format::TaFeng => read_ta_feng(file)?,
    };
    let app = App::open(settings).await?;
    load(&app, &snapshot, replace).await?;
    eprintln!(
        "imported {} in {:.2} s",
        file.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// `clerk import stock`: updates the catalog's items from a stock CSV in one transaction; rows
/// that cannot be read, or name an item the catalog does not have, are reported by line and
/// skipped.
async fn import_stock(settings: &Settings, file: &Path, replace: bool) -> anyhow::Result<ExitCode> {
    if replace {
        bail!("a stock file updates the catalog's items; --replace does not apply to it");
    }
    let read = clerk_core::import::stock::read(clerk_core::import::open(file)?)?;
    let store = Store::connect(&settings.database).await?;
    let edits: Vec<(String, clerk_core::store::ItemEdit)> = read
        .rows
        .iter()
        .map(|row| (row.item_id.clone(), row.edit.clone()))
        .collect();
    let done = store.update_items(&edits).await?;
    let mut bad_rows = read.bad_rows;
    for (row, variant) in read.rows.iter().zip(&done) {
        if variant.is_none() {
            bad_rows.push(clerk_core::import::BadRow {
                line: row.line,
                reason: format!("no item {} in the catalog", row.item_id),
            });
        }
    }
    bad_rows.sort_by_key(|b| b.line);
    report_bad_rows(file, &bad_rows);
    let updated = done.iter().flatten().count();
    eprintln!("{updated} items updated from {}", file.display());
    Ok(if updated == 0 {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::SUCCESS
    })
}

/// Trains every model on the store's history, with a progress bar, and prints what each saw.
/// With `tune`, the sentiment encoder too.
async fn train(
    settings: &Settings,
    tune: Option<clerk_core::sentiment::tuned::TunedParams>,
) -> anyhow::Result<ExitCode> {
    let app = App::open(settings).await?;
    let bar = indicatif::ProgressBar::new_spinner().with_message("recommender: reading orders");
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let model = app.train_recommender(settings).await?;
    bar.set_message("sentiment: reading reviews");
    let stage = bar.clone();
    let sentiment = app
        .train_sentiment(settings, tune, move |what: &str| {
            stage.set_message(format!("sentiment: {what}"));
        })
        .await?;
    // The catalog's product vectors (the sentence model is not trained, only run): computed
    // now rather than in the background of the next start.
    let vectors = if app.search.hybrid() {
        bar.set_message("search: embedding the catalog's products");
        Some(app.search.embed_catalog().await?)
    } else {
        None
    };
    bar.finish_and_clear();
    let report = &model.report;
    eprintln!(
        "recommender: {} orders of {} customers, {} items, trained in {:.2} s, saved to {}",
        report.orders,
        report.customers,
        report.items,
        report.seconds,
        settings
            .global
            .data_dir
            .join(clerk_core::recommend::MODEL_FILE)
            .display()
    );
    let sentiment_report = match &sentiment {
        Some(model) => {
            let r = &model.report;
            eprintln!(
                "sentiment: {} reviews ({} negative, {} neutral, {} positive), macro-F1 {:.3} on the \
                 fifth held out, trained in {:.1} s, saved to {}",
                r.examples.iter().sum::<usize>(),
                r.examples[0],
                r.examples[1],
                r.examples[2],
                r.validation_macro_f1,
                r.seconds,
                settings
                    .global
                    .data_dir
                    .join(clerk_core::sentiment::MODEL_FILE)
                    .display()
            );
            if let Some(t) = model.tuned_report() {
                eprintln!(
                    "sentiment encoder: tuned on {} reviews, {} epochs, macro-F1 {:.3} on the {} \
                     held out (words alone {:.3}), in {:.0} s, saved to {}",
                    t.examples.iter().sum::<usize>(),
                    t.epochs,
                    t.validation_macro_f1,
                    t.tuning_reviews,
                    t.words_validation_macro_f1,
                    t.seconds,
                    settings
                        .global
                        .data_dir
                        .join(clerk_core::sentiment::tuned::TUNED_FILE)
                        .display()
                );
            }
            json!(r)
        }
        None => {
            eprintln!(
                "sentiment: fewer than {} reviews in the store, the bundled model stays in use{}",
                crate::app::MIN_STORE_REVIEWS,
                if tune.is_some() {
                    " and no encoder is tuned"
                } else {
                    ""
                }
            );
            Value::Null
        }
    };
    match vectors {
        Some(products) => eprintln!(
            "search: {products} products embedded, saved to {}",
            app.search.dir().join("vectors.bin").display()
        ),
        None => eprintln!(
            "search: no sentence-embedding model at {} (scripts/fetch-model embeddings), search matches words only",
            settings.global.embedding_model.display()
        ),
    }
    // The demand model, from the dated orders.
    let demand_report = match app.train_demand(settings).await {
        Ok(Some(model)) => {
            eprintln!(
                "demand: {} product-weeks, {} trees, saved to {}",
                model.rows,
                model.trees_kept(),
                settings
                    .global
                    .data_dir
                    .join(clerk_core::forecast::MODEL_FILE)
                    .display()
            );
            if let Some(b) = &model.backtest {
                eprintln!(
                    "demand: on each product's last {} weeks held back ({} product-weeks, {:.0} units), WAPE {:.3} (naive last week {:.3}, 4-week mean {:.3}); the 80 % interval, calibrated on them, held {:.1} %",
                    model.params.calibration_weeks,
                    b.weeks,
                    b.units,
                    b.wape,
                    b.wape_naive,
                    b.wape_mean4,
                    100.0 * b.interval_coverage
                );
            }
            json!({"rows": model.rows, "trees": model.trees_kept(), "backtest": model.backtest})
        }
        Ok(None) => {
            eprintln!("demand: no order carries a date, no forecasts");
            Value::Null
        }
        Err(crate::app::AppError::Demand(
            error @ clerk_core::forecast::ForecastError::TooLittleHistory { .. },
        )) => {
            eprintln!("demand: {error}, no forecasts");
            Value::Null
        }
        Err(error) => return Err(error.into()),
    };
    // The risk model, from the outcomes merchants and staff labelled.
    let labelled: Vec<(Vec<Option<f64>>, bool)> = app
        .store
        .labelled_risks()
        .await?
        .into_iter()
        .map(|r| (r.signals, r.label.as_deref() == Some("fraud")))
        .collect();
    let risk_report = match clerk_core::risk::model::RiskModel::train(&labelled) {
        Ok(model) => {
            model.save(&settings.global.data_dir)?;
            eprintln!(
                "risk: {} labelled requests ({} fraud), saved to {}; the gate scores with it from the next start",
                model.labels,
                model.frauds,
                settings
                    .global
                    .data_dir
                    .join(clerk_core::risk::model::MODEL_FILE)
                    .display()
            );
            json!({"labels": model.labels, "frauds": model.frauds})
        }
        Err(error @ clerk_core::risk::model::RiskModelError::TooFewLabels { .. }) => {
            eprintln!("risk: {error}; the anomaly score stays in use");
            Value::Null
        }
        Err(error) => return Err(error.into()),
    };
    println!(
        "{}",
        json!({
            "recommender": report,
            "sentiment": sentiment_report,
            "sentiment_encoder": sentiment.as_ref().and_then(|m| m.tuned_report()),
            "product_vectors": vectors,
            "demand_model": demand_report,
            "risk_model": risk_report,
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads a Ta-Feng file with a progress bar, reporting the rows it skips by line number.
fn read_ta_feng(file: &Path) -> anyhow::Result<StoreSnapshot> {
    let bar = indicatif::ProgressBar::new_spinner().with_message("reading");
    let history =
        clerk_core::import::ta_feng::read(clerk_core::import::open(file)?, &mut |line| {
            bar.set_message(format!("reading line {line}"));
            bar.tick();
        })?;
    bar.finish_and_clear();
    report_bad_rows(file, &history.bad_rows);
    Ok(clerk_core::import::ta_feng::snapshot(&history.lines))
}

/// Tells which rows an import skipped (the first 20, then how many more).
fn report_bad_rows(file: &Path, bad_rows: &[clerk_core::import::BadRow]) {
    for row in bad_rows.iter().take(20) {
        eprintln!("{}:{}: skipped: {}", file.display(), row.line, row.reason);
    }
    if bad_rows.len() > 20 {
        eprintln!("… and {} more rows skipped", bad_rows.len() - 20);
    }
    if !bad_rows.is_empty() {
        eprintln!("{} rows skipped in all", bad_rows.len());
    }
}

/// Imports `snapshot` with a progress bar, then brings the search index up to date.
async fn load(app: &App, snapshot: &StoreSnapshot, replace: bool) -> anyhow::Result<()> {
    load_with_reviews(app, snapshot, &[], replace).await
}

/// As [`load`], with the catalog's reviews in the same transaction.
async fn load_with_reviews(
    app: &App,
    snapshot: &StoreSnapshot,
    reviews: &[clerk_core::store::NewReview],
    replace: bool,
) -> anyhow::Result<()> {
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = app
        .store
        .import_with_reviews(snapshot, reviews, replace, &mut |stage, done, total| {
            bar.set_message(stage);
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })
        .await?;
    bar.finish_and_clear();
    eprintln!(
        "{} products ({} items), {} customers, {} orders",
        report.products, report.items, report.users, report.orders
    );
    app.search.refresh().await?;
    Ok(())
}

async fn export(
    settings: &Settings,
    format: Format,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    if format != Format::Tau2Retail {
        anyhow::bail!("clerk exports the tau2-retail shape only; other formats are for import");
    }
    let store = Store::connect(&settings.database).await?;
    let snapshot = store.export().await?;
    // Indented by four spaces, as tau2's own db.json.
    let mut buffer = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    serde::Serialize::serialize(
        &snapshot,
        &mut serde_json::Serializer::with_formatter(&mut buffer, formatter),
    )?;
    let text = String::from_utf8(buffer)?;
    match output {
        Some(path) => std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.write_all(b"\n")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(settings: &Settings) -> anyhow::Result<ExitCode> {
    // The tool API reads and writes every customer's data: never served without a key, on any
    // address. The demo makes one for the run and prints it.
    let api_key = match settings
        .serve
        .api_key
        .clone()
        .filter(|k| !k.trim().is_empty())
    {
        Some(key) => key,
        None if settings.serve.demo => {
            let key = clerk_core::accounts::random_token();
            eprintln!(
                "tool API: http://{}/api/tools, send `Authorization: Bearer {key}` (made for this run; --api-key sets one)",
                settings.serve.listen
            );
            key
        }
        None => bail!(
            "refusing to start without an API key for the tool API, which reads and writes every \
             customer's data: set --api-key (CLERK_API_KEY, or `api_key` under [serve] in the config file)"
        ),
    };
    let app = App::open(settings).await?;
    if settings.serve.demo {
        let counts = app.store.counts().await?;
        if counts.products + counts.users + counts.orders == 0 {
            tracing::info!("loading the demo store");
            load(&app, &demo::snapshot()?, false).await?;
        }
        // The demo's recommender is trained at once (a second on the demo store); a merchant's
        // own store runs `clerk train`.
        let untrained = app.models.recommender.get().is_none();
        if untrained {
            let model = app.train_recommender(settings).await?;
            tracing::info!(orders = model.report.orders, "recommender trained");
        }
    }
    app.search.refresh().await?;
    if app.search.hybrid() {
        // The catalog's vectors are computed (or read back) in the background; search matches
        // words only until they are ready.
        let search = app.search.clone();
        tokio::spawn(async move {
            if let Err(error) = search.embed_catalog().await {
                tracing::warn!(%error, "search stays by words only");
            }
        });
    }
    if settings.serve.demo && app.store.account_count().await? == 0 {
        // The demo store gets one merchant account (merchants are staff too), so that the
        // console can be tried at once; its password is random and shown once, here.
        let password = clerk_core::accounts::random_token()[..16].to_owned();
        clerk_core::accounts::add_account(&app.store, "demo", &password, "merchant").await?;
        eprintln!(
            "staff console: http://{}/staff, sign in as demo / {password} (shown once; `clerk staff add` makes more)",
            settings.serve.listen
        );
    }
    let engine = app.engine(settings).await?;
    if let Some(idle) = settings.serve.idle_close() {
        tokio::spawn(close_idle(app.store.clone(), idle));
    }
    if let Some(retention) = settings.serve.retention() {
        tokio::spawn(purge_old(app.store.clone(), retention));
    }
    tokio::spawn(forget_expired(app.store.clone()));
    let listener = tokio::net::TcpListener::bind(settings.serve.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.serve.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(
        store = %clerk_core::store::redact(&settings.database),
        "clerk is serving on http://{address} (web chat: /chat, staff console: /staff, health: /health, tools: /api/tools)"
    );
    let telegram = match &settings.serve.telegram_token {
        Some(token) => {
            let channel = std::sync::Arc::new(crate::channel::telegram::TelegramChannel::new(
                engine.clone(),
                crate::channel::telegram::TelegramConfig {
                    token: token.clone(),
                    api_url: settings.serve.telegram_api_url.clone(),
                    webhook_url: settings.serve.telegram_webhook_url.clone(),
                    webhook_secret: settings.serve.telegram_webhook_secret.clone(),
                    poll_timeout: std::time::Duration::from_secs(25),
                    edit_interval: settings.serve.edit_interval_ms,
                    outbox_retry: crate::channel::OutboxRetry::default(),
                },
            ));
            let running = channel.clone();
            tokio::spawn(async move {
                if let Err(error) = running.run().await {
                    tracing::error!(%error, "Telegram stopped");
                }
            });
            Some(channel)
        }
        None => None,
    };
    if let Some(token) = &settings.serve.discord_token {
        let config = crate::channel::discord::DiscordConfig {
            token: token.clone(),
            allowed_channels: settings.serve.discord_channels.clone(),
            api_proxy: settings.serve.discord_api_proxy.clone(),
            edit_interval: settings.serve.edit_interval_ms,
            outbox_retry: crate::channel::OutboxRetry::default(),
        };
        let engine = engine.clone();
        tokio::spawn(async move {
            if let Err(error) = crate::channel::discord::DiscordChannel::run(engine, config).await {
                tracing::error!(%error, "Discord stopped");
            }
        });
    }
    crate::router::serve(
        listener,
        crate::router::router_with(
            app,
            crate::router::Edges {
                engine: Some(engine),
                api_key,
                console: crate::staff::ConsoleConfig {
                    session_lifetime: settings.serve.session_hours,
                    secure_cookie: settings.serve.secure_cookie,
                    chart_scripts: Some(settings.serve.chart_scripts.clone()),
                },
                chat_limits: settings.serve.chat_limits(),
                telegram,
                allowed_origins: settings.serve.identity.allowed_origins.clone(),
            },
        ),
        settings.serve.trusted_proxies.clone(),
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}
