//! The `kiln` command: `kiln train` trains a model preset on a data set, with progress on the
//! terminal and checkpoints in an output folder; `kiln eval` evaluates a checkpoint.

mod config;
mod data;
mod eval;
mod metrics;
mod models;
mod optim;
mod progress;
mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kiln",
    version,
    about = "Kiln: train and evaluate models from the command line."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model preset (default: an MLP on the bundled digits data set)
    Train(train::TrainArgs),
    /// Evaluate a checkpoint on the validation split of its data set
    Eval(eval::EvalArgs),
}

/// A user-facing error: printed as `error: ...`, exit status 1, no backtrace.
#[derive(Debug)]
pub struct CliError(pub String);

impl CliError {
    pub fn msg(s: impl Into<String>) -> CliError {
        CliError(s.into())
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<kiln::Error> for CliError {
    fn from(e: kiln::Error) -> CliError {
        CliError(e.to_string())
    }
}

impl From<&str> for CliError {
    fn from(s: &str) -> CliError {
        CliError(s.to_string())
    }
}

impl From<String> for CliError {
    fn from(s: String) -> CliError {
        CliError(s)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
