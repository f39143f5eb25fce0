"""Render: the issue as HTML email (Jinja2 -> MJML -> premailer) and as plain text."""
