"""Render: the issue as HTML email (Jinja2 -> MJML -> premailer) and as plain text."""

from __future__ import annotations

from digest.exports import lazy

_EXPORTS = {
    "GMAIL_CLIP": "digest.render.budget",
    "html_budget": "digest.render.budget",
    "personal_sizes": "digest.render.budget",
    "package_templates": "digest.render.bundled",
    "Templates": "digest.render.email",
    "check_templates": "digest.render.email",
    "issue_url": "digest.render.email",
    "load_templates": "digest.render.email",
    "placeholder_pattern": "digest.render.marks",
    "render_issue": "digest.render.email",
    "site_page": "digest.render.email",
    "unrenderable": "digest.render.email",
    "web_page": "digest.render.email",
    "screenshot_issue": "digest.render.screenshot",
    "InvalidMjml": "digest.render.template_errors",
    "long_date": "digest.render.text",
    "note_links": "digest.render.text",
    "sentences": "digest.render.text",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy(__name__, _EXPORTS)
