"""Where the bundled templates are: `templates/` at the repository root is their one
source. A wheel carries them inside the package as digest/templates (pyproject.toml
maps the folder there at build time); an editable install or a checkout reads the root
folder itself. Light on purpose: `digest init --templates` imports it."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from digest.errors import ConfigError

MARKER = "issue.mjml.j2"  # a templates folder has this file


def package_templates() -> Path:
    """The bundled templates folder. Raises ConfigError when neither place has them."""
    packaged = files("digest") / "templates"
    checkout = Path(__file__).resolve().parents[2] / "templates"
    for folder in (packaged, checkout):
        # Jinja's FileSystemLoader needs a real folder: pip installs packages as files.
        if isinstance(folder, Path) and (folder / MARKER).is_file():
            return folder
    raise ConfigError(f"bundled templates not found in {packaged} or {checkout}; "
                      "reinstall digest")
