"""Settings: the schema of config.toml, loading and checking it, the `digest init` scaffold."""
