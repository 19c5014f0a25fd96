"""Email over SMTP (smtplib), STARTTLS optional, with a List-Unsubscribe header."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from siyu.channels.providers.base import Outgoing, Provider, ProviderError, Sent, permanent


class SmtpProvider(Provider):
    """One SMTP conversation per message; 5xx recipient refusals are final, the rest retried."""

    def send(self, out: Outgoing) -> Sent:
        """Send a plain-text email."""
        if not out.to:
            raise permanent("no_recipient", "no_email")
        message = EmailMessage()
        message["From"] = self.option("from_address", "noreply@localhost")
        message["To"] = out.to
        message["Subject"] = out.subject or ""
        domain = str(self.option("from_address", "siyu@localhost")).rpartition("@")[2]
        message["Message-ID"] = make_msgid(idstring=f"touch{out.touch_id}", domain=domain)
        if out.extra.get("unsubscribe_url"):
            message["List-Unsubscribe"] = f"<{out.extra['unsubscribe_url']}>"
        message.set_content(out.text)
        try:
            self._deliver(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise permanent("invalid_recipient", "smtp_recipient_refused") from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise permanent("auth", f"smtp_{exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            code = exc.smtp_code
            raise ProviderError("provider_error", f"smtp_{code}", transient=code < 500) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ProviderError("network", type(exc).__name__) from exc
        return Sent(message_id=str(message["Message-ID"]))

    def _deliver(self, message: EmailMessage) -> None:
        host = self.option("host", "localhost")
        with smtplib.SMTP(host, int(self.option("port", 25)), timeout=10) as smtp:
            if self.option("starttls", False):
                smtp.starttls()
            if self.option("username"):
                smtp.login(str(self.option("username")), self.secret("password"))
            smtp.send_message(message)
