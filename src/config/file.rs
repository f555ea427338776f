//! The configuration file (TOML): the settings every command shares at its top level, `serve`'s
//! under `[serve]`, verified shoppers' under `[identity]`, each key named as its setting's field
//! (the flag with `_` for `-`). Its values become the command line's defaults, so that a flag or
//! an environment variable still beats them, and each is checked as its flag's value would be
//! (an unknown key, or a value the setting does not take, is an error that names the key).

use super::{ConfigError, IdentityArgs};
use clap::{Arg, ArgAction, Args, Command};
use std::ffi::OsString;
use std::path::Path;

/// Where a key sits in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    /// The top level: the settings every command shares.
    Top,
    /// `[serve]`.
    Serve,
    /// `[identity]`.
    Identity,
}

impl Table {
    /// As an error names it.
    fn place(self) -> &'static str {
        match self {
            Table::Top => "at the top level",
            Table::Serve => "under [serve]",
            Table::Identity => "under [identity]",
        }
    }
}

/// Reads the file at `path` and makes its values `command`'s defaults.
pub fn apply(command: Command, path: &Path) -> Result<Command, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |message: String| ConfigError::Parse {
        path: path.to_owned(),
        message,
    };
    let mut top: toml::Table = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let mut table = |name: &str| match top.remove(name) {
        None => Ok(toml::Table::new()),
        Some(toml::Value::Table(table)) => Ok(table),
        Some(_) => Err(invalid(format!("`{name}` must be a table: [{name}]"))),
    };
    let serve = table("serve")?;
    let identity = table("identity")?;
    let identity_ids: Vec<String> = IdentityArgs::augment_args(Command::new("identity"))
        .get_arguments()
        .map(|arg| arg.get_id().to_string())
        .collect();
    let mut command = command;
    for (table, keys) in [
        (Table::Top, top),
        (Table::Serve, serve),
        (Table::Identity, identity),
    ] {
        let owner = match table {
            Table::Top => command.clone(),
            Table::Serve | Table::Identity => command
                .find_subcommand("serve")
                .expect("serve is a command")
                .clone(),
        };
        let takes = |arg: &&Arg| {
            let id = arg.get_id().as_str();
            arg.get_long().is_some()
                && id != "config"
                && match table {
                    Table::Top => arg.is_global_set(),
                    Table::Serve => !identity_ids.iter().any(|i| i == id),
                    Table::Identity => identity_ids.iter().any(|i| i == id),
                }
        };
        for (key, value) in keys {
            let Some(arg) = owner
                .get_arguments()
                .filter(takes)
                .find(|arg| arg.get_id() == key.as_str())
            else {
                let known: Vec<&str> = owner
                    .get_arguments()
                    .filter(takes)
                    .map(|arg| arg.get_id().as_str())
                    .collect();
                return Err(invalid(format!(
                    "unknown setting `{key}` {} (it takes: {})",
                    table.place(),
                    known.join(", ")
                )));
            };
            let values = values(arg, &value)
                .and_then(|values| check(arg, &values).map(|()| values))
                .map_err(|why| invalid(format!("`{key}` {}: {why}", table.place())))?;
            let default = |arg: Arg| {
                let hide = arg.is_hide_env_values_set();
                arg.default_values(values.clone()).hide_default_value(hide)
            };
            command = match table {
                Table::Top => command.mut_arg(&key, default),
                Table::Serve | Table::Identity => {
                    command.mut_subcommand("serve", |serve| serve.mut_arg(&key, default))
                }
            };
        }
    }
    Ok(command)
}

/// The value as the command line would give it: one string, or one per item of a list.
fn values(arg: &Arg, value: &toml::Value) -> Result<Vec<String>, String> {
    let scalar = |value: &toml::Value| match value {
        toml::Value::String(text) => Ok(text.clone()),
        toml::Value::Integer(n) => Ok(n.to_string()),
        toml::Value::Float(x) => Ok(x.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Datetime(at) => Ok(at.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => {
            Err("expected a value, found a list or a table".to_owned())
        }
    };
    match (arg.get_action(), value) {
        (ArgAction::SetTrue, toml::Value::Boolean(b)) => Ok(vec![b.to_string()]),
        (ArgAction::SetTrue, _) => Err("true or false".to_owned()),
        (ArgAction::Append, toml::Value::Array(items)) => items.iter().map(scalar).collect(),
        (_, value) => scalar(value).map(|text| vec![text]),
    }
}

/// Whether the setting takes these values: its flag is parsed with them, alone, as the command
/// line would give it.
fn check(arg: &Arg, values: &[String]) -> Result<(), String> {
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return Ok(());
    }
    let long = format!("--{}", arg.get_long().expect("settings have a long flag"));
    let args = values
        .iter()
        .flat_map(|value| [OsString::from(&long), OsString::from(value)]);
    let probe = arg
        .clone()
        .env(None)
        .global(false)
        .required(false)
        .value_delimiter(None);
    Command::new("clerk.toml")
        .no_binary_name(true)
        .arg(probe)
        .try_get_matches_from(args)
        .map(|_| ())
        .map_err(|error| {
            let text = error.to_string();
            let first = text.lines().next().unwrap_or_default();
            first.trim_start_matches("error: ").to_owned()
        })
}
