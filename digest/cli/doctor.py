"""`digest doctor`: a thin wrapper over digest.state.doctor."""

from __future__ import annotations

import click

from digest.cli.common import Failure, failures, get_config, out, warn


@click.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check the state database (SQLite's integrity check) and repair a damaged one.

    A repair writes a new database with everything that can still be read, above all
    the suppression list and the delivery log, puts it in place and keeps the damaged
    file beside it under a new name. Nothing is deleted.

    \b
    Example:
        digest doctor
    """
    # here, not at the top: `digest --help` stays fast
    from digest.state.doctor import doctor as run_doctor
    from digest.state.errors import newer_schema
    from digest.state.migrations import SCHEMA_VERSION

    config = get_config(ctx)
    with failures():
        report = run_doctor(config)
    path = report.path
    if report.status == "missing":
        out.print(f"no state database at {path} yet: the first collect or build makes it")
        return
    if report.status == "ok":
        counts = ", ".join(t.describe() for t in report.tables) or "no tables yet"
        out.print(f"state database {path}: ok (integrity check passed; schema "
                  f"{report.schema}; {counts})")
        if report.schema is not None and report.schema > SCHEMA_VERSION:
            raise Failure(str(newer_schema(path, report.schema, SCHEMA_VERSION)))
        return
    out.print(f"state database {path} was damaged ({report.problem})")
    out.print(f"repaired: a new database at {path} keeps")
    for table in report.tables:
        out.print(f"  {table.describe()}")
    for table in report.tables:
        if table.rows == 0 and table.problem and table.name in ("suppressions", "deliveries"):
            warn(f"nothing of {table.name} could be read ({table.problem})")
        if not table.rows and table.name == "meta":
            warn("the identity of this database (meta) could not be read, so it has a new "
                 "one: issue folders made before the repair will not be sent or adopted "
                 "with it")
    out.print(f"the damaged file is kept as {report.kept_as} (nothing was deleted)")


COMMANDS = (doctor,)
