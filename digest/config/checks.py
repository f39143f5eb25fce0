"""The checks of config.toml beyond each value's type and its rule in RULES: the rules
relating keys to each other (check_blocks, check_feeds_unique, check_dkim_complete,
check_site_dir, ...) and the formats of values (check_subject, check_addresses, ...),
each a small function; `check` runs them all, and the rules' aspects, in a fixed order.
Whatever passes here, build can use.
"""

from __future__ import annotations

import ipaddress
import os
import re
import unicodedata
from datetime import date
from string import Formatter
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date

from digest.config.load import feed_key, parse_duration
from digest.config.rules import RULES, check_text, enforce, enforce_value
from digest.config.schema import BLOCKS, Config, NewsletterConfig
from digest.errors import ConfigError

DAY = 86_400
DURATION_LIMITS = {"collect_every": 7 * DAY, "misfire_grace": 30 * DAY}  # seconds
MAX_DISPLAY_NAME = 200  # in [delivery] from and reply_to
SUBJECT_FIELDS = ("name", "headline", "number", "date")
# {number} takes an integer format: zero padding, a width up to 99, grouping, 'd'.
_NUMBER_SPEC = re.compile(r"0?[1-9]?[0-9]?[,_]?d?")
SUBJECT_TRIAL_NUMBERS = (1, 7, 10**6)
_LDH_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LDH_LABEL}(?:\.{_LDH_LABEL})*")  # a DKIM selector too
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Where text.linkify finds a link's address: the "(url)" right after "[words]".
_LINK_TARGET = re.compile(r"\]\(([^)\s]+)\)")
STORY_BLOCKS = ("big_story", "need_to_know", "read_more")


def check(config: Config) -> None:
    """Checks beyond each value's type: ranges, formats, and text that reaches mail
    headers, paths and links. Raises ConfigError for the first value that fails."""
    enforce(config, "one_line")
    check_text(config)
    enforce(config, "max_chars")
    check_newsletter(config.newsletter)
    enforce(config, "range")
    check_site_dir(config)
    enforce(config, "choices", ["[enrich] pages", "[[feeds]] enrich"])
    check_mirror(config)
    enforce(config, "choices", ["[editor] pin block"])
    check_links(config)
    check_intro_links(config.newsletter)
    check_assets_url(config.newsletter)
    check_unsubscribe_url(config)
    check_addresses(config)
    check_blocks(config)
    check_accent_color(config)
    check_editor_entries(config)
    check_editor_languages(config)
    check_feeds_unique(config)
    enforce(config, "choices", ["[delivery] mode"])
    check_env_names(config)
    check_user_agent(config)
    enforce(config, "nonempty", ["[state] path", "[delivery] outbox_dir"])
    enforce(config, "choices", ["[smtp] security", "[log] format", "[log] level"])
    _check_host("[smtp] host", config.smtp.host, ip_ok=True, like="'smtp.example.com'")
    check_dkim_complete(config)
    check_dkim_names(config)
    check_durations(config)
    check_schedule(config)


def check_newsletter(nl: NewsletterConfig) -> None:
    enforce_value(RULES["[newsletter] name"], "nonempty", "[newsletter] name", nl.name)
    if not _SLUG.fullmatch(nl.slug):
        raise ConfigError(
            f"[newsletter] slug: {nl.slug!r} won't do in folder names and Message-IDs; set "
            "slug to at most 64 lower-case letters, digits and '-', like 'china-connection'"
        )
    _check_zone("[newsletter] timezone", nl.timezone)
    check_language(nl.language)
    check_subject(nl)


def _check_zone(at: str, name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        shown = "is empty" if not name else f"{name!r} is not a time zone"
        raise ConfigError(f"{at}: {shown}; use an IANA name like 'Asia/Shanghai'") from None


def check_language(language: str) -> None:
    locale = language.replace("-", "_")
    try:
        if not LANGUAGE.fullmatch(language):
            raise ValueError(language)
        Locale.parse(locale)
        format_date(date(2026, 12, 9), format="full", locale=locale)
    except (ValueError, UnknownLocaleError):
        raise ConfigError(f"[newsletter] language: {language!r} is not a language Babel "
                          "knows; use a code like 'en', 'en-GB', 'de' or 'zh_Hans'") from None


def check_subject(nl: NewsletterConfig) -> None:
    at = "[newsletter] subject"
    known = ", ".join(f"{{{f}}}" for f in SUBJECT_FIELDS)
    enforce_value(RULES[at], "nonempty", at, nl.subject)
    try:
        fields = [(f, spec or "") for _, f, spec, _ in Formatter().parse(nl.subject)
                  if f is not None]
    except ValueError as e:
        raise ConfigError(f"{at}: {e}; write '{{{{' or '}}}}' for a literal brace") from None
    for name, spec in fields:
        if name not in SUBJECT_FIELDS:
            raise ConfigError(f"{at}: unknown placeholder {{{name}}}; use {known}")
        if name == "number" and _NUMBER_SPEC.fullmatch(spec):
            continue  # {number:03}, {number:,}
        if spec:
            fix = "{number}, {number:03} or {number:,}" if name == "number" else f"{{{name}}}"
            raise ConfigError(f"{at}: format {{{name}:{spec}}} won't do; write {fix}")
    for number in SUBJECT_TRIAL_NUMBERS:
        try:
            subject = nl.subject.format(name=nl.name, headline="Headline", number=number,
                                        date="Wednesday, December 9, 2026")
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{at}: {e}; write the placeholders as plain {known}") from None
        bad = next((c for c in subject if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
        if bad is not None:
            raise ConfigError(f"{at}: gives control character U+{ord(bad):04X} in the "
                              f"subject of issue #{number}; write the placeholders as {known}")


def check_site_dir(config: Config) -> None:
    """The published site's folder holds neither the config nor the state nor the outbox."""
    site = os.path.realpath(config.path(config.web.site_dir))
    for name, inside in (("the config's folder", config.base_dir), ("the state database",
                         config.state_path), ("the outbox", config.outbox_path)):
        held = os.path.realpath(inside)
        if held == site or held.startswith(site.rstrip(os.sep) + os.sep):
            raise ConfigError(f"[web] site_dir: {site} would hold {name} ({held}); the site "
                              "is published as it is: use a folder of its own, like \"site\"")


def check_mirror(config: Config) -> None:
    if config.enrich.mirror and not config.path(config.enrich.mirror).is_dir():
        raise ConfigError(f"[enrich] mirror: {config.path(config.enrich.mirror)} is not a "
                          "folder; create it or remove the key")


def check_links(config: Config) -> None:
    """The links the editor writes are absolute http(s) URLs."""
    nl = config.newsletter
    links = [(f"[newsletter] {key}", getattr(nl, key))
             for key in ("web_url", "subscribe_url", "manage_url", "assets_url")]
    links += [(f"[editor] pin[{i}]", p.url) for i, p in enumerate(config.editor.pin)]
    links += [("[delivery] unsubscribe_url", config.delivery.unsubscribe_url)]
    for at, url in links:
        if url and not _is_link(url, ("http", "https")):
            raise ConfigError(f"{at}: {url!r} is not an absolute http(s) URL; write it like "
                              "'https://example.com/newsletter'")


def check_intro_links(nl: NewsletterConfig) -> None:
    for url in _LINK_TARGET.findall(nl.intro.replace("{name}", nl.name)):
        if not _is_link(url, ("http", "https", "mailto")):
            raise ConfigError(f"[newsletter] intro: link to {url!r}; links must be absolute "
                              "http(s) or mailto: addresses, like [subscribe](https://...)")


def check_assets_url(nl: NewsletterConfig) -> None:
    assets = nl.assets_url
    at = "[newsletter] assets_url"
    if assets and not assets.isascii():
        raise ConfigError(f"{at}: must be ASCII; percent-encode other characters")
    if assets and (urlsplit(assets).query or urlsplit(assets).fragment):
        raise ConfigError(f"{at}: {assets!r} has a query or fragment; give the folder the "
                          "images/ files are published in, like 'https://example.com/img'")


def check_unsubscribe_url(config: Config) -> None:
    url = config.delivery.unsubscribe_url
    at = "[delivery] unsubscribe_url"
    if not url.isascii():
        raise ConfigError(f"{at}: must be ASCII; percent-encode other characters")
    if "{email}" in url:
        raise ConfigError(f"{at}: {{email}} would put the address in clear in a URL; use "
                          "{token}, which identifies the subscriber on its own")
    if re.search(r"[{}]", url.replace("{token}", "")):
        raise ConfigError(f"{at}: the only placeholder is {{token}}; remove other braces")


def _is_link(url: str, schemes: tuple[str, ...]) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme.lower() not in schemes or any(c.isspace() for c in url):
        return False
    return bool(parts.path) if parts.scheme.lower() == "mailto" else bool(parts.hostname)


def check_addresses(config: Config) -> None:
    """Every address through the one validator, digest.addresses."""
    from digest.addresses import AddressError, parse_address, parse_mailbox

    delivery = config.delivery
    headers = [("[delivery] from" if delivery.sender else "[newsletter] name", config.sender,
                "'The China Connection <digest@example.com>'")]
    if delivery.reply_to:
        headers.append(("[delivery] reply_to", delivery.reply_to, "'Editor <editor@example.com>'"))
    for at, value, like in headers:
        fix = "" if at != "[newsletter] name" else (
            " (it makes the default From header); set [delivery] from, quoting the name")
        try:
            name, address = parse_mailbox(value, local_domain=True)
        except AddressError as e:
            raise ConfigError(f"{at}: {e}; write one address like {like}{fix}") from None
        if len(name) > MAX_DISPLAY_NAME:
            raise ConfigError(f"{at}: the name is {len(name)} characters; at most "
                              f"{MAX_DISPLAY_NAME}, as a mail header line has a length limit; "
                              "shorten it")
        if address.key not in value.lower():  # sent as written: it must be the ASCII form
            raise ConfigError(f"{at}: {value!r}: write the address in its ASCII form, "
                              f"{address.email}")
    for i, entry in enumerate(delivery.recipients):
        try:
            parse_mailbox(entry)
        except AddressError as e:
            raise ConfigError(f"[delivery] recipients[{i}]: {e}") from None
    if delivery.return_path:
        at = "[delivery] return_path"
        try:
            address = parse_address(delivery.return_path)
        except AddressError as e:
            raise ConfigError(f"{at}: {e}; write one address like 'bounces@example.com'"
                              ) from None
        if delivery.return_path != address.email or "+" in address.email.partition("@")[0]:
            raise ConfigError(f"{at}: {delivery.return_path!r}; write a plain ASCII address "
                              "without '+' (digest adds '+<token>' for each recipient), like "
                              "'bounces@example.com'")
    mailto = delivery.unsubscribe_mailto
    at = "[delivery] unsubscribe_mailto"
    if mailto.lower().startswith("mailto:"):
        raise ConfigError(f"{at}: {mailto!r}; write the address without 'mailto:', like "
                          "'unsubscribe@example.com'")
    if mailto:
        spec, _, query = mailto.partition("?")
        try:
            address = parse_address(spec)
        except AddressError as e:
            raise ConfigError(f"{at}: {e}; write one address like 'unsubscribe@example.com'"
                              ) from None
        if spec != address.email or not query.isascii() or any(c.isspace() for c in query):
            raise ConfigError(f"{at}: {mailto!r}; write an ASCII address like "
                              f"'{address.email}' (an optional '?subject=...' without spaces)")


def check_blocks(config: Config) -> None:
    """Known blocks, each listed once, and at least one story block with a size."""
    layout = config.layout
    for name in layout.blocks:
        if name not in BLOCKS:
            raise ConfigError(
                f"[layout] blocks: unknown block {name!r}; blocks are {', '.join(BLOCKS)}"
            )
        if layout.blocks.count(name) > 1:
            raise ConfigError(f"[layout] blocks: {name!r} is listed twice; list it once")
    if not any(b in layout.blocks and getattr(layout, b) > 0 for b in STORY_BLOCKS):
        raise ConfigError("[layout] blocks: no story block is shown with a size above 0; list "
                          "big_story, need_to_know or read_more and give it a size")


def check_accent_color(config: Config) -> None:
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", config.layout.accent_color):
        raise ConfigError("[layout] accent_color: write a colour like '#005594'")


def check_editor_entries(config: Config) -> None:
    for key in ("exclude", "boost", "require"):
        if any(not word.strip() for word in getattr(config.editor, key)):
            raise ConfigError(f"[editor] {key}: has an empty entry, which would match every "
                              "article; remove it")


def check_editor_languages(config: Config) -> None:
    for language in config.editor.languages:
        if language != "*" and not LANGUAGE.fullmatch(language):
            raise ConfigError(f"[editor] languages: {language!r} is not a language code; write "
                              "codes like 'en' or 'de', or '*' for any language")


def check_feeds_unique(config: Config) -> None:
    """Each feed has a url, and no feed is listed twice under any spelling (load.feed_key)."""
    seen: dict[str, int] = {}
    url_rule = RULES["[[feeds]] url"]
    for i, feed in enumerate(config.feeds, 1):
        enforce_value(url_rule, "nonempty", f"[[feeds]] #{i} url", feed.url)
        key = feed_key(feed.url, config.base_dir)
        if key in seen:
            first = config.feeds[seen[key] - 1].url
            spelt = "" if first == feed.url else f" (written {first!r} there)"
            raise ConfigError(
                f"[[feeds]] #{i} url: {feed.url} is already feed #{seen[key]}{spelt}; remove one"
            )
        seen[key] = i


def check_env_names(config: Config) -> None:
    for at, name in (("[delivery] secret_env", config.delivery.secret_env),
                     ("[smtp] password_env", config.smtp.password_env)):
        if name and not _ENV_NAME.fullmatch(name):
            raise ConfigError(f"{at}: {name!r} is not an environment variable name; use "
                              "letters, digits and '_', like DIGEST_SECRET")


def check_user_agent(config: Config) -> None:
    if not config.collect.user_agent.isascii():
        raise ConfigError("[collect] user_agent: must be ASCII (it is an HTTP header)")


def _check_host(at: str, host: str, *, ip_ok: bool, like: str) -> None:
    """A host name (letters, digits and '-' in labels of at most 63, at most 253 in
    all), or with `ip_ok` an IPv4 or IPv6 address."""
    if ip_ok:
        try:
            ipaddress.ip_address(host)
            return
        except ValueError:
            pass
    name = host.removesuffix(".") if ip_ok else host  # the root's dot: not in a DKIM d=
    # A last label of digits only is no host name: 999.1.1.1 is a mistyped address.
    if _HOSTNAME.fullmatch(name) and len(name) <= 253 and \
            not name.rpartition(".")[2].isdigit():
        return
    if not host:
        raise ConfigError(f"{at}: is empty; give a host name like {like}")
    hint = ""
    if not host.isascii():
        try:
            hint = (" (write an internationalized name in its ASCII form, "
                    f"{host.encode('idna').decode('ascii')})")
        except UnicodeError:
            pass
    what = "host name or IP address" if ip_ok else "domain name"
    raise ConfigError(f"{at}: {_shown(host)} is not a {what}: use labels of letters, digits "
                      f"and '-' (at most 63 each, 253 in all) joined by dots, like {like}"
                      f"{hint}")


def _shown(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def check_dkim_complete(config: Config) -> None:
    """DKIM signing needs all three keys, or none."""
    dkim = config.dkim
    given = [k for k in ("key_file", "selector", "domain") if getattr(dkim, k)]
    if given and len(given) < 3:
        missing = [k for k in ("key_file", "selector", "domain") if k not in given]
        raise ConfigError(f"[dkim] {', '.join(missing)}: missing; DKIM signing needs "
                          "key_file, selector and domain (or none of them)")


def check_dkim_names(config: Config) -> None:
    dkim = config.dkim
    if not dkim.key_file:  # none given (check_dkim_complete: all or none)
        return
    if not (_HOSTNAME.fullmatch(dkim.selector) and len(dkim.selector) <= 253):
        raise ConfigError(f"[dkim] selector: {dkim.selector!r} is not a DNS name; write "
                          "labels of letters, digits and '-' joined by dots, like 's1' or "
                          "'news.2026'")
    _check_host("[dkim] domain", dkim.domain, ip_ok=False, like="'example.com'")


def check_durations(config: Config) -> None:
    for key, most in DURATION_LIMITS.items():
        at = f"[schedule] {key}"
        if parse_duration(getattr(config.schedule, key), at) > most:
            raise ConfigError(f"{at}: at most {most // DAY} days; write e.g. '1h' or '1d'")


def check_schedule(config: Config) -> None:
    """The schedule's zone, and its crontab line read as the daemon reads it."""
    if config.schedule.timezone:
        _check_zone("[schedule] timezone", config.schedule.timezone)
    from digest.schedule.crontab import (
        parse_crontab,  # here: APScheduler loads only to check a line
    )

    parse_crontab(config.schedule.issue, config.schedule_tz)


# What a send needs from outside the config file ---------------------------------------
# `check` and `digest run` ask this before anything runs, so a weekly slot does not find
# out at 08:00 on Monday that the secret was never exported.


def check_ready(config: Config) -> list[str]:
    """Every problem that would stop a build or a send, one line each: the token secret
    (for `{token}` links and VERP), the recipients file, the SMTP password variable
    (smtp delivery), the DKIM key."""
    problems: list[str] = []
    for probe in (_ready_secret, _ready_recipients, _ready_password, _ready_dkim):
        try:
            probe(config)
        except ConfigError as e:
            problems.append(str(e))
    return problems


def _ready_secret(config: Config) -> None:
    from digest.tokens import load_secret  # here: the tokens module loads cryptography

    load_secret(config)


def _ready_recipients(config: Config) -> None:
    """The recipients file is there, is a file, can be read and has an `email` column."""
    import csv

    name = config.delivery.recipients_file
    if not name:
        return
    at = "[delivery] recipients_file"
    path = config.path(name)
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader([f.readline()]), [])
    except FileNotFoundError:
        raise ConfigError(f"{at}: {path} not found; create it (a header row 'email,name', "
                          "then one subscriber a line) or remove the key") from None
    except IsADirectoryError:
        raise ConfigError(f"{at}: {path} is a folder; name a CSV file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ConfigError(f"{at}: cannot read {path}: {reason}") from None
    if "email" not in [c.strip().lower() for c in header]:
        raise ConfigError(f"{at}: {path} line 1: no 'email' column in the header; the "
                          "first row must name the columns, e.g. 'email,name'")


def _ready_password(config: Config) -> None:
    smtp = config.smtp
    if config.delivery.mode != "smtp" or not smtp.username:
        return
    if not smtp.password_env:
        raise ConfigError(f"[smtp] password_env: missing; name the environment variable that "
                          f"holds the password for [smtp] username {smtp.username!r}")
    if os.environ.get(smtp.password_env) is None:
        raise ConfigError(f"[smtp] password_env: environment variable {smtp.password_env} is "
                          f"not set; export it with the password for {smtp.username!r} at "
                          f"{smtp.host}:{smtp.port}")


def _ready_dkim(config: Config) -> None:
    """Load the [dkim] key and sign a test message with it, as a send will."""
    from digest.deliver.message import load_dkim, sign  # here: dkimpy is heavy

    key = load_dkim(config)
    if key is None:
        return
    try:
        sign(b"From: check@example.com\r\nSubject: check\r\n\r\ncheck\r\n", key)
    except Exception as e:  # dkimpy raises binascii.Error, AssertionError, ... on junk
        reason = " ".join(str(e).split())  # one line: dkimpy's messages have line breaks
        if not reason.startswith("[dkim] key_file:"):
            reason = f"[dkim] key_file: cannot sign with this key: {type(e).__name__}: {reason}"
        raise ConfigError(reason) from None
