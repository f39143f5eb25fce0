"""`/healthz`: a real query on the state database and, with `[web] health_smtp =
true`, a connection to `[smtp] host` (its greeting and a NOOP, no mail); 200 "ok", or
503 with one line for each check that failed."""

from __future__ import annotations

import smtplib
import sqlite3
import ssl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from digest.config.schema import Config
from digest.errors import StateError
from digest.state.backend import Where

TIMEOUT = 5  # seconds for each check


def database_problem(db: Where) -> str | None:
    if isinstance(db, str):
        return _postgres_problem(db)
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=TIMEOUT)
        try:
            conn.execute("SELECT count(*) FROM (SELECT 1 FROM subscribers LIMIT 1)").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as e:
        return f"database: {e}"
    return None


def _postgres_problem(url: str) -> str | None:
    from digest.state import postgres

    try:
        conn = postgres.connect(url)
        try:
            conn.execute("SELECT count(*) FROM (SELECT 1 FROM subscribers LIMIT 1) AS s")
        finally:
            conn.close()
    except StateError as e:
        return f"database: {e}"
    return None


def smtp_problem(config: Config) -> str | None:
    smtp = config.smtp
    try:
        client: smtplib.SMTP
        if smtp.security == "tls":
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=TIMEOUT,
                                      context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT)
        try:
            code, _ = client.noop()
        finally:
            client.close()
    except (OSError, smtplib.SMTPException) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        return f"smtp: {smtp.host}:{smtp.port}: {reason}"
    if code != 250:
        return f"smtp: {smtp.host}:{smtp.port}: NOOP answered {code}"
    return None


def checks(config: Config) -> list[str]:
    problems = [database_problem(config.state_db)]
    if config.web.health_smtp:
        problems.append(smtp_problem(config))
    return [p for p in problems if p]


async def healthz(request: Request) -> Response:
    config: Config = request.app.state.readers.config
    problems = await run_in_threadpool(checks, config)
    if problems:
        return PlainTextResponse("\n".join(problems) + "\n", 503,
                                 headers={"Cache-Control": "no-store"})
    return PlainTextResponse("ok", headers={"Cache-Control": "no-store"})


