//! Delivery by email, through an SMTP relay.

use std::time::{Duration, SystemTime};

use lettre::message::header::ContentType;
use lettre::message::{Body, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::target::{Email, Security};
use super::{AttemptError, Notice};

/// Sends one attempt of `notice` through `relay`; `timeout` bounds each SMTP command.
pub(super) async fn send(
    relay: &Email,
    notice: &Notice,
    timeout: Duration,
) -> Result<(), AttemptError> {
    let message = message(relay, notice)?;
    let builder = match relay.security {
        Security::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&relay.host).map_err(AttemptError::Smtp)?
        }
        Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&relay.host)
            .map_err(AttemptError::Smtp)?,
        Security::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&relay.host),
    };
    let mut builder = builder.port(relay.port).timeout(Some(timeout));
    if let Some((user, password)) = &relay.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    builder
        .build()
        .send(message)
        .await
        .map_err(AttemptError::Smtp)?;
    Ok(())
}

/// The email: the title as subject, the text and the notice's details as a plain-text body.
fn message(relay: &Email, notice: &Notice) -> Result<Message, AttemptError> {
    let mut builder = Message::builder()
        .from(relay.from.clone())
        .subject(notice.title())
        .date(SystemTime::from(notice.at))
        .header(ContentType::TEXT_PLAIN);
    for recipient in &relay.to {
        builder = builder.to(recipient.clone());
    }
    builder
        .body(Body::new(body(notice)))
        .map_err(AttemptError::Email)
}

fn body(notice: &Notice) -> String {
    let mut body = format!(
        "{}\n\ndeployment: {}\nimage: {}\nfrom: {}\nto: {}\nupdate: {}\n",
        notice.message, notice.deployment, notice.image, notice.from, notice.to, notice.update
    );
    if let Some(link) = &notice.release_notes {
        body.push_str(&format!("release notes: {link}\n"));
    }
    body.push_str(&format!(
        "at: {}\n",
        notice.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ));
    body
}
