"""``gitflagger run`` (the controller) and ``gitflagger reconcile NS/NAME`` (one step, or its preview)."""

from __future__ import annotations

import ctypes
import os
import platform
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

import click

from gitflagger import killswitch
from gitflagger.adapters.git import FileDiff, RecordedStep, RepoSettings
from gitflagger.adapters.git.pack import bound_pack_windows
from gitflagger.adapters.kube import KubeCluster, LeaderElector
from gitflagger.cli.diffs import print_diffs
from gitflagger.cli.flagger_flags import (
    FLAGGER_EPILOG,
    flagger_options,
    global_notifier,
    labelling,
    log_level,
)
from gitflagger.cli.history import canary_ref
from gitflagger.cli.kube_flags import kube_flags
from gitflagger.cli.mesh import mesh_provider_option
from gitflagger.cli.repo_options import REPO_EPILOG, repo_options
from gitflagger.engine.controller import Controller
from gitflagger.engine.flux import Flux, FluxRef
from gitflagger.engine.preview import preview
from gitflagger.engine.reconcile import ApplyMode, Context, reconcile_one
from gitflagger.engine.report import Reporting
from gitflagger.engine.serving import Endpoint
from gitflagger.engine.telemetry import Telemetry, configure_logging, logger
from gitflagger.errors import PermanentError
from gitflagger.model.canary import V1BETA1
from gitflagger.model.redact import redact_text

DEFAULT_METRICS_SERVER = "http://prometheus.istio-system:9090"
LEASE_NAME = "gitflagger-leader"
MALLOC_ARENAS = 2
"""glibc malloc arenas for ``gitflagger run`` (unless $MALLOC_ARENA_MAX says otherwise); see
:func:`tune_memory`."""
_M_ARENA_MAX = -8
"""``mallopt`` parameter number of ``M_ARENA_MAX`` (glibc's malloc.h)."""


def cluster_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--kubeconfig``, ``--context``, ``--qps``, ``--burst``: how to reach the API server, and how hard."""
    for option in reversed(
        [
            click.option("--qps", type=click.FloatRange(min=0.1), default=20.0, show_default=True,
                         help="Client-side rate limit: requests per second to the API server."),
            click.option("--burst", type=click.IntRange(min=1), default=30, show_default=True,
                         help="Client-side rate limit: burst above --qps."),
        ]
    ):
        func = option(func)
    return kube_flags(func)


def analysis_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = mesh_provider_option(func)
    for option in reversed(
        [
            click.option("--metrics-server", default=DEFAULT_METRICS_SERVER, show_default=True,
                         help="Prometheus URL for the built-in metrics and inline queries."),
            click.option("--apply-mode", type=click.Choice([m.value for m in ApplyMode]), default="ssa",
                         show_default=True,
                         help="ssa: gitflagger applies; git-only: Flux or Argo CD applies the repo."),
            click.option("--gitops-tool", type=click.Choice(["flux", "other"]), default="flux",
                         show_default=True,
                         help="git-only mode: flux asks Flux to reconcile after each push and reads its "
                              "verdict; other (Argo CD) only waits for the live objects."),
            click.option("--flux-kustomization", metavar="NAMESPACE/NAME", default=None,
                         help="git-only mode: the Flux Kustomization that applies the repo prefix, e.g. "
                              "flux-system/canaries. Default: the one whose spec.path covers the Canary's "
                              "directory."),
            click.option("--flux-source", metavar="NAMESPACE/NAME", default=None,
                         help="git-only mode: the Flux GitRepository of the config repo, e.g. "
                              "flux-system/config. Default: the Kustomization's sourceRef."),
            click.option("--event-webhook", default=None, help="URL that receives every event (Flagger's)."),
        ]
    ):
        func = option(func)
    return flagger_options(func)


def build_context(kube: KubeCluster, repo: RepoSettings, opts: dict[str, Any]) -> Context:
    """Wire a reconcile :class:`Context` from the command's options.

    Intents are read from (and acknowledged in) the recorder's own repository:
    for a remote repo that is the local cache, fetched at the start of every
    pass and pushed with the pass's steps.
    """
    recorder = repo.recorder()
    return Context(
        cluster=kube,
        recorder=recorder,
        metrics_server=opts["metrics_server"],
        telemetry=Telemetry(mesh_provider=opts["mesh_provider"]),
        reporting=Reporting(event_webhook=opts.get("event_webhook"), notifier=global_notifier(opts),
                            cluster_name=opts["cluster_name"]),
        intents=recorder.intents(),
        apply_mode=ApplyMode(opts["apply_mode"]),
        mesh_provider=opts["mesh_provider"],
        labelling=labelling(opts),
        no_cross_namespace_refs=opts["no_cross_namespace_refs"],
        flux=flux_of(kube, repo, opts),
    )


def flux_of(kube: KubeCluster, repo: RepoSettings, opts: dict[str, Any]) -> Flux | None:
    """The Flux side of git-only mode (:mod:`gitflagger.engine.flux`), or None."""
    refs = flux_refs(opts)
    if refs is None:
        return None
    return Flux(kube, repo.prefix, kustomization=refs[0], source=refs[1], namespace=opts.get("namespace"))


def flux_refs(opts: dict[str, Any]) -> tuple[FluxRef | None, FluxRef | None] | None:
    """``(--flux-kustomization, --flux-source)`` when Flux applies the repo, else None.

    Checked before connecting: a malformed one, or one given where it would be
    ignored (``ssa`` mode, ``--gitops-tool other``), is a usage error naming it.
    """
    names = ("flux_kustomization", "flux_source")
    given = [f"--{name.replace('_', '-')}" for name in names if opts.get(name)]
    if opts["apply_mode"] != ApplyMode.GIT_ONLY.value or opts.get("gitops_tool", "flux") != "flux":
        if given:
            raise click.UsageError(f"{', '.join(given)} needs --apply-mode git-only with --gitops-tool flux")
        return None
    try:
        kustomization, source = (
            FluxRef.parse(opts[name], f"--{name.replace('_', '-')}") if opts.get(name) else None
            for name in names
        )
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    return kustomization, source


def tune_memory() -> Callable[[], object]:
    """Set up a long-running controller's memory; return what to call after each pass.

    * libgit2's mmap'd pack windows are bounded (:func:`bound_pack_windows`): the pages a
      pass reads in the config repo's packs would otherwise stay in the RSS.
    * glibc gives each thread that allocates its own malloc arena (up to 8 per core), and
      memory freed in one arena is not reused by another thread or returned until the
      arena's top is free. The controller's threads (one per watch, the lease, the HTTP
      endpoint, the background push) each decode JSON in their own arena: two arenas
      hold the same work in less memory. Set before any thread starts; an explicit
      $MALLOC_ARENA_MAX wins (glibc read it at startup).
    * After each pass, ``malloc_trim(0)`` hands the free pages of every arena back to
      the system (the pass's decoded objects and batch are garbage by then).

    Other C libraries (musl) have no arenas to tune: only the pack windows are bounded there.
    """
    bound_pack_windows()
    libc = _glibc()
    if libc is None:
        return lambda: None
    if "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(ctypes.c_int(_M_ARENA_MAX), ctypes.c_int(MALLOC_ARENAS))
    trim = libc.malloc_trim
    return lambda: trim(ctypes.c_size_t(0))


def _glibc() -> ctypes.CDLL | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols: glibc's, without a library search
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def connect(opts: dict[str, Any]) -> KubeCluster:
    return KubeCluster.connect(opts["kubeconfig"], opts["kube_context"], qps=opts["qps"], burst=opts["burst"])


@click.command(
    epilog="""\b
Examples:
  gitflagger run --repo /var/lib/gitflagger/config.git --metrics-server http://prometheus:9090
  gitflagger run --namespace test --repo ./config.git --once
  gitflagger run --repo ./config.git --leader-elect --metrics-addr :8080
  gitflagger run --repo ./config.git --dry-run          # print what every Canary's next step would change
  gitflagger run --repo ./config.git --apply-mode git-only --flux-kustomization flux-system/canaries
""" + FLAGGER_EPILOG + REPO_EPILOG
)
@cluster_options
@click.option("--namespace", "-n", default=None, help="Watch one namespace (all when omitted).")
@repo_options(writes=True)
@analysis_options
@click.option("--dry-run", is_flag=True, help="Preview every Canary's next step as diffs; write nothing.")
@click.option("--once", is_flag=True, help="One pass over every Canary, then exit.")
@click.option("--leader-elect", is_flag=True, help="Run only while holding the Lease (for replicas > 1).")
@click.option("--lease-namespace", default=None, envvar="POD_NAMESPACE",
              help="Namespace of the leader Lease ($POD_NAMESPACE; else --namespace, else default).")
@click.option("--metrics-addr", default=":8080", show_default=True,
              help="Serve /metrics, /healthz and /readyz here ('' to disable).")
def run(repo: RepoSettings, **opts: Any) -> int:
    """Run the controller: watch Canaries and step each one on its analysis interval.

    Every step is committed to --repo (one commit per step that changed
    something), applied with server-side apply, and reported on the Canary's
    status and Events. Exits non-zero when leadership is lost.
    """
    configure_logging(level=log_level(opts))
    killswitch.check()
    flux_refs(opts)
    after_pass = tune_memory() if not opts["dry_run"] and not opts["once"] else None
    kube = connect(opts)
    if opts["dry_run"]:
        items, _ = kube.list_canaries(opts["namespace"])
        for obj in items:
            _print_preview(_ref_of(obj), kube, obj, repo, opts)
        return 0
    with repo.created_only_if_written():  # a controller that never records leaves no empty repo behind
        return _run_controller(kube, repo, opts, after_pass)


def _run_controller(
    kube: KubeCluster, repo: RepoSettings, opts: dict[str, Any], after_pass: Callable[[], object] | None
) -> int:
    ctx = build_context(kube, repo, opts)
    controller = Controller(kube, ctx, namespace=opts["namespace"], elector=_elector(kube, opts),
                            after_pass=after_pass)
    if opts["once"]:
        controller.sync()
        outcomes = controller.run_pass(everything=True)
        for outcome in outcomes:
            subject = outcome.decision.subject if outcome.decision else outcome.skipped or outcome.error
            commit = f" [{outcome.commit[:10]}]" if outcome.commit else ""
            click.echo(redact_text(f"{outcome.canary}: {subject}{commit}"))
        return 1 if any(o.error and o.skipped != "invalid" for o in outcomes) else 0
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # Watch caches of what a step reads and applies, synced before the first pass: a step then
    # sends only its writes. Ready (/readyz) once the Canaries and every cache have been listed.
    caches = kube.start_caches(opts["namespace"], provider=opts["mesh_provider"])
    endpoint = None
    if opts["metrics_addr"]:
        endpoint = Endpoint(opts["metrics_addr"], ctx.telemetry.registry,
                            ready=lambda: controller.synced.is_set() and caches.synced,
                            unhealthy=lambda: controller.unhealthy() or caches.unhealthy())
    try:
        if not caches.wait_synced(stop):
            return 0
        logger(component="cache").info("caches synced", **caches.stats())
        return controller.run(stop)
    finally:
        kube.stop_caches()
        if endpoint is not None:
            endpoint.close()


@click.command(
    epilog="""\b
Examples:
  gitflagger reconcile test/podinfo --repo ./config.git
  gitflagger reconcile test/podinfo --repo ./config.git --dry-run
""" + REPO_EPILOG
)
@click.argument("canary", metavar="NS/NAME", callback=canary_ref)
@cluster_options
@repo_options(writes=True)
@analysis_options
@click.option("--dry-run", is_flag=True,
              help="Print unified diffs against the repo head and live state; write nothing anywhere. "
              "Exit 1 when there is a diff, 0 when there is none.")
def reconcile(canary: str, repo: RepoSettings, **opts: Any) -> int:
    """Run one step of the Canary NS/NAME now, whatever its schedule says."""
    configure_logging(level=log_level(opts))
    flux_refs(opts)
    namespace, _, name = canary.partition("/")
    kube = connect(opts)
    obj = kube.get(V1BETA1, "Canary", namespace, name)
    if obj is None:
        raise PermanentError(f"Canary {canary} not found")
    if opts["dry_run"]:
        return 1 if _print_preview(canary, kube, obj, repo, opts) else 0  # as `flux diff`: 1 = a diff
    with repo.created_only_if_written():  # an invalid Canary leaves no empty repo behind
        ctx = build_context(kube, repo, opts)
        ctx.recorder.sync()  # a remote repo: see the intents pushed since the last fetch
        outcome = reconcile_one(ctx, obj)
        ctx.recorder.flush()
    if outcome.error:
        raise PermanentError(f"{canary}: {outcome.error}")
    assert outcome.decision is not None
    click.echo(redact_text(outcome.decision.subject))
    for event in outcome.decision.events:  # Events may quote a webhook's answer or URL: redacted
        click.echo(f"  {'Warning' if event.warning else 'Normal'}: {redact_text(event.message)}")
    click.echo(f"commit: {outcome.commit or 'none (nothing changed)'}")
    return 0


def _print_preview(
    canary: str, kube: KubeCluster, obj: dict[str, Any], repo: RepoSettings, opts: dict[str, Any]
) -> bool:
    """Decide the next step without acting on it; print its diffs, repo head first, then live; any diff?"""
    file_diffs: list[FileDiff] = []

    def collect(step: RecordedStep, diffs: Sequence[FileDiff]) -> None:
        file_diffs.extend(diffs)

    recorder = repo.recorder(dry_run=collect)
    # A read-only context: the dry-run recorder writes nothing, and there is no intents store
    # that could acknowledge anything.
    ctx = Context(cluster=kube, recorder=recorder, metrics_server=opts["metrics_server"],
                  apply_mode=ApplyMode(opts["apply_mode"]), labelling=labelling(opts),
                  no_cross_namespace_refs=opts["no_cross_namespace_refs"])
    result = preview(ctx, obj, recorder)
    click.echo(redact_text(f"# {canary}: {result.subject} (dry run: nothing recorded, applied or reported)"))
    for event in result.events:
        click.echo(f"#   event: {redact_text(str(event))}")
    if result.actions:
        click.echo(f"#   actions: {', '.join(result.actions)}")
    if result.gates_assumed:
        click.echo(f"#   gates assumed to pass (not called): {', '.join(result.gates_assumed)}")
    print_diffs(f"{canary}: against the config repo ({repo.remote.display}, {repo.branch})", file_diffs)
    live = [FileDiff(d.name, "modified", d.text) for d in result.changes]
    print_diffs(f"{canary}: against the live objects (server-side dry run)", live)
    return bool(file_diffs or live)


def _elector(kube: KubeCluster, opts: dict[str, Any]) -> LeaderElector | None:
    if not opts["leader_elect"]:
        return None
    namespace = opts["lease_namespace"] or opts["namespace"] or "default"
    identity = os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
    return LeaderElector(kube, namespace, LEASE_NAME, identity)


def _ref_of(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"
