//! The command line as the user typed it, parsed by clap into checked values.

use clap::{Args, Parser, Subcommand};
use regex::Regex;
use upkeep_versioning_core::Scheme;
use upkeep_versioning_core::range::Range;
use upkeep_versioning_core::reference::ImageRef;
use upkeep_versioning_core::select::{Constraints, Within};

/// Keep container deployments on the right image versions.
#[derive(Debug, Parser)]
#[command(name = "upkeep", version, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Read, compare, classify, sort and choose tags as versions (for scripts)
    #[command(subcommand)]
    Version(VersionCommand),
    /// List an image's tags, newest first, as versions with their family
    Tags(TagsArgs),
    /// Check an image for a newer tag: current and newest eligible tag, digests, update kind
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub(crate) struct TagsArgs {
    /// The image, such as `nginx`, `ghcr.io/owner/app` or `127.0.0.1:5000/test/app`
    #[arg(value_name = "IMAGE", value_parser = parse_image)]
    pub(crate) image: ImageRef,
    #[command(flatten)]
    pub(crate) scheme: SchemeArg,
    /// Print JSON
    #[arg(long)]
    pub(crate) json: bool,
    /// Include tags that are not versions (`latest`, commit hashes)
    #[arg(long)]
    pub(crate) all: bool,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The image and its current tag, such as `nginx:1.25.3-alpine`
    #[arg(value_name = "IMAGE:TAG", value_parser = parse_image)]
    pub(crate) image: ImageRef,
    #[command(flatten)]
    pub(crate) scheme: SchemeArg,
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    /// Print JSON
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RegistryArgs {
    /// A registry host (`host` or `host:port`) that may be reached over plain HTTP, like
    /// Docker's insecure-registries; loopback hosts need no flag. May be repeated
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub(crate) insecure: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum VersionCommand {
    /// Read each TAG as a version; exit 1 when one is not a version
    Parse {
        #[command(flatten)]
        scheme: SchemeArg,
        /// Print one JSON array describing every TAG
        #[arg(long)]
        json: bool,
        /// Tags to read
        #[arg(required = true, value_name = "TAG")]
        tags: Vec<String>,
    },
    /// Print `lt`, `eq` or `gt`: how version A compares with version B
    Compare {
        #[command(flatten)]
        scheme: SchemeArg,
        /// The first version
        #[arg(value_name = "A", allow_hyphen_values = true)]
        a: String,
        /// The second version
        #[arg(value_name = "B", allow_hyphen_values = true)]
        b: String,
    },
    /// Print the kind of move FROM -> TO: major, minor, patch, build, prerelease, none,
    /// downgrade or unknown
    Classify {
        #[command(flatten)]
        scheme: SchemeArg,
        /// The current tag
        #[arg(value_name = "FROM", allow_hyphen_values = true)]
        from: String,
        /// The candidate tag
        #[arg(value_name = "TO", allow_hyphen_values = true)]
        to: String,
    },
    /// Read candidate tags from stdin, one per line, and print the newest eligible one (or
    /// nothing when no tag is newer)
    Latest(LatestArgs),
    /// Read lines from stdin and print the versions among them in ascending order
    Sort {
        #[command(flatten)]
        scheme: SchemeArg,
    },
}

#[derive(Debug, Args)]
pub(crate) struct SchemeArg {
    /// How tags are read: docker, semver, loose or regex:PATTERN
    #[arg(long, default_value = "docker", value_parser = parse_scheme)]
    pub(crate) scheme: Scheme,
}

#[derive(Debug, Args)]
pub(crate) struct LatestArgs {
    #[command(flatten)]
    pub(crate) scheme: SchemeArg,
    /// The tag running now; a name such as `latest` resolves to the newest plain release
    #[arg(long, value_name = "TAG", allow_hyphen_values = true)]
    pub(crate) current: String,
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    /// Only versions in this range, such as `^1.2`, `~1.2.3`, `>=1.2 <2` or `1.x`
    #[arg(long, value_name = "RANGE", value_parser = parse_range)]
    pub(crate) range: Option<Range>,
    /// Never choose this tag (or a version equal to it); may be repeated
    #[arg(long, value_name = "TAG")]
    pub(crate) skip: Vec<String>,
}

/// The selection rules `latest` and `check` share.
#[derive(Debug, Args)]
pub(crate) struct SelectionArgs {
    /// Which line to stay in: patch (same x.y.z), minor (same x.y), major (same x) or any
    #[arg(long, default_value = "major", value_name = "LINE")]
    pub(crate) within: Within,
    /// Only tags matching this regular expression
    #[arg(long, value_name = "RE", value_parser = parse_regex)]
    pub(crate) include: Option<Regex>,
    /// No tag matching this regular expression
    #[arg(long, value_name = "RE", value_parser = parse_regex)]
    pub(crate) exclude: Option<Regex>,
    /// Allow pre-releases beyond the current release
    #[arg(long)]
    pub(crate) allow_prerelease: bool,
}

impl SelectionArgs {
    /// The core's constraints for these flags.
    pub(crate) fn constraints(self) -> Constraints {
        Constraints {
            within: self.within,
            allow_prerelease: self.allow_prerelease,
            include: self.include,
            exclude: self.exclude,
            ..Constraints::default()
        }
    }
}

fn parse_scheme(text: &str) -> Result<Scheme, String> {
    text.parse().map_err(|error| format!("{error}"))
}

fn parse_range(text: &str) -> Result<Range, String> {
    Range::parse(text).map_err(|error| format!("{error}"))
}

fn parse_regex(text: &str) -> Result<Regex, String> {
    Regex::new(text).map_err(|error| {
        format!(
            "invalid regular expression '{text}': {}",
            upkeep_versioning_core::regex_problem(&error)
        )
    })
}

fn parse_image(text: &str) -> Result<ImageRef, String> {
    text.parse().map_err(|error| format!("{error}"))
}
