"""``ganscape study plan|run|status|report``: sweeps of runs, trained, evaluated and compared, e.g.
``study plan landscape-toy --out studies/toy`` (one task per run), ``study run studies/toy --all --workers 2`` (local
subprocesses, one GPU each with ``--gpus 0,1``; or ``--backend ray``), ``study status studies/toy``, ``study report studies/toy --out report.html`` (or
``report.csv``)."""
from __future__ import annotations

from ganscape.cli.common import positive, writable_file
from ganscape.registry import ConfigError


def register(sub) -> None:
    p = sub.add_parser("study", help="plan, run, monitor and report a study (a sweep of runs)")
    cmds = p.add_subparsers(dest="study_command", required=True, metavar="ACTION")

    plan = cmds.add_parser("plan", help="expand a study YAML (or built-in study name) into tasks")
    plan.add_argument("study", help="study YAML file, or a built-in study (see `ganscape study list`)")
    plan.add_argument("--out", required=True, metavar="STUDY_DIR",
                      help="study folder (created; planning again into it is a no-op)")
    plan.add_argument("--inception-weights", default=None, metavar="PATH",
                      help="FID Inception weights for the study's eval (sets eval.inception_weights)")
    plan.set_defaults(func=run_plan)

    run = cmds.add_parser("run", help="train and evaluate tasks (skips finished ones, resumes interrupted ones)")
    run.add_argument("study_dir")
    which = run.add_mutually_exclusive_group(required=True)
    which.add_argument("--task", type=int, action="append", metavar="N", help="run task N (repeatable)")
    which.add_argument("--all", action="store_true", help="run every unfinished task")
    run.add_argument("--backend", choices=("local", "ray"), default="local", help="local worker processes, or Ray")
    run.add_argument("--workers", type=int, default=1, help="local: parallel worker processes")
    run.add_argument("--threads", type=int, default=0, help="local: torch threads per worker (default cores/workers)")
    run.add_argument("--gpus", default=None, metavar="IDS",
                     help="local: GPUs for the workers, e.g. 0,1,2,3: worker i sees only GPU IDS[i %% len(IDS)] "
                          "(CUDA_VISIBLE_DEVICES); more workers than GPUs share them round-robin")
    run.add_argument("--address", default=None, help="ray: address of an existing cluster (default: start a local one)")
    run.add_argument("--num-cpus", type=int, default=None, help="ray: CPUs of the local Ray instance it starts")
    run.add_argument("--skip-failed", action="store_true", help="do not retry tasks that failed before")
    run.add_argument("--inception-weights", default=None, metavar="PATH",
                     help="FID Inception weights for evaluation (replaces the planned eval.inception_weights)")
    run.add_argument("--executor", default=None, metavar="MODULE:FUNCTION",
                     help="local: what executes one task (default: train and evaluate its run)")
    run.set_defaults(func=run_run, resumes=True)

    status = cmds.add_parser("status", help="done / running / failed tasks, with errors")
    status.add_argument("study_dir")
    status.add_argument("--verbose", "-v", action="store_true", help="print full tracebacks")
    status.set_defaults(func=run_status)

    report = cmds.add_parser("report", help="write the comparison report (HTML, or CSV by extension)")
    report.add_argument("study_dir")
    report.add_argument("--out", required=True, type=writable_file, help="report.html or report.csv")
    report.add_argument("--metric", default=None, help="metric to rank runs by (default: the study's report.metrics)")
    report.add_argument("--factor", default=None,
                        help="the budget plot's factor, e.g. penalty.name (default: loss.name when it varies)")
    report.set_defaults(func=run_report)

    cmds.add_parser("list", help="list built-in studies").set_defaults(func=run_list)


def run_plan(args) -> int:
    from ganscape.studies import read_study, write_plan

    spec = read_study(args.study)
    if args.inception_weights:
        spec.eval["inception_weights"] = args.inception_weights
    tasks, written = write_plan(spec, args.out)
    verb = ("planned" if written == ["plan"] else f"already planned (updated: {', '.join(written)})" if written
            else "already planned (unchanged)")
    print(f"{verb}: {len(tasks)} tasks of study {spec.name!r} in {args.out}")
    return 0


def run_run(args) -> int:
    from ganscape.studies.store import Store

    ids = args.task
    positive(args.workers, "--workers")
    if args.threads < 0:
        raise ConfigError(f"--threads: expected 0 (share the cores between the workers) or a positive number, got "
                          f"{args.threads}")
    check_backend_options(args)
    gpus = check_gpus(args)
    if args.executor:
        from ganscape.studies.worker import check_executor
        check_executor(args.executor)  # a bad one is one usage line here, not a traceback from every worker
    with Store(args.study_dir, create=False) as store:
        for task_id in ids or ():
            store.task(task_id)  # raises ConfigError for an unknown id
        if args.inception_weights:
            set_inception_weights(store, args.inception_weights)
        requeued = store.requeue(ids, retry_failed=not args.skip_failed)
    if any(requeued.values()):
        print(f"requeued {requeued['interrupted']} interrupted and {requeued['failed']} failed tasks")
    if args.backend == "ray":
        from ganscape.studies.backends.ray import run_ray
        run_ray(args.study_dir, ids, address=args.address, num_cpus=args.num_cpus)
    else:
        from ganscape.studies.backends.local import run_local
        run_local(args.study_dir, ids, workers=args.workers, threads=args.threads, executor=args.executor, gpus=gpus)
    with Store(args.study_dir) as store:
        counts = store.counts() if not ids else selected_counts(store.tasks(), ids)
    print(summary(counts) if not ids else f"selected {summary(counts)}")
    return 0 if not counts.get("failed") and not counts.get("running") else 1  # of the tasks this command ran


def selected_counts(tasks: list[dict], ids: list[int]) -> dict[str, int]:
    """Status counts of the tasks ``ids`` (``study run --task``)."""
    chosen = [t for t in tasks if t["id"] in set(ids)]
    return {s: sum(t["status"] == s for t in chosen) for s in ("done", "running", "pending", "failed")}


# option -> (its default, why it is refused with the other backend); given, it has no effect there
LOCAL_ONLY = {"workers": (1, None), "threads": (0, None), "executor": (None, None),
              "gpus": (None, "Ray gives each task the GPUs of the study's resources.gpus (set e.g. "
                             "`resources: {gpus: 1}` in the study YAML)")}
RAY_ONLY = {"address": (None, None), "num_cpus": (None, None)}


def check_backend_options(args) -> None:
    """An option of the other backend is one line: Ray ran every task with full training whatever --executor said,
    and the local backend ignored --address without a word."""
    other, backend = (LOCAL_ONLY, "local") if args.backend == "ray" else (RAY_ONLY, "ray")
    for name, (default, why) in other.items():
        if getattr(args, name) != default:
            raise ConfigError(f"--{name.replace('_', '-')}: for --backend {backend} only; "
                              f"{why or f'this command runs --backend {args.backend}'}")


def check_gpus(args) -> list[int] | None:
    """``--gpus`` (local backend: ``check_backend_options``), parsed and checked against this machine's CUDA devices
    before any work starts."""
    from ganscape.studies.backends.local import parse_gpus

    if args.gpus is None:
        return None
    return parse_gpus(args.gpus)


def set_inception_weights(store, path: str) -> None:
    """Check ``path`` against the study's protocol and store it as its eval.inception_weights."""
    from ganscape.metrics.protocol import EVAL_DEFAULTS, check_inception_weights

    spec = {**EVAL_DEFAULTS, **store.get_meta("eval", {})}
    check_inception_weights(path, spec["inception_sha256"], key="--inception-weights")
    store.set_meta("eval", {**spec, "inception_weights": str(path)})


def summary(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    return f"{total} tasks: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("done", "running", "pending", "failed"))


def run_status(args) -> int:
    from ganscape.studies.store import Store

    with Store(args.study_dir, create=False, read_only=True) as store:
        tasks, name, counts = store.tasks(), store.get_meta("name"), store.counts()
    print(f"study {name}: {summary(counts)}")
    for t in tasks:
        took = f"{t['train_seconds'] + t['eval_seconds']:.1f}s" if t["status"] == "done" else ""
        line = f"  {t['id']:4d} {t['status']:8s} {took:>8s}  {t['name']}"
        if t["note"]:
            line += f"  [{t['note'].splitlines()[0][:100]}]"
        print(line)
        if t["status"] == "failed" and t["error"]:
            lines = t["error"].strip().splitlines()
            for err_line in (lines if args.verbose else lines[-1:]):
                print(f"         {err_line}")
    return 0


def run_report(args) -> int:
    from ganscape.studies import Store
    from ganscape.studies.report import write_report

    if not str(args.out).lower().endswith((".html", ".htm", ".csv")):
        raise ConfigError(f"--out: {args.out}: the report is written as HTML or CSV; name a .html or .csv file")
    if args.metric is not None:
        from ganscape.studies.spec import check_metric_name
        check_metric_name(args.metric, "--metric")
    if args.factor is not None and str(args.out).lower().endswith(".csv"):
        raise ConfigError("--factor: the budget plot is part of the HTML report; a CSV report has no plot "
                          "(write report.html, or leave --factor out)")
    if args.factor is not None:
        with Store(args.study_dir, create=False, read_only=True) as store:
            levels: dict[str, set[str]] = {}
            for task in store.tasks():
                for key, value in task["factors"].items():
                    if key not in ("seed", "sample"):
                        levels.setdefault(key, set()).add(str(value))
        factors = sorted(levels)
        if args.factor not in factors:
            raise ConfigError(f"--factor: {args.factor!r} is not a factor of this study; factors: {', '.join(factors)}")
        if len(levels[args.factor]) == 1:  # the plot would compare another factor under the heading's
            varying = [k for k in factors if len(levels[k]) > 1]
            (value,) = levels[args.factor]
            raise ConfigError(f"--factor: {args.factor!r} takes one value in this study ({value}), so there is "
                              f"nothing to compare; factors that vary: {', '.join(varying) or 'none'}")
    print(f"wrote {write_report(args.study_dir, args.out, metric=args.metric, factor=args.factor)}")
    return 0


def run_list(args) -> int:
    from ganscape.studies.spec import read_study, builtin_names

    for name in builtin_names():
        lines = read_study(name).description.strip().splitlines()
        print(f"{name:24s} {lines[0] if lines else ''}")
    return 0

