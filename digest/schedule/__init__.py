"""Schedule: the daemon, its slots and crontab lines, and how it stops."""
