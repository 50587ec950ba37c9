//! The subcommands: each turns checked arguments into a call to the library and renders the
//! answer.

mod deploy;
mod registry;
mod version;

use std::process::ExitCode;

use crate::args::{Cli, Command};

pub(crate) use deploy::is_failure;

pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Init(args) => deploy::init(args),
        Command::Status(args) => deploy::status(args),
        Command::Version(args) => match args.command {
            Some(command) => version::run(command),
            None => deploy::status(args.status),
        },
        Command::Check(args) => match args.image {
            Some(_) => registry::check(args),
            None => deploy::check_all(&args.state),
        },
        Command::Plan(args) => deploy::plan(args),
        Command::Pull(args) => deploy::pull(args),
        Command::Update(args) => deploy::update(args),
        Command::Rollback(args) => deploy::rollback(args),
        Command::History(args) => deploy::history(args),
        Command::Pin(args) => deploy::pin(args),
        Command::Env(args) => deploy::env(args),
        Command::Resolve(args) => deploy::resolve(args),
        Command::Recover(args) => deploy::recover(args),
        Command::Tags(args) => registry::tags(args),
    }
}
