//! The `clerk` binary: parses the command line and reports errors; everything else is the library.

use clerk::config::ConfigError;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let invocation = match clerk::config::load(std::env::args_os()) {
        Ok(invocation) => invocation,
        // Help, the version, or a wrong command line: clap prints it, with its exit code.
        Err(ConfigError::Usage(usage)) => usage.exit(),
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    match clerk::cli::run(invocation).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
