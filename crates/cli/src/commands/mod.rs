//! The subcommands: each turns checked arguments into a call to the library and renders the
//! answer.

mod registry;
mod version;

use std::process::ExitCode;

use crate::args::{Cli, Command};

pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Version(command) => version::run(command),
        Command::Tags(args) => registry::tags(args),
        Command::Check(args) => registry::check(args),
    }
}
