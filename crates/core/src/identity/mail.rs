//! Email through the store's SMTP server (lettre): the one-time codes that link an app account.
//! The server is given as a URL: `smtp://user:password@host:587?tls=required` (STARTTLS),
//! `smtps://user:password@host:465` (TLS from the start), or `smtp://host:25` (no TLS: only for a
//! relay on the same machine or a private network).

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Sending an email failed.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The SMTP URL or the sender address is unusable.
    #[error("invalid SMTP setting: {0}")]
    Config(String),
    /// The recipient's address cannot be written to.
    #[error("invalid email address")]
    Address,
    /// The server could not be reached or refused the message.
    #[error("the email could not be sent: {0}")]
    Send(String),
}

/// Sends emails from one address through one SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: only the sender is shown.
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// A mailer for the server at `url`, sending as `from` (`Store <help@store.example>`).
    pub fn new(url: &str, from: &str) -> Result<Mailer, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Config(format!("SMTP URL: {e}")))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let from = from
            .parse()
            .map_err(|e| MailError::Config(format!("sender {from:?}: {e}")))?;
        Ok(Mailer { transport, from })
    }

    /// Sends a plain-text email.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let to: Mailbox = to.parse().map_err(|_| MailError::Address)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| MailError::Send(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| MailError::Send(e.to_string()))?;
        Ok(())
    }
}
