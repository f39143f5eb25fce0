"""State: the SQLite store and the only SQL, its lock, migrations, errors, doctor and recovery."""
