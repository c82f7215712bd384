"""The mailer port: SMTP through aiosmtplib, or `.eml` files in a folder (embedded mode)."""

from __future__ import annotations

import asyncio
import os
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib


class MailError(Exception):
    """The message could not be handed over; trying again later may work."""


class Mailer(Protocol):
    """Hands one e-mail message over for delivery."""

    async def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    """An SMTP server, from SMTP_URL (`smtp://[user:password@]host:port`)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"}:
            raise ValueError(f"SMTP_URL must be an smtp:// URL, not {parts.scheme}://")
        self.hostname = parts.hostname or "127.0.0.1"
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.use_tls = parts.scheme == "smtps"
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.hostname,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.use_tls,
                start_tls=False if self.use_tls else None,
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            raise MailError(f"{type(error).__name__}: {error}") from error


class FileMailer:
    """Writes each message to `<folder>/<message id>.eml` (replacing an earlier copy)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", str(message["Message-ID"]).strip("<>"))
        path = self.folder / f"{name}.eml"
        partial = path.with_suffix(".eml.partial")
        partial.write_bytes(message.as_bytes())
        os.replace(partial, path)
