//! How the CLI writes results and errors: data on stdout, everything else on stderr, errors
//! with their cause chain, and a broken pipe treated as success.

use std::fmt::Display;
use std::io::{self, Write};
use std::process::ExitCode;

/// How `upkeep` exits: the one list of its exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Exit {
    /// 0: done.
    Success = 0,
    /// 1: the answer is "no", a change failed before it touched anything, or the Docker
    /// Engine or a registry failed.
    Failure = 1,
    /// 2: invalid arguments, configuration or input; the message says how to fix it.
    Invalid = 2,
    /// 3: an update failed its health checks and was rolled back: the previous version runs.
    RolledBack = 3,
    /// 4: a change failed and the service could not be restored, or was cut short: it needs
    /// a recovery (by a person, or once the Docker Engine is back).
    Stranded = 4,
    /// 10: `upkeep check` found updates.
    UpdatesFound = 10,
}

impl Exit {
    /// How bad it is, to report the worst of several outcomes.
    fn severity(self) -> u8 {
        match self {
            Self::Success | Self::UpdatesFound => 0,
            Self::Failure => 1,
            Self::RolledBack => 2,
            Self::Invalid => 3,
            Self::Stranded => 4,
        }
    }

    /// The worst of `exits`; success when there are none.
    pub(crate) fn worst(exits: impl IntoIterator<Item = Self>) -> Self {
        exits
            .into_iter()
            .max_by_key(|exit| exit.severity())
            .unwrap_or(Self::Success)
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit as u8)
    }
}

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

/// Prints an error with its cause chain; exits 2 when the input is at fault, else 1.
pub(crate) fn report(error: &anyhow::Error, invalid_input: bool) -> ExitCode {
    match crate::hints::advice(error) {
        Some(advice) => warn(format_args!("error: {error:#}; {advice}")),
        None => warn(format_args!("error: {error:#}")),
    }
    ExitCode::from(if invalid_input {
        Exit::Invalid
    } else {
        Exit::Failure
    })
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
                ExitCode::from(Exit::Invalid)
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
            ExitCode::from(Exit::Invalid)
        }
    }
}

/// Colours for one stream: on only when it is a terminal and `NO_COLOR` is unset or empty.
pub(crate) struct Paint {
    enabled: bool,
}

impl Paint {
    /// Colours for stdout.
    pub(crate) fn stdout() -> Self {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Self {
            enabled: !no_color && io::stdout().is_terminal(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub(crate) fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }

    pub(crate) fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }

    pub(crate) fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }
}

/// The visible width of a cell: escape sequences take no room.
fn width(cell: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in cell.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

/// Lines of a table whose columns are padded to their widest cell; no header line when
/// `headers` is empty. The last column is not padded.
pub(crate) fn table(headers: &[&str], rows: Vec<Vec<String>>) -> Vec<String> {
    let mut all: Vec<Vec<String>> = Vec::with_capacity(rows.len() + 1);
    if !headers.is_empty() {
        all.push(headers.iter().map(|h| (*h).to_owned()).collect());
    }
    all.extend(rows);
    let columns = all.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            all.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| width(cell))
                .max()
                .unwrap_or(0)
        })
        .collect();
    all.into_iter()
        .map(|row| {
            let last = row.len().saturating_sub(1);
            let mut line = String::new();
            for (column, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if column < last {
                    let pad = widths[column].saturating_sub(width(cell)) + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line.trim_end().to_owned()
        })
        .collect()
}
