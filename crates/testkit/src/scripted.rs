//! A model that plays a script: for tests of the engine's logic, and for demonstrations without
//! a model. Each step is taken from the script in order; a step may look at the request.

use clerk_core::llm::{
    ChatModel, LlmError, ModelFuture, ModelRequest, ModelStep, TokenSink, ToolCall,
};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// One step of a script.
pub enum Scripted {
    /// Reply with this text (streamed word by word).
    Reply(String),
    /// Reply with this text, streamed word by word with this pause before each word (as a
    /// model generating it would).
    SlowReply(String, Duration),
    /// Call this tool.
    Call(ToolCall),
    /// Fail with this message.
    Fail(String),
    /// Write a step that is neither a reply nor a tool call (as a small model may), with this
    /// reason.
    Invalid(String),
    /// Take this long, then take the next step (to test time-outs).
    Stall(Duration),
    /// Decide from the request.
    With(Box<dyn Fn(&ModelRequest<'_>) -> ModelStep + Send + Sync>),
}

impl Scripted {
    /// A reply.
    pub fn reply(text: &str) -> Scripted {
        Scripted::Reply(text.to_owned())
    }

    /// A tool call.
    pub fn call(name: &str, arguments: serde_json::Value) -> Scripted {
        Scripted::Call(ToolCall {
            name: name.to_owned(),
            arguments,
        })
    }
}

/// A model that plays its script, and records what it was shown.
#[derive(Default)]
pub struct ScriptedModel {
    script: Mutex<VecDeque<Scripted>>,
    seen_tools: Mutex<Vec<Vec<String>>>,
}

impl ScriptedModel {
    /// A model that will take these steps, in order.
    pub fn new(steps: impl IntoIterator<Item = Scripted>) -> ScriptedModel {
        ScriptedModel {
            script: Mutex::new(steps.into_iter().collect()),
            seen_tools: Mutex::new(Vec::new()),
        }
    }

    /// Adds steps to the end of the script.
    pub fn then(&self, steps: impl IntoIterator<Item = Scripted>) {
        self.script.lock().unwrap().extend(steps);
    }

    /// Drops the steps left.
    pub fn clear(&self) {
        self.script.lock().unwrap().clear();
    }

    /// How many steps are left.
    pub fn remaining(&self) -> usize {
        self.script.lock().unwrap().len()
    }

    /// The names of the tools offered at each step so far.
    pub fn tools_offered(&self) -> Vec<Vec<String>> {
        self.seen_tools.lock().unwrap().clone()
    }
}

impl ChatModel for ScriptedModel {
    fn next_step<'a>(
        &'a self,
        request: ModelRequest<'a>,
        on_text: TokenSink<'a>,
    ) -> ModelFuture<'a> {
        Box::pin(async move {
            self.seen_tools
                .lock()
                .unwrap()
                .push(request.tools.iter().map(|t| t.name.clone()).collect());
            loop {
                let step = self.script.lock().unwrap().pop_front();
                return match step {
                    None => Err(LlmError::Failed("the script has ended".into())),
                    Some(Scripted::Stall(duration)) => {
                        tokio::time::sleep(duration).await;
                        continue;
                    }
                    Some(Scripted::Fail(message)) => Err(LlmError::Failed(message)),
                    Some(Scripted::Invalid(why)) => Err(LlmError::InvalidStep(why)),
                    Some(Scripted::Call(call)) => Ok(ModelStep::Call(call)),
                    Some(Scripted::With(decide)) => Ok(decide(&request)),
                    Some(Scripted::Reply(text)) => {
                        stream(&text, Duration::ZERO, on_text).await;
                        Ok(ModelStep::Reply(text))
                    }
                    Some(Scripted::SlowReply(text, pause)) => {
                        stream(&text, pause, on_text).await;
                        Ok(ModelStep::Reply(text))
                    }
                };
            }
        })
    }
}

/// Streams `text` word by word, pausing before each.
async fn stream(text: &str, pause: Duration, on_text: TokenSink<'_>) {
    for (i, word) in text.split(' ').enumerate() {
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        on_text(&if i == 0 {
            word.to_owned()
        } else {
            format!(" {word}")
        });
    }
}
