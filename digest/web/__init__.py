"""Web: the static archive site and the readers' pages (`digest serve`)."""
