//! What a user can do next, as data: each frontend words it in its own terms.
//!
//! The engine's plans and outcomes often end in advice ("`upkeep update web --to 1.0.2` tries
//! it again"). That advice depends on who reads it: a CLI user runs a command, an agent or
//! API user sends a request. So the engine names the advice as a [`Hint`] and asks the
//! [`HintWords`] it was built with to word it; the CLI passes words that name its commands,
//! the agent words that name its API. [`Neutral`] words name no frontend.
//!
//! # What this module does not do
//! It decides nothing: which hint fits is the engine's to say, and how it reads is the
//! frontend's.

use serde::Serialize;

/// Something the user can do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "hint", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Hint {
    /// Move `service` to `tag` whatever its policy says; `None` means a tag of the user's
    /// choosing.
    UpdateTo {
        /// The service.
        service: String,
        /// The tag.
        tag: Option<String>,
    },
    /// Move `service` to the newest eligible version in any line.
    UpdateLatest {
        /// The service.
        service: String,
    },
    /// Move `service` as its policy allows.
    Update {
        /// The service.
        service: String,
    },
    /// Pull what `service` runs, recording its digest.
    Pull {
        /// The service.
        service: String,
    },
    /// List the tags of `image`.
    ListTags {
        /// The image repository.
        image: String,
    },
    /// Finish or undo the change that was cut short.
    Recover,
    /// Create the version manifest from what runs.
    Init,
    /// Put `service` under upkeep's care.
    Track {
        /// The service.
        service: String,
    },
    /// Give `service` a policy in its configuration.
    SetPolicy {
        /// The service.
        service: String,
    },
    /// Read the history of `service`.
    History {
        /// The service.
        service: String,
    },
}

impl Hint {
    /// Move `service` to `tag`.
    pub fn update_to(service: impl Into<String>, tag: impl Into<String>) -> Self {
        Self::UpdateTo {
            service: service.into(),
            tag: Some(tag.into()),
        }
    }
}

/// How a frontend words a [`Hint`]: as a noun phrase that can stand in a sentence such as
/// "… ; HINT tries it again".
pub trait HintWords: Send + Sync {
    /// The hint in this frontend's terms.
    fn word(&self, hint: &Hint) -> String;
}

/// Words that name no frontend, for library users and logs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Neutral;

impl HintWords for Neutral {
    fn word(&self, hint: &Hint) -> String {
        match hint {
            Hint::UpdateTo {
                service,
                tag: Some(tag),
            } => format!("an update of {service} to {tag}"),
            Hint::UpdateTo { service, tag: None } => {
                format!("an update of {service} to a tag of your choosing")
            }
            Hint::UpdateLatest { service } => {
                format!("an update of {service} to the newest version")
            }
            Hint::Update { service } => format!("an update of {service}"),
            Hint::Pull { service } => format!("a pull of {service}"),
            Hint::ListTags { image } => format!("the tag list of {image}"),
            Hint::Recover => "a recovery".to_owned(),
            Hint::Init => "setting up the version manifest".to_owned(),
            Hint::Track { service } => format!("tracking {service}"),
            Hint::SetPolicy { service } => format!("a policy for {service}"),
            Hint::History { service } => format!("the history of {service}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutral_words_name_no_frontend() {
        let hint = Hint::update_to("web", "1.0.2");
        assert!(!Neutral.word(&hint).contains("upkeep"));
        assert!(Neutral.word(&hint).contains("1.0.2"));
    }
}
