//! Loads the bundled model in process and takes one conversation step, printing the step and its
//! throughput: once with a tiny prompt, once with clerk's real first-turn prompt (policy, protocol
//! and the tools offered before authentication).
//!
//! Run with: `cargo run --example model_step [-- path/to/model.gguf]`

use clerk::llm::local::{LocalModel, LocalModelConfig};
use clerk::llm::{ChatMessage, ModelRequest, Role};
use clerk::prompts::Prompts;
use clerk::tools::{Access, ToolSpec};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let path = std::env::args()
        .nth(1)
        .map(Into::into)
        .unwrap_or_else(clerk::config::default_model_path);
    let prompts = Prompts::new(Some(std::path::Path::new("prompts")));
    let config = LocalModelConfig {
        path,
        chat_template: None,
        max_step_tokens: 128,
        constrained: false,
    };
    let model = LocalModel::load(&config, prompts.protocol()?).await?;

    let tiny = [
        ChatMessage::text(Role::System, "You are a shop assistant."),
        ChatMessage::text(Role::User, "Hello! Do you sell headphones?"),
    ];
    let (step, usage) = model
        .step_with_usage(ModelRequest {
            messages: &tiny,
            tools: &[],
        })
        .await?;
    println!("tiny prompt: {step:?}\n  {usage:?}");

    let policy = prompts.policy()?;
    let system = prompts
        .system()?
        .replace("{policy}", &policy)
        .replace("{state}", "The customer is not authenticated yet.");
    let tools: Vec<ToolSpec> = [
        "find_user_id_by_email",
        "find_user_id_by_name_zip",
        "search_products",
        "get_product_details",
        "list_all_product_types",
        "calculate",
        "transfer_to_human_agents",
    ]
    .into_iter()
    .map(|name| {
        let d = prompts.tool(name).unwrap().unwrap();
        ToolSpec {
            name: d.name,
            description: d.description,
            parameters: d.parameters,
            access: Access::Public,
        }
    })
    .collect();
    let messages = [
        ChatMessage::text(Role::System, system),
        ChatMessage::text(Role::User, "Hi, do you sell wireless headphones?"),
    ];
    for round in ["first", "second (same prefix)"] {
        let (step, usage) = model
            .step_with_usage(ModelRequest {
                messages: &messages,
                tools: &tools,
            })
            .await?;
        println!("{round} real prompt: {step:?}\n  {usage:?}");
    }
    Ok(())
}
