//! The command line as the user typed it, parsed by clap into checked values.

use std::path::PathBuf;

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
    /// Create the manifest and upkeep.yaml from a compose file or the running containers
    Init(InitArgs),
    /// Services, current tag and digest, newest eligible version, update kind and policy
    Status(StatusArgs),
    /// Without a subcommand, the same as `status`; with one, read, compare, classify, sort
    /// and choose tags as versions (for scripts)
    Version(VersionArgs),
    /// Check every service for a newer version (exit 10 when there is one), or one IMAGE:TAG
    Check(CheckArgs),
    /// What `update` would do for each service, and why
    Plan(PlanArgs),
    /// Pull the versions the manifest names
    Pull(ServicesArgs),
    /// Update services: pull, keep the running version, recreate, check health, and roll
    /// back by itself when the new version is sick
    #[command(visible_alias = "upgrade")]
    Update(UpdateArgs),
    /// Go back to the previous version, or to a named one
    #[command(visible_alias = "downgrade")]
    Rollback(RollbackArgs),
    /// The recorded deployments of each service, newest first
    History(ServicesArgs),
    /// Set a service to a tag by hand; --custom marks a hotfix tag that updates leave alone
    Pin(PinArgs),
    /// Regenerate versions.env from the manifest
    Env(StateArgs),
    /// Replace a floating tag (`latest`) in the manifest by the version tag with its digest
    Resolve(ResolveArgs),
    /// Finish or undo an update that was interrupted
    Recover(StateArgs),
    /// List an image's tags, newest first, as versions with their family
    Tags(TagsArgs),
}

/// Where the state files are, how to print, and how to reach registries.
#[derive(Debug, Args)]
pub(crate) struct StateArgs {
    /// The directory of version-manifest.yaml, versions.env and upkeep.yaml
    #[arg(
        long = "dir",
        short = 'C',
        env = "UPKEEP_DIR",
        default_value = ".",
        value_name = "DIR"
    )]
    pub(crate) dir: PathBuf,
    /// Print JSON
    #[arg(long)]
    pub(crate) json: bool,
    /// When another upkeep is changing this directory, exit 1 naming it instead of waiting
    #[arg(long)]
    pub(crate) no_wait: bool,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ServicesArgs {
    /// The services; all when none is given
    #[arg(value_name = "SERVICE")]
    pub(crate) services: Vec<String>,
    #[command(flatten)]
    pub(crate) state: StateArgs,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Read the services of this compose file
    #[arg(long, value_name = "FILE", conflicts_with = "from_running")]
    pub(crate) compose: Option<PathBuf>,
    /// Read the running containers (all of them, or those named)
    #[arg(long, conflicts_with = "from_swarm")]
    pub(crate) from_running: bool,
    /// Read the Docker Swarm services (all of them, or those named); Swarm rolls their
    /// updates out. Run it on a manager node
    #[arg(long, conflicts_with = "compose")]
    pub(crate) from_swarm: bool,
    /// With --from-running or --from-swarm: only these containers or services
    #[arg(value_name = "NAME")]
    pub(crate) names: Vec<String>,
    /// Replace an existing manifest and upkeep.yaml (backed up first)
    #[arg(long)]
    pub(crate) force: bool,
    /// With --compose: point each service's `image:` at upkeep's variable in the compose
    /// file itself (a backup is kept; the change is printed as a diff)
    #[arg(long, requires = "compose")]
    pub(crate) rewrite: bool,
    #[command(flatten)]
    pub(crate) state: StateArgs,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The services; all when none is given
    #[arg(value_name = "SERVICE")]
    pub(crate) services: Vec<String>,
    /// Do not ask the registries: show only what the manifest records
    #[arg(long)]
    pub(crate) offline: bool,
    #[command(flatten)]
    pub(crate) state: StateArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct VersionArgs {
    #[command(subcommand)]
    pub(crate) command: Option<VersionCommand>,
    #[command(flatten)]
    pub(crate) status: StatusArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// The services; all when none is given
    #[arg(value_name = "SERVICE")]
    pub(crate) services: Vec<String>,
    /// Move to this tag, whatever the policy says
    #[arg(long, value_name = "TAG", conflicts_with = "latest")]
    pub(crate) to: Option<String>,
    /// Move to the newest eligible version in any line, whatever the policy says
    #[arg(long)]
    pub(crate) latest: bool,
    #[command(flatten)]
    pub(crate) state: StateArgs,
}

#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    #[command(flatten)]
    pub(crate) plan: PlanArgs,
    /// Show what would happen; change nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Do not ask for confirmation (needed when stdin is not a terminal)
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    /// The services; all when none is given
    #[arg(value_name = "SERVICE")]
    pub(crate) services: Vec<String>,
    /// Go back to this tag instead of the previous version
    #[arg(long, value_name = "TAG")]
    pub(crate) to: Option<String>,
    /// Show what would happen; change nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Do not ask for confirmation (needed when stdin is not a terminal)
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    #[command(flatten)]
    pub(crate) state: StateArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PinArgs {
    /// The service
    #[arg(value_name = "SERVICE")]
    pub(crate) service: String,
    /// The tag to run
    #[arg(value_name = "TAG")]
    pub(crate) tag: String,
    /// Mark it as a custom tag (a hotfix): `status` marks it custom, updates leave it alone
    #[arg(long)]
    pub(crate) custom: bool,
    /// Show what would happen; change nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Do not ask for confirmation (needed when stdin is not a terminal)
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    #[command(flatten)]
    pub(crate) state: StateArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ResolveArgs {
    /// The services; all when none is given
    #[arg(value_name = "SERVICE")]
    pub(crate) services: Vec<String>,
    /// Show the versions found; record nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) state: StateArgs,
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
    /// One image and its current tag, such as `nginx:1.25.3-alpine`, instead of the
    /// manifest's services
    #[arg(value_name = "IMAGE:TAG", value_parser = parse_image)]
    pub(crate) image: Option<ImageRef>,
    #[command(flatten)]
    pub(crate) scheme: SchemeArg,
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    #[command(flatten)]
    pub(crate) state: StateArgs,
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
