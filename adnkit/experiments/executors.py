"""How `adnkit bench` runs the cells of its matrix: one after another in this process, or as Ray tasks.

SerialExecutor  the cells in the requested order, in this process (the default, `--executor serial`).
RayExecutor     one Ray task per cell (`--executor ray`): on a local Ray instance that it starts on this machine,
                or on a Ray cluster it joins (`--ray-address auto`, `ray://HOST:PORT`). Each task asks Ray for
                `--gpus-per-run` GPUs (a fraction lets several runs share one GPU) and `--cpus-per-run` CPUs;
                where and when a cell runs is Ray's scheduling, not ours.

Both call the same plain function, adnkit.experiments.cells.cell_row (reuse a finished run folder, else train into
it; a failure becomes a row with a one-line reason and error.txt), so results.csv, the summary and the report do not
depend on the executor: rows keep the requested order whatever order the tasks finish in, and results.csv is
rewritten as each cell finishes. A Ray task whose worker crashes or is killed counts as a failed cell, never a
hang; Ctrl-C cancels the outstanding tasks. Running on a cluster: docs/cluster.md.
"""

from __future__ import annotations

import logging
import math
import os
import platform
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from adnkit.core.errors import AdnkitError
from adnkit.experiments.cells import Runner, cell_row, one_line, record_failure, reused_row

RAY_INSTALL = "pip install 'adnkit[ray]'"
EXECUTORS = ("serial", "ray")
# Ray's raylet gives its helper processes a fixed time to start; on a busy machine the first start can miss it
# (the raylet exits, ray.init raises "The current node timed out during startup"): try once more.
LOCAL_START_ATTEMPTS = 2
_MAX_REASON = 300  # Ray's own messages (out-of-memory kills) can run to pages; results.csv keeps one short line


class SerialExecutor:
    """The cells one after another in this process, in the requested order (the default)."""

    name = "serial"
    inner_progress = True  # each run may show its own progress bars

    def run(self, cells: list[dict], rows: list[dict], runner: Runner, save: Callable[[], None],
            progress: bool) -> None:
        """Run every cell, storing its row in rows[i] and calling save() after each."""
        failed = 0
        bar = tqdm(cells, desc="bench", unit="run", disable=not progress)
        try:
            for i, cell in enumerate(bar):
                bar.set_postfix_str(cell["run_dir"].name, refresh=False)
                rows[i] = cell_row(cell, runner)
                save()
                if rows[i]["status"] == "failed":
                    failed += 1
                    if progress:
                        bar.write(f"failed: {cell['run_dir'].name}: {rows[i]['reason']}")
                    bar.set_description(f"bench ({failed} failed)")
        finally:
            bar.close()


def import_ray():
    """The ray module, or a one-line AdnkitError with the install command."""
    try:
        import ray
    except ImportError:
        raise AdnkitError(f"--executor ray needs Ray, which is not installed; install it with {RAY_INSTALL}") from None
    return ray


def _resource(flag: str, value) -> float:
    """A task's resource amount as Ray takes it: >= 0, and a fraction only below 1."""
    try:
        amount = float(value)
    except (TypeError, ValueError):
        raise AdnkitError(f"{flag} {value!r}: expected a number such as 1 or 0.5") from None
    if not math.isfinite(amount) or amount < 0:
        raise AdnkitError(f"{flag} {value!r}: must be 0 or more, e.g. {flag} 1 or {flag} 0.5")
    if amount > 1 and not amount.is_integer():
        raise AdnkitError(f"{flag} {value!r}: Ray takes fractions only below 1 (runs sharing one device) or whole "
                          f"numbers above it; use e.g. {flag} 0.5 or {flag} 2")
    return amount


def _cell_task(cell: dict, runner: Runner, cwd: str, env: dict[str, str], threads: int) -> dict:
    """One cell inside a Ray worker: the driver's working folder (so relative --out and data paths mean the same),
    its ADNKIT_* settings and `threads` torch threads, then the same cell_row as the serial path."""
    os.environ.update(env)
    if not os.path.isdir(cwd):
        raise AdnkitError(f"{platform.node()}: the bench's working folder {cwd} is not on this node; run adnkit "
                          "bench from a folder on shared storage that every node sees at the same path")
    torch.set_num_threads(threads)  # the same thread count gives the same floating-point sums as a serial run
    before = os.getcwd()
    os.chdir(cwd)
    try:
        return cell_row(cell, runner)
    finally:
        os.chdir(before)


class RayExecutor:
    """One Ray task per cell: `address` None starts a local Ray instance (node address 127.0.0.1, which Ray maps
    to this machine's own address; no dashboard; shut down afterwards);
    'auto' or 'ray://HOST:PORT' joins a running cluster. If Ray is already initialised in this process (a
    notebook, a test), that instance is used as it is.

    gpus_per_run: GPUs each task asks for (fractions share a GPU); None = 1 when the cluster has a GPU and the
    runs do not ask for device cpu, else 0. cpus_per_run: CPUs each task asks for; a task runs torch with that
    many threads (at least 1). Ray schedules; it does not limit a task's memory (docs/cluster.md).
    """

    name = "ray"
    inner_progress = False  # runs in other processes: their bars would interleave; the driver shows one bar

    def __init__(self, address: str | None = None, gpus_per_run: float | None = None, cpus_per_run: float = 1.0,
                 init_kwargs: dict | None = None):
        self.ray = import_ray()
        self.address = address or None
        self.gpus_per_run = None if gpus_per_run is None else _resource("--gpus-per-run", gpus_per_run)
        self.cpus_per_run = _resource("--cpus-per-run", cpus_per_run)
        self.init_kwargs = dict(init_kwargs or {})

    # --- connecting --------------------------------------------------------------------------------------------
    def _connect(self) -> bool:
        """Start or join Ray unless this process already has it; True when this call did (and shuts it down)."""
        ray = self.ray
        if ray.is_initialized():
            return False
        if self.address is not None:
            try:
                ray.init(address=self.address, **self.init_kwargs)
            except Exception as exc:  # noqa: BLE001 - Ray raises plain Exception/ConnectionError here
                raise AdnkitError(f"--ray-address {self.address}: could not join the Ray cluster "
                                  f"({one_line(exc)}); check that `ray start --head` runs there and this machine "
                                  "reaches it") from None
            return True
        for _attempt in range(LOCAL_START_ATTEMPTS):
            try:
                ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1",
                         logging_level=logging.WARNING, **self.init_kwargs)
                return True
            except Exception as exc:  # noqa: BLE001 - Ray raises a plain Exception when start-up times out
                ray.shutdown()
                error = exc
        raise AdnkitError(f"could not start a local Ray instance ({one_line(error)}); on a busy machine its "
                          "start-up can time out: run the command again, or start Ray once with `ray start "
                          "--head` and pass --ray-address auto")

    def _nodes(self) -> list[dict]:
        return [node.get("Resources", {}) for node in self.ray.nodes() if node.get("Alive")]

    def _gpus(self, cells: list[dict]) -> float:
        if self.gpus_per_run is not None:
            return self.gpus_per_run
        if all(str(cell["cfg"].device) == "cpu" for cell in cells):
            return 0.0
        return 1.0 if self.ray.cluster_resources().get("GPU", 0) > 0 else 0.0

    def _check_feasible(self, gpus: float) -> None:
        """A task no node can hold would wait for ever: refuse it before submitting anything."""
        nodes = self._nodes()
        for flag, amount, key, fix in (
                ("--gpus-per-run", gpus, "GPU", "lower it, or use --gpus-per-run 0 --device cpu"),
                ("--cpus-per-run", self.cpus_per_run, "CPU", "lower it")):
            most = max((node.get(key, 0.0) for node in nodes), default=0.0)
            if amount > most:
                raise AdnkitError(f"{flag} {amount:g}: no node of the Ray cluster has that many {key}s (the most "
                                  f"on one node: {most:g}); {fix}")

    def _slots(self, gpus: float) -> int:
        """How many tasks fit at once (an estimate from the nodes' totals, for the progress bar only)."""
        slots = 0.0
        for node in self._nodes():
            fits = [node.get("CPU", 0.0) // self.cpus_per_run] if self.cpus_per_run > 0 else []
            fits += [node.get("GPU", 0.0) // gpus] if gpus > 0 else []
            slots += min(fits) if fits else math.inf
        return int(slots) if math.isfinite(slots) else 1 << 30

    # --- running -----------------------------------------------------------------------------------------------
    def run(self, cells: list[dict], rows: list[dict], runner: Runner, save: Callable[[], None],
            progress: bool) -> None:
        """Reuse finished cells here, submit one task for every other cell, and fill rows[i] as tasks finish."""
        todo = []
        for i, cell in enumerate(cells):
            row = reused_row(cell)
            if row is None:
                todo.append(i)
            else:
                rows[i] = row
        save()
        bar = tqdm(total=len(cells), initial=len(cells) - len(todo), desc="bench (ray)", unit="run",
                   disable=not progress)
        try:
            if todo:
                started = self._connect()
                try:
                    self._run_tasks(cells, rows, runner, save, progress, todo, bar)
                finally:
                    if started:
                        self.ray.shutdown()
        finally:
            bar.close()

    def _run_tasks(self, cells, rows, runner, save, progress, todo, bar) -> None:
        ray = self.ray
        gpus = self._gpus(cells)
        self._check_feasible(gpus)
        slots = self._slots(gpus)
        task = ray.remote(_cell_task)
        # max_retries=0: a crashed run is a failed cell (rerun the bench to try it again, it resumes), not a loop.
        options = dict(num_cpus=self.cpus_per_run, num_gpus=gpus, max_retries=0)
        env = {k: v for k, v in os.environ.items() if k.startswith("ADNKIT_")}
        threads = max(1, int(self.cpus_per_run))
        runner_ref = ray.put(runner)
        refs = {task.options(**options, name=f"adnkit {cells[i]['run_dir'].name}").remote(
            cells[i], runner_ref, os.getcwd(), env, threads): i for i in todo}
        pending, failed = list(refs), 0
        try:
            while pending:
                bar.set_postfix_str(f"running {min(len(pending), slots)}, queued {max(0, len(pending) - slots)}, "
                                    f"failed {failed}")
                done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
                for ref in done:
                    i = refs[ref]
                    try:
                        rows[i] = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - a crashed, killed or cancelled task fails its cell
                        rows[i] = record_failure(cells[i], self._reason(exc), f"{type(exc).__name__}: {exc}\n")
                    save()
                    bar.update(1)
                    if rows[i]["status"] == "failed":
                        failed += 1
                        if progress:
                            bar.write(f"failed: {cells[i]['run_dir'].name}: {rows[i]['reason']}")
                        bar.set_description(f"bench (ray, {failed} failed)")
            bar.set_postfix_str(f"running 0, queued 0, failed {failed}")
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise

    def _reason(self, exc: BaseException) -> str:
        """One line: what the task raised (a RayTaskError's cause), else Ray's own error (worker died, ...)."""
        cause = getattr(exc, "cause", None)
        text = one_line(cause if isinstance(exc, self.ray.exceptions.RayTaskError) and cause is not None else exc)
        return text if len(text) <= _MAX_REASON else text[:_MAX_REASON - 3] + "..."


# --- command line ------------------------------------------------------------------------------------------------
def add_executor_flags(parser) -> None:
    """--executor, --ray-address, --gpus-per-run, --cpus-per-run (adnkit bench and adnkit demo)."""
    group = parser.add_argument_group("where the cells run (docs/cluster.md)")
    group.add_argument("--executor", choices=EXECUTORS, default="serial",
                       help="serial: one cell after another in this process (default); ray: one Ray task per "
                            f"cell, on this machine or a Ray cluster (needs {RAY_INSTALL})")
    group.add_argument("--ray-address", metavar="ADDR", default=None,
                       help="with --executor ray: auto or ray://HOST:PORT joins a running Ray cluster "
                            "[default: start a local Ray instance on this machine]")
    group.add_argument("--gpus-per-run", metavar="F", type=float, default=None,
                       help="with --executor ray: GPUs per cell, fractions share a GPU (0.5 = two runs per GPU; "
                            "each must then fit in its share of memory) [default 1 when the cluster has a GPU, else 0]")
    group.add_argument("--cpus-per-run", metavar="F", type=float, default=None,
                       help="with --executor ray: CPUs per cell, also its torch threads [default 1]")


def executor_from_args(args):
    """The executor the flags ask for; Ray flags without --executor ray are a mistake, said in one line."""
    if args.executor == "ray":
        cpus = 1.0 if args.cpus_per_run is None else args.cpus_per_run
        return RayExecutor(address=args.ray_address, gpus_per_run=args.gpus_per_run, cpus_per_run=cpus)
    given = [flag for flag, value in (("--ray-address", args.ray_address), ("--gpus-per-run", args.gpus_per_run),
                                      ("--cpus-per-run", args.cpus_per_run)) if value is not None]
    if given:
        raise AdnkitError(f"{', '.join(given)} only apply to Ray; add --executor ray")
    return SerialExecutor()
