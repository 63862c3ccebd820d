#!/usr/bin/python3
"""ebb's bridge to Alembic: the revision graph, the current heads, and one migration step at a time.

ebb-agent runs this file with the Python that has Alembic installed (by default
/usr/bin/python3, Debian's python3-alembic). It uses Alembic's own objects --
Config, ScriptDirectory, EnvironmentContext, the project's env.py and Alembic's
migration runner -- exactly as the `alembic` command does, so the project is
taken unchanged. What ebb adds is the choice of steps: `step` runs exactly one
revision (up or down), whatever the branch structure, so that ebb can record a
fingerprint and an event after each one and stop exactly where one fails.

Commands (every one takes -c INI [-n SECTION]):
  graph                 every revision as JSON (topological order)
  current               the heads recorded in the version table, as JSON
  step up|down REV      run exactly one revision's upgrade() or downgrade()
       [--sql --from REV,REV]  offline: print the SQL instead (previews)
  stamp REV [REV...]    write the version table (alembic stamp --purge)

The JSON result is the last line on stdout; anything Alembic or env.py print
goes to stderr. When EBB_ALEMBIC_DSN is set (a libpq connection string), it
becomes sqlalchemy.url (psycopg2 gets the string as its dsn), so Alembic acts
on the database ebb was told to act on; env.py files that read
config.get_main_option("sqlalchemy.url") -- the generated ones do -- need no
change. Exit status: 0 ok, 1 Alembic or the migration failed, 2 usage.
"""
import argparse
import json
import os
import sys


def fail_usage(msg):
    sys.stderr.write("ebb_alembic: %s\n" % msg)
    sys.exit(2)


def load(args):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    if not os.path.isfile(args.config):
        fail_usage("%s: no such file" % args.config)
    cfg = Config(file_=args.config, ini_section=args.name, stdout=sys.stderr)
    dsn = os.environ.get("EBB_ALEMBIC_DSN")
    if dsn:
        from sqlalchemy.engine import URL

        url = URL.create("postgresql+psycopg2", query={"dsn": dsn})
        # Config options go through ConfigParser interpolation: escape '%'.
        cfg.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg, ScriptDirectory.from_config(cfg)


def to_list(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def cmd_graph(args):
    _cfg, script = load(args)
    revs = {}
    for sc in script.walk_revisions("base", "heads"):
        deps = []
        for d in to_list(sc.dependencies):
            deps.append(script.get_revision(d).revision)
        revs[sc.revision] = {
            "revision": sc.revision,
            "down_revisions": to_list(sc.down_revision),
            "depends_on": deps,
            "branch_labels": sorted(sc.branch_labels or []),
            "doc": sc.doc or "",
            "path": os.path.abspath(sc.path),
        }
    # Topological order (parents and dependencies first), ties by id: stable output.
    order, done = [], set()
    pending = sorted(revs)
    while pending:
        progressed = []
        for rid in pending:
            r = revs[rid]
            if all(p in done for p in r["down_revisions"] + r["depends_on"]):
                progressed.append(rid)
        if not progressed:
            fail_usage("revision graph has a cycle among %s" % ", ".join(pending))
        for rid in progressed:
            order.append(revs[rid])
            done.add(rid)
        pending = [p for p in pending if p not in done]
    heads = sorted(script.get_heads())
    return {"revisions": order, "heads": heads}


def cmd_current(args):
    from alembic.runtime.environment import EnvironmentContext

    cfg, script = load(args)
    heads = []

    def fn(rev, context):
        heads.extend(context.get_current_heads())
        return []

    with EnvironmentContext(cfg, script, fn=fn, dont_mutate=True):
        script.run_env()
    return {"heads": sorted(heads)}


def cmd_step(args):
    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationStep

    cfg, script = load(args)
    rev = script.get_revision(args.revision)
    if rev is None or rev.revision != args.revision:
        fail_usage("unknown revision %s" % args.revision)
    up = args.direction == "up"
    ran = []

    def fn(heads, context):
        current = set(context.get_current_heads())
        if not args.sql:
            # Alembic's own bookkeeping would refuse most mistakes; say which one in ebb's words.
            if up and rev.revision in current:
                raise SystemExit("ebb_alembic: %s is already a current head" % rev.revision)
            if not up and rev.revision not in current:
                raise SystemExit("ebb_alembic: %s is not a current head (heads: %s); revert its "
                                 "descendants first" % (rev.revision, ", ".join(sorted(current)) or "none"))
        ran.append(rev.revision)
        if up:
            return [MigrationStep.upgrade_from_script(script.revision_map, rev)]
        return [MigrationStep.downgrade_from_script(script.revision_map, rev)]

    start = None
    if args.sql:
        start = [h for h in (args.start or "").split(",") if h] or None
    with EnvironmentContext(cfg, script, fn=fn, as_sql=args.sql, starting_rev=start,
                            destination_rev=rev.revision, tag=None):
        script.run_env()
    return {"ran": ran, "direction": args.direction}


def cmd_stamp(args):
    from alembic import command

    cfg, _script = load(args)
    command.stamp(cfg, args.revisions or ["base"], purge=True)
    return {"stamped": args.revisions}


def main(argv):
    p = argparse.ArgumentParser(prog="ebb_alembic")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("-n", "--name", default="alembic")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("graph")
    sub.add_parser("current")
    s = sub.add_parser("step")
    s.add_argument("direction", choices=["up", "down"])
    s.add_argument("revision")
    s.add_argument("--sql", action="store_true")
    s.add_argument("--from", dest="start")
    st = sub.add_parser("stamp")
    st.add_argument("revisions", nargs="*")
    args = p.parse_args(argv)
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # env.py and Alembic print here; stdout carries the result
    try:
        if args.command == "step" and args.sql:
            sys.stdout = real_stdout  # offline SQL is the result
        result = {"graph": cmd_graph, "current": cmd_current, "step": cmd_step,
                  "stamp": cmd_stamp}[args.command](args)
    except SystemExit:
        raise
    except Exception as e:  # Alembic's and the migration's errors: one line, then the traceback
        sys.stdout = real_stdout
        import traceback

        traceback.print_exc(file=sys.stderr)
        sys.stderr.write("ebb_alembic: %s: %s\n" % (type(e).__name__, e))
        return 1
    sys.stdout = real_stdout
    if not (args.command == "step" and args.sql):
        real_stdout.write(json.dumps(result, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
