//! How the CLI writes results and errors: data on stdout, everything else on stderr, errors
//! with their cause chain, and a broken pipe treated as success.

use std::fmt::Display;
use std::io::{self, Write};
use std::process::ExitCode;

/// Exit code for invalid arguments or input.
pub(crate) const EXIT_INVALID: u8 = 2;

/// Writes `lines` to stdout. A closed pipe (`upkeep ... | head -1`) is not an error.
pub(crate) fn print_lines<I, T>(lines: I) -> io::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Display,
{
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let written = lines
        .into_iter()
        .try_for_each(|line| writeln!(out, "{line}"))
        .and_then(|()| out.flush());
    match written {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes one line to stderr; there is nowhere else to report a failure to do so.
pub(crate) fn warn(line: impl Display) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// Prints an error with its cause chain and exits 2.
pub(crate) fn report(error: &anyhow::Error) -> ExitCode {
    warn(format_args!("error: {error:#}"));
    ExitCode::from(EXIT_INVALID)
}

/// Prints clap's verdict. Help and version go to stdout with exit 0; a usage error becomes
/// one line on stderr with exit 2, so scripts can log it as is.
pub(crate) fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let rendered = error.render().to_string();
            if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                // Asked for nothing: the help is the error, so it goes to stderr.
                warn(rendered.trim_end());
                ExitCode::from(EXIT_INVALID)
            } else {
                let _ = print_lines([rendered.trim_end()]);
                ExitCode::SUCCESS
            }
        }
        _ => {
            // clap's first paragraph names the problem (for a missing argument, on the
            // lines after the first); the usage and tips after it are left out.
            let rendered = error.render().to_string();
            let paragraph: Vec<&str> = rendered
                .lines()
                .take_while(|line| !line.trim().is_empty())
                .map(str::trim)
                .collect();
            warn(paragraph.join(" "));
            ExitCode::from(EXIT_INVALID)
        }
    }
}
