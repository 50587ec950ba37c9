//! The engine's advice in the command line's words: each [`Hint`] as the `upkeep` command
//! that does it.
//!
//! The engine names what a user can do next as data; this module is the one place that says
//! it as commands, for plans and outcomes ([`CommandLine`], handed to the engine) and for
//! errors ([`advice`], added to the message the CLI prints).

use upkeep_update_engine::engine::EngineError;
use upkeep_update_engine::hint::{Hint, HintWords};

/// The words of the `upkeep` command line.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CommandLine;

impl HintWords for CommandLine {
    fn word(&self, hint: &Hint) -> String {
        match hint {
            Hint::UpdateTo {
                service,
                tag: Some(tag),
            } => format!("`upkeep update {service} --to {tag}`"),
            Hint::UpdateTo { service, tag: None } => format!("`upkeep update {service} --to TAG`"),
            Hint::UpdateLatest { service } => format!("`upkeep update {service} --latest`"),
            Hint::Update { service } => format!("`upkeep update {service}`"),
            Hint::Pull { service } => format!("`upkeep pull {service}`"),
            Hint::ListTags { image } => format!("`upkeep tags {image}`"),
            Hint::Recover => "`upkeep recover`".to_owned(),
            Hint::Init => "`upkeep init --from-running` or `upkeep init --compose FILE`".to_owned(),
            Hint::Track { service } => format!("`upkeep pin {service} TAG` after `upkeep init`"),
            Hint::SetPolicy { .. } => "a policy in upkeep.yaml".to_owned(),
            Hint::History { service } => format!("`upkeep history {service}`"),
            // A hint this build does not know yet: its data still says what it is.
            other => format!("{other:?}"),
        }
    }
}

/// What to do about `error`, in the command line's words, when the engine names one thing.
pub(crate) fn advice(error: &anyhow::Error) -> Option<String> {
    let engine_error = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<EngineError>())?;
    let hint = engine_error.hint()?;
    let command = CommandLine.word(&hint);
    Some(match hint {
        Hint::Init => format!("create it with {command}"),
        Hint::Track { .. } => format!("add it with {command}"),
        Hint::ListTags { .. } => format!("list the tags with {command}"),
        Hint::Recover if matches!(engine_error, EngineError::ContainerGone { .. }) => {
            format!("then run {command}")
        }
        Hint::Recover => format!("run {command} first"),
        _ => format!("see {command}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_read_as_the_commands_that_do_them() {
        assert_eq!(
            CommandLine.word(&Hint::update_to("web", "1.0.2")),
            "`upkeep update web --to 1.0.2`"
        );
        let error = anyhow::Error::new(EngineError::NoManifest("/srv".into()));
        assert_eq!(
            advice(&error).as_deref(),
            Some("create it with `upkeep init --from-running` or `upkeep init --compose FILE`")
        );
        let error = anyhow::Error::new(EngineError::TagNotFound {
            image: "web".to_owned(),
            tag: "9".to_owned(),
        })
        .context("planning");
        assert_eq!(
            advice(&error).as_deref(),
            Some("list the tags with `upkeep tags web`")
        );
    }
}
