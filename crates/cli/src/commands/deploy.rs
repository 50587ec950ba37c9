//! The commands that work on the manifest's services: init, status, check, plan, pull,
//! update, rollback, history, pin, env, resolve and recover. Each opens the engine on the
//! state directory, calls it, and renders what it returns as a table or JSON.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use upkeep_update_engine::engine::{
    Engine, LockWait, Outcome, OutcomeKind, PlanAction, PlanEntry, PlanRequest, Recovered, Report,
    Reporter, UpdateRequest,
};
use upkeep_update_engine::lock::Holder;
use upkeep_update_engine::runtime::{
    ComposeRuntime, DockerRuntime, PullProgress, SwarmRollout, SwarmRuntime,
};
use upkeep_update_engine::setup;
use upkeep_versioning_core::{Timestamp, UpdateKind};

use crate::args::{
    InitArgs, PinArgs, PlanArgs, ResolveArgs, RollbackArgs, ServicesArgs, StateArgs, StatusArgs,
    UpdateArgs,
};
use crate::commands::registry::{router, runtime};
use crate::hints::CommandLine;
use crate::output::{Exit, Paint, print_lines, table, warn};

fn open(state: &StateArgs, progress: bool) -> anyhow::Result<Engine> {
    let router = router(&state.registry)?;
    let reporter: Arc<dyn Reporter> = if progress && !state.json {
        Arc::new(Progress::new())
    } else {
        Arc::new(WaitNotice)
    };
    let engine = Engine::builder(&state.dir, Arc::new(router))
        .hint_words(Arc::new(CommandLine))
        .lock_wait(if state.no_wait {
            LockWait::No
        } else {
            LockWait::Forever
        })
        .reporter(reporter)
        .build()?;
    // Unknown keys in the manifest are kept out, not fatal; the user should hear of them.
    if let Ok(Some((_, warnings))) = engine.state().load() {
        for warning in warnings {
            warn(format_args!("warning: {warning}"));
        }
    }
    // A deployment configured for a service the manifest lacks would be silently ignored.
    if let Ok(manifest) = engine.manifest() {
        for service in engine.config().deployments.keys() {
            if manifest.service(service.as_str()).is_none() {
                warn(format_args!(
                    "warning: upkeep.yaml configures `{service}`, which the manifest does not track; add it with `upkeep init --from-running CONTAINER` (or `--compose FILE`), or remove it from upkeep.yaml"
                ));
            }
        }
    }
    Ok(engine)
}

/// Says when a change waits for another upkeep process, and nothing else.
struct WaitNotice;

impl Reporter for WaitNotice {
    fn report(&self, report: &Report<'_>) {
        match report {
            Report::Waiting { holder } => say_waiting(holder),
            Report::Recovered(recovered) => say_recovered(recovered),
            _ => {}
        }
    }
}

fn say_waiting(holder: &Holder) {
    warn(format_args!(
        "waiting for {holder} (`--no-wait` exits instead)"
    ));
}

fn now() -> Timestamp {
    use upkeep_versioning_core::Clock as _;
    upkeep_versioning_core::SystemClock.now()
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    print_lines([serde_json::to_string_pretty(value)?])?;
    Ok(())
}

/// Says so when an update was interrupted, for commands that only read.
fn warn_interrupted(engine: &Engine) {
    if let Ok(Some(entry)) = engine.state().read_journal() {
        warn(format_args!(
            "warning: an update of {} ({} -> {}) was interrupted; `upkeep recover` finishes or undoes it (update, rollback and pin do so first by themselves)",
            entry.service, entry.from.tag, entry.to.tag
        ));
    }
}

/// Finishes or undoes an interrupted update before a command that changes things.
async fn recover_first(engine: &Engine) -> anyhow::Result<()> {
    if let Some(recovered) = engine.recover().await? {
        say_recovered(&recovered);
    }
    Ok(())
}

fn say_recovered(recovered: &Recovered) {
    warn(format_args!(
        "recovered an interrupted update of {} (it had reached {}): {}",
        recovered.service, recovered.step, recovered.message
    ));
}

pub(crate) fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    if !(args.names.is_empty() || args.from_running || args.from_swarm) {
        anyhow::bail!(
            "names ({}) are only read with --from-running (containers) or --from-swarm (services); add one of them",
            args.names.join(", ")
        );
    }
    let state = upkeep_update_engine::store::StateDir::new(&args.state.dir);
    let initial = if let Some(compose) = &args.compose {
        let mut initial = setup::from_compose(compose, &args.state.dir, now())?;
        // The services may run already: record the digests their containers run.
        runtime()?.block_on(async {
            match DockerRuntime::connect().await {
                Ok(docker) => {
                    let compose =
                        ComposeRuntime::new(compose.clone(), state.env_path(), None, docker);
                    setup::record_running_digests(&mut initial, &compose).await;
                }
                Err(error) => initial.notes.push(format!(
                    "the running digests are not recorded ({}); `upkeep pull` records them",
                    upkeep_update_engine::error_chain(&error)
                )),
            }
        });
        initial
    } else if args.from_running {
        runtime()?.block_on(async {
            let docker = DockerRuntime::connect().await?;
            let containers = if args.names.is_empty() {
                docker.running_containers().await?
            } else {
                args.names.clone()
            };
            anyhow::Ok(setup::from_running(&docker, &containers, now()).await?)
        })?
    } else if args.from_swarm {
        runtime()?.block_on(async {
            let docker = DockerRuntime::connect().await?;
            let swarm = SwarmRuntime::new(docker, SwarmRollout::default());
            let services = if args.names.is_empty() {
                swarm.services().await?
            } else {
                args.names.clone()
            };
            anyhow::Ok(setup::from_swarm(&swarm, &services, now()).await?)
        })?
    } else {
        anyhow::bail!(
            "say where the services come from: `upkeep init --compose docker-compose.yml`, `upkeep init --from-running` or `upkeep init --from-swarm`"
        );
    };
    let added = setup::write(&state, &initial, args.force, now())?;
    // After `versions.env` is written, so that the variables have their values.
    let mut initial = initial;
    let rewritten = match (&args.compose, args.rewrite) {
        (Some(compose), true) => setup::rewrite_compose_images(compose, &mut initial, now())?,
        _ => None,
    };
    let kept: Vec<&str> = initial
        .manifest
        .services()
        .keys()
        .filter(|name| !added.contains(name))
        .map(|name| name.as_str())
        .collect();
    if args.state.json {
        #[derive(Serialize)]
        struct Report<'a> {
            added: Vec<&'a str>,
            already_tracked: &'a [&'a str],
            notes: &'a [String],
            #[serde(skip_serializing_if = "Option::is_none")]
            rewritten: Option<RewriteReport<'a>>,
        }
        #[derive(Serialize)]
        struct RewriteReport<'a> {
            backup: String,
            diff: &'a [String],
        }
        print_json(&Report {
            added: added.iter().map(|name| name.as_str()).collect(),
            already_tracked: &kept,
            notes: &initial.notes,
            rewritten: rewritten.as_ref().map(|rewritten| RewriteReport {
                backup: rewritten.backup.display().to_string(),
                diff: &rewritten.diff,
            }),
        })?;
    } else {
        let mut lines = vec![format!(
            "{} and upkeep.yaml: added {} service(s)",
            state.manifest_path().display(),
            added.len()
        )];
        for name in &added {
            if let Some(version) = initial.manifest.service(name.as_str()) {
                lines.push(format!("  {name}  {}", version.image_reference()));
            }
        }
        if !kept.is_empty() {
            lines.push(format!(
                "already tracked, left as they are: {} (`--force` starts over)",
                kept.join(", ")
            ));
        }
        if let (Some(rewritten), Some(compose)) = (&rewritten, &args.compose) {
            lines.push(format!(
                "rewrote {} (the original is {}):",
                compose.display(),
                rewritten.backup.display()
            ));
            lines.extend(rewritten.diff.iter().cloned());
        }
        lines.extend(initial.notes.iter().map(|note| format!("note: {note}")));
        print_lines(lines)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let engine = open(&args.state, false)?;
    warn_interrupted(&engine);
    let entries = if args.offline {
        engine.plan_offline(&args.services)?
    } else {
        runtime()?.block_on(engine.plan(&PlanRequest {
            services: args.services.clone(),
            ..PlanRequest::default()
        }))?
    };
    if args.state.json {
        print_json(&entries)?;
        return Ok(ExitCode::SUCCESS);
    }
    let paint = Paint::stdout();
    let rows = entries
        .iter()
        .map(|entry| {
            let tag = if entry.custom {
                format!("{} {}", entry.current, paint.yellow("[custom]"))
            } else {
                entry.current.clone()
            };
            let newest = match entry.action {
                PlanAction::Unknown => paint.red("?"),
                _ => entry.newest.clone().unwrap_or_else(|| "-".to_owned()),
            };
            vec![
                entry.service.clone(),
                tag,
                short(entry.current_digest.as_deref()),
                newest,
                kind_cell(&paint, entry.action, entry.newest_kind),
                entry.policy.to_string(),
            ]
        })
        .collect();
    print_lines(table(
        &["SERVICE", "TAG", "DIGEST", "NEWEST", "UPDATE", "POLICY"],
        rows,
    ))?;
    for entry in entries.iter().filter(|e| e.action == PlanAction::Unknown) {
        warn(format_args!("{}: {}", entry.service, entry.why));
    }
    Ok(ExitCode::SUCCESS)
}

fn kind_cell(paint: &Paint, action: PlanAction, kind: UpdateKind) -> String {
    match (action, kind) {
        (PlanAction::Unknown, _) => paint.red("error"),
        (PlanAction::NotChecked, _) => "-".to_owned(),
        (_, UpdateKind::None) => kind.to_string(),
        (PlanAction::Update, kind) => paint.green(kind.as_str()),
        (_, kind) => paint.yellow(kind.as_str()),
    }
}

fn short(digest: Option<&str>) -> String {
    match digest {
        Some(digest) => {
            let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
            hex.get(..12).unwrap_or(hex).to_owned()
        }
        None => "-".to_owned(),
    }
}

pub(crate) fn check_all(state: &StateArgs) -> anyhow::Result<ExitCode> {
    let engine = open(state, false)?;
    warn_interrupted(&engine);
    let spinner = Spinner::start(state.json, "checking registries");
    let entries = runtime()?.block_on(engine.plan(&PlanRequest::default()));
    drop(spinner);
    let entries = entries?;
    let newer: Vec<&PlanEntry> = entries
        .iter()
        .filter(|entry| entry.newest.is_some())
        .collect();
    if state.json {
        print_json(&entries)?;
    } else {
        let paint = Paint::stdout();
        let mut lines: Vec<String> = newer
            .iter()
            .map(|entry| {
                let mut line = format!(
                    "{}: {} -> {} ({})",
                    entry.service,
                    entry.current,
                    entry.newest.as_deref().unwrap_or("-"),
                    kind_cell(&paint, entry.action, entry.newest_kind)
                );
                match (&entry.action, &entry.target) {
                    (PlanAction::Update, Some(target)) if entry.newest.as_ref() != Some(target) => {
                        line.push_str(&format!("; `upkeep update` applies {target}"));
                    }
                    (PlanAction::Update, _) => line.push_str("; `upkeep update` applies it"),
                    _ => line.push_str("; held by policy"),
                }
                line
            })
            .collect();
        if lines.is_empty() {
            lines.push("all services are up to date".to_owned());
        }
        print_lines(lines)?;
        for entry in entries.iter().filter(|e| e.action == PlanAction::Unknown) {
            warn(format_args!("{}: {}", entry.service, entry.why));
        }
    }
    Ok(if !newer.is_empty() {
        ExitCode::from(Exit::UpdatesFound)
    } else if entries.iter().any(|e| e.action == PlanAction::Unknown) {
        ExitCode::from(Exit::Failure)
    } else {
        ExitCode::SUCCESS
    })
}

fn plan_request(args: &PlanArgs) -> PlanRequest {
    PlanRequest {
        services: args.services.clone(),
        to: args.to.clone(),
        latest: args.latest,
    }
}

fn render_plan(entries: &[PlanEntry]) -> Vec<String> {
    let paint = Paint::stdout();
    let rows = entries
        .iter()
        .map(|entry| {
            let action = match entry.action {
                PlanAction::Update => paint.green("update"),
                PlanAction::Hold => paint.yellow("hold"),
                PlanAction::UpToDate => "up to date".to_owned(),
                PlanAction::Unknown => paint.red("error"),
                PlanAction::NotChecked => "not checked".to_owned(),
            };
            vec![
                entry.service.clone(),
                entry.current.clone(),
                entry.target.clone().unwrap_or_else(|| "-".to_owned()),
                action,
                entry.why.clone(),
            ]
        })
        .collect();
    table(&["SERVICE", "CURRENT", "TARGET", "ACTION", "WHY"], rows)
}

pub(crate) fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let engine = open(&args.state, false)?;
    warn_interrupted(&engine);
    let entries = runtime()?.block_on(engine.plan(&plan_request(&args)))?;
    if args.state.json {
        print_json(&entries)?;
    } else {
        print_lines(render_plan(&entries))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn update(args: UpdateArgs) -> anyhow::Result<ExitCode> {
    let state = &args.plan.state;
    let engine = open(state, true)?;
    let runtime = runtime()?;
    // Asked between the plan and the change; a refusal to ask (no terminal) is the error.
    let refused = Mutex::new(None);
    let approve = |entries: &[PlanEntry]| {
        let updates = entries
            .iter()
            .filter(|entry| entry.action == PlanAction::Update)
            .count();
        match confirm_change(
            &format!("update {updates} service(s)"),
            args.yes,
            render_plan(entries),
        ) {
            Ok(approved) => approved,
            Err(error) => {
                if let Ok(mut refused) = refused.lock() {
                    *refused = Some(error);
                }
                false
            }
        }
    };
    let report = runtime.block_on(
        engine.update(
            &UpdateRequest::new(plan_request(&args.plan))
                .dry_run(args.dry_run)
                .approve(&approve),
        ),
    )?;
    if let Some(error) = refused.into_inner().ok().flatten() {
        return Err(error);
    }
    if !report.approved {
        warn("nothing changed");
        return Ok(ExitCode::SUCCESS);
    }
    let (entries, outcomes) = (report.plan, report.outcomes);
    if !state.json {
        for entry in entries.iter().filter(|e| e.action != PlanAction::Update) {
            warn(format_args!(
                "{}: {} ({})",
                entry.service,
                match entry.action {
                    PlanAction::UpToDate => "up to date",
                    PlanAction::Hold => "held",
                    _ => "not checked",
                },
                entry.why
            ));
        }
    }
    render_outcomes(state.json, &outcomes)
}

/// Asks before a change to running services (update, rollback, pin), showing `preview`
/// first: `--yes` skips the question, and without a terminal to ask on the change is refused
/// unless `--yes` is given.
fn confirm_change(what: &str, yes: bool, preview: Vec<String>) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "refusing to {what} without confirmation: stdin is not a terminal; add --yes (or --dry-run to see what would change)"
        );
    }
    print_lines(preview)?;
    confirm(&format!("{what}?"))
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    let mut stderr = std::io::stderr().lock();
    write!(stderr, "{question} [y/N] ")?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Prints outcomes and maps the worst one to the exit code.
fn render_outcomes(json: bool, outcomes: &[Outcome]) -> anyhow::Result<ExitCode> {
    if json {
        print_json(&outcomes)?;
    } else {
        let paint = Paint::stdout();
        let mut lines = Vec::new();
        for outcome in outcomes {
            let mark = match outcome.result {
                OutcomeKind::Changed => paint.green("ok"),
                OutcomeKind::Unchanged => "--".to_owned(),
                OutcomeKind::RolledBack => paint.yellow("rolled back"),
                OutcomeKind::Failed | OutcomeKind::Stranded => paint.red("failed"),
                OutcomeKind::Interrupted => paint.red("interrupted"),
            };
            lines.push(format!("{mark}  {}", outcome.message));
            for warning in &outcome.warnings {
                lines.push(format!("    warning: {warning}"));
            }
        }
        if lines.is_empty() {
            lines.push("nothing to do".to_owned());
        }
        print_lines(lines)?;
    }
    let worst = Exit::worst(outcomes.iter().map(|outcome| match outcome.result {
        // Both need a recovery: by a person, or once the Docker Engine is back.
        OutcomeKind::Stranded | OutcomeKind::Interrupted => Exit::Stranded,
        OutcomeKind::RolledBack => Exit::RolledBack,
        OutcomeKind::Failed => Exit::Failure,
        _ => Exit::Success,
    }));
    Ok(ExitCode::from(worst))
}

pub(crate) fn pull(args: ServicesArgs) -> anyhow::Result<ExitCode> {
    let engine = open(&args.state, true)?;
    let runtime = runtime()?;
    runtime.block_on(recover_first(&engine))?;
    let outcomes = runtime.block_on(engine.pull(&args.services))?;
    render_outcomes(args.state.json, &outcomes)
}

pub(crate) fn rollback(args: RollbackArgs) -> anyhow::Result<ExitCode> {
    let engine = open(&args.state, true)?;
    let runtime = runtime()?;
    if !args.dry_run {
        runtime.block_on(recover_first(&engine))?;
        let preview =
            runtime.block_on(engine.rollback(&args.services, args.to.as_deref(), true))?;
        let changes: Vec<String> = preview
            .iter()
            .filter(|outcome| outcome.from != outcome.to)
            .map(|outcome| format!("{}: {}", outcome.service, outcome.message))
            .collect();
        if !changes.is_empty()
            && !confirm_change(
                &format!("roll back {} service(s)", changes.len()),
                args.yes,
                changes,
            )?
        {
            warn("nothing changed");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let outcomes =
        runtime.block_on(engine.rollback(&args.services, args.to.as_deref(), args.dry_run))?;
    render_outcomes(args.state.json, &outcomes)
}

pub(crate) fn pin(args: PinArgs) -> anyhow::Result<ExitCode> {
    let engine = open(&args.state, true)?;
    let runtime = runtime()?;
    if !args.dry_run {
        runtime.block_on(recover_first(&engine))?;
        let preview = runtime.block_on(engine.pin(&args.service, &args.tag, args.custom, true))?;
        if preview.from != preview.to
            && !confirm_change(
                &format!("set {} to {}", args.service, args.tag),
                args.yes,
                vec![preview.message],
            )?
        {
            warn("nothing changed");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let outcome =
        runtime.block_on(engine.pin(&args.service, &args.tag, args.custom, args.dry_run))?;
    render_outcomes(args.state.json, &[outcome])
}

/// One line of `upkeep history --json`.
#[derive(Serialize)]
struct HistoryLine<'a> {
    service: &'a str,
    tag: &'a str,
    digest: Option<&'a str>,
    deployed_at: String,
    reason: &'a str,
    failed: Option<&'a str>,
    note: Option<&'a str>,
    current: bool,
    previous: bool,
}

pub(crate) fn history(args: ServicesArgs) -> anyhow::Result<ExitCode> {
    let engine = open(&args.state, false)?;
    warn_interrupted(&engine);
    let manifest = engine.manifest()?;
    for name in &args.services {
        if manifest.service(name).is_none() {
            anyhow::bail!("unknown service `{name}`; `upkeep status --offline` lists the services");
        }
    }
    let mut lines = Vec::new();
    for (name, version) in manifest.services() {
        if !args.services.is_empty() && !args.services.iter().any(|s| s == name.as_str()) {
            continue;
        }
        let previous = version.rollback_target().map(|entry| entry as *const _);
        for (index, entry) in version.history().iter().enumerate() {
            lines.push(HistoryLine {
                service: name.as_str(),
                tag: entry.tag(),
                digest: entry.digest(),
                deployed_at: entry.deployed_at().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                reason: entry.reason().as_str(),
                failed: entry.failed(),
                note: entry.note(),
                current: index == 0,
                previous: previous == Some(entry as *const _),
            });
        }
    }
    if args.state.json {
        print_json(&lines)?;
        return Ok(ExitCode::SUCCESS);
    }
    let paint = Paint::stdout();
    let mut out = Vec::new();
    let mut service = "";
    let mut rows = Vec::new();
    let flush = |service: &str, rows: &mut Vec<Vec<String>>, out: &mut Vec<String>| {
        if !rows.is_empty() {
            out.push(format!("{service}:"));
            out.extend(
                table(&[], std::mem::take(rows))
                    .into_iter()
                    .map(|line| format!("  {line}")),
            );
        }
    };
    for line in &lines {
        if line.service != service {
            flush(service, &mut rows, &mut out);
            service = line.service;
        }
        let mut marks = Vec::new();
        if line.current {
            marks.push(paint.green("[current]"));
        }
        if line.previous {
            marks.push("[previous]".to_owned());
        }
        if let Some(failed) = line.failed {
            marks.push(paint.red(&format!("[{failed} failed]")));
        }
        if let Some(note) = line.note {
            marks.push(note.to_owned());
        }
        rows.push(vec![
            line.tag.to_owned(),
            short(line.digest),
            line.deployed_at.clone(),
            line.reason.to_owned(),
            marks.join(" "),
        ]);
    }
    flush(service, &mut rows, &mut out);
    print_lines(out)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn env(args: StateArgs) -> anyhow::Result<ExitCode> {
    let engine = open(&args, false)?;
    let manifest = engine.manifest()?;
    engine.state().write_env(&manifest)?;
    if args.json {
        print_json(&serde_json::json!({ "path": engine.state().env_path() }))?;
    } else {
        print_lines([format!("wrote {}", engine.state().env_path().display())])?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn resolve(args: ResolveArgs) -> anyhow::Result<ExitCode> {
    let engine = open(&args.state, false)?;
    let runtime = runtime()?;
    if !args.dry_run {
        runtime.block_on(recover_first(&engine))?;
    }
    let resolutions = runtime.block_on(engine.resolve(&args.services, args.dry_run))?;
    if args.state.json {
        print_json(&resolutions)?;
    } else {
        print_lines(
            resolutions
                .iter()
                .map(|r| format!("{}: {}", r.service, r.message)),
        )?;
    }
    let unresolved = resolutions
        .iter()
        .any(|r| r.resolved.is_none() && r.digest.is_some());
    Ok(if unresolved {
        ExitCode::from(Exit::Failure)
    } else {
        ExitCode::SUCCESS
    })
}

pub(crate) fn recover(args: StateArgs) -> anyhow::Result<ExitCode> {
    let engine = open(&args, false)?;
    let recovered = runtime()?.block_on(engine.recover())?;
    if args.json {
        print_json(&recovered)?;
    } else {
        print_lines([match &recovered {
            Some(r) => format!(
                "{}: interrupted at {}, {}: {}",
                r.service, r.step, r.action, r.message
            ),
            None => "no interrupted update".to_owned(),
        }])?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether an error is a failure of the machinery (the Docker Engine, a registry during a
/// deployment command, a state file that cannot be written): exit 1 rather than 2.
pub(crate) fn is_failure(error: &anyhow::Error) -> bool {
    use upkeep_update_engine::engine::EngineError;
    use upkeep_update_engine::runtime::RuntimeError;
    use upkeep_update_engine::store::StoreError;
    error.chain().any(|cause| {
        cause.is::<RuntimeError>()
            || cause.downcast_ref::<EngineError>().is_some_and(|error| {
                matches!(
                    error,
                    EngineError::Registry(_)
                        | EngineError::Runtime(_)
                        | EngineError::Busy { .. }
                        | EngineError::ChangeUnderWay { .. }
                        | EngineError::Store(StoreError::Io { .. })
                )
            })
    })
}

/// Progress on a terminal: a bar per pull, a line per step; plain lines otherwise.
struct Progress {
    bars: MultiProgress,
    pulls: Mutex<std::collections::BTreeMap<String, PullBar>>,
    terminal: bool,
}

struct PullBar {
    bar: ProgressBar,
    layers: std::collections::BTreeMap<String, (i64, i64)>,
}

impl Progress {
    fn new() -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bars = MultiProgress::with_draw_target(if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Self {
            bars,
            pulls: Mutex::new(std::collections::BTreeMap::new()),
            terminal,
        }
    }
}

impl Reporter for Progress {
    fn report(&self, report: &Report<'_>) {
        match report {
            Report::Step { service, step } => self.step(service, &step.to_string()),
            Report::Pull { service, progress } => self.pull(service, progress),
            Report::Waiting { holder } => say_waiting(holder),
            Report::Recovered(recovered) => say_recovered(recovered),
            _ => {}
        }
    }
}

impl Progress {
    fn step(&self, service: &str, what: &str) {
        if let Some(pull) = self
            .pulls
            .lock()
            .ok()
            .and_then(|mut pulls| pulls.remove(service))
        {
            pull.bar.finish_and_clear();
        }
        let line = format!("{service}: {what}");
        if self.terminal {
            let _ = self.bars.println(line);
        } else {
            warn(line);
        }
    }

    fn pull(&self, service: &str, progress: &PullProgress) {
        if !self.terminal {
            return;
        }
        let Ok(mut pulls) = self.pulls.lock() else {
            return;
        };
        let pull = pulls.entry(service.to_owned()).or_insert_with(|| {
            let bar = self.bars.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {bytes}/{total_bytes} {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(service.to_owned());
            PullBar {
                bar,
                layers: std::collections::BTreeMap::new(),
            }
        });
        if let (Some(id), Some(current), Some(total)) =
            (&progress.id, progress.current, progress.total)
        {
            pull.layers.insert(id.clone(), (current, total));
            let (done, all) = pull
                .layers
                .values()
                .fold((0, 0), |(d, a), (c, t)| (d + c, a + t));
            pull.bar.set_length(u64::try_from(all).unwrap_or(0));
            pull.bar.set_position(u64::try_from(done).unwrap_or(0));
        }
        pull.bar.set_message(progress.status.clone());
    }
}

/// A spinner on a terminal while the registries are asked.
struct Spinner(Option<ProgressBar>);

impl Spinner {
    fn start(json: bool, message: &str) -> Self {
        if json || !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(100));
        Self(Some(bar))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
