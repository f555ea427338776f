//! The merchant's standard report, `/staff/reports`: the figures of the last 30 days without
//! asking anything — revenue by day beside the 30 days before, the top products, what explains
//! the change, the customers' segments and the support figures — each with its charts
//! ([`clerk_core::analytics::chart`]). Every section is a merchant tool's own result, called as the
//! agent would call it. Staff (not merchants) get the support section only.

use clerk_core::analytics::chart;
use clerk_core::tool_name::ToolName;
use clerk_core::tools::{ToolError, ToolRegistry};
use serde_json::{Value, json};

/// One section of the report: the tool call behind it, its result and its charts.
struct Section {
    title: &'static str,
    tool: ToolName,
    arguments: Value,
}

/// The sections a merchant sees, in order (support last: staff see it alone).
fn sections() -> [Section; 5] {
    [
        Section {
            title: "Revenue, last 30 days against the 30 before",
            tool: ToolName::SalesSummary,
            arguments: json!({"group_by": "day", "compare": true}),
        },
        Section {
            title: "Top products by revenue",
            tool: ToolName::SalesSummary,
            arguments: json!({"group_by": "product", "limit": 10, "compare": true}),
        },
        Section {
            title: "What explains the change",
            tool: ToolName::SalesChange,
            arguments: json!({"limit": 5}),
        },
        Section {
            title: "Customers",
            tool: ToolName::CustomerSummary,
            arguments: json!({}),
        },
        Section {
            title: "Support",
            tool: ToolName::SupportSummary,
            arguments: json!({"days": 30}),
        },
    ]
}

/// The report as `GET /staff/api/reports/standard` returns it: `{"sections": [{title, tool,
/// arguments, result, charts}]}`, the support section only for staff (`merchant` false).
pub async fn standard(tools: &ToolRegistry, merchant: bool) -> Result<Value, ToolError> {
    let mut out = Vec::new();
    for section in sections() {
        if !merchant && section.tool != ToolName::SupportSummary {
            continue;
        }
        let output = tools.call(section.tool, section.arguments.clone()).await?;
        let charts: Vec<Value> = chart::for_tool(section.tool, &output)
            .iter()
            .map(chart::Chart::to_json)
            .collect();
        out.push(json!({
            "title": section.title,
            "tool": section.tool,
            "arguments": section.arguments,
            "result": serde_json::from_str::<Value>(&output).unwrap_or(Value::String(output)),
            "charts": charts,
        }));
    }
    Ok(json!({"sections": out}))
}
