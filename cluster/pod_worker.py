"""One pod on the node: its sandbox, its containers' lives, its status in the API."""

from __future__ import annotations

import copy
import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kubernetes.client.rest import ApiException
from local_cluster import images, network, probes, sandbox
from local_cluster.api import Api
from local_cluster.containers import ContainerRun, command_line, identity, now_iso
from local_cluster.environment import ConfigError, container_env
from local_cluster.layout import CLUSTER_DOMAIN
from local_cluster.volumes import Volume, VolumeBuilder

log = logging.getLogger(__name__)
TICK = 0.25
DEFAULT_GRACE = 30.0


class PodWorker(threading.Thread):
    """Runs one pod until it is deleted."""

    def __init__(
        self,
        api: Api,
        pod: dict[str, Any],
        *,
        cluster_netns: str,
        pod_netns: str,
        address: str,
        pod_dir: Path,
        repo_root: Path,
        on_exit: Callable[[PodWorker], None],
    ) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.api, self.pod = api, pod
        self.cluster_netns, self.pod_netns, self.address = cluster_netns, pod_netns, address
        self.dir, self.repo_root, self.on_exit = pod_dir, repo_root, on_exit
        self.namespace, self.pod_name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.lock = threading.Lock()
        self.deleted = threading.Event()
        self.gone = threading.Event()
        self.containers = [
            ContainerRun(spec, pod_dir / "logs" / spec["name"])
            for spec in pod["spec"]["containers"]
        ]
        self.volumes: dict[str, Volume] = {}
        self.volume_builder: VolumeBuilder | None = None
        self.start_time = now_iso()
        self.transitions: dict[str, tuple[str, str]] = {}
        self.sent: dict[str, Any] | None = None
        self.config_error: str | None = None

    # -- events from the agent -------------------------------------------------

    def update(self, pod: dict[str, Any]) -> None:
        with self.lock:
            self.pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            self.deleted.set()

    def vanish(self) -> None:
        """The pod object is gone (force-deleted): stop at once."""
        self.gone.set()
        self.deleted.set()

    # -- the loop --------------------------------------------------------------

    def run(self) -> None:
        try:
            self._prepare()
            while not self.deleted.is_set():
                self._tick()
                self._report()
                self.deleted.wait(TICK)
            self._terminate()
        except Exception:
            log.exception("pod %s/%s failed", self.namespace, self.pod_name)
        finally:
            self._teardown()
            self.on_exit(self)

    def _prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        network.create_pod(self.cluster_netns, self.pod_netns, self.address, f"v{self.uid[:8]}")
        (self.dir / "resolv.conf").write_text(
            f"nameserver {network.GATEWAY}\n"
            f"search {self.namespace}.svc.{CLUSTER_DOMAIN} svc.{CLUSTER_DOMAIN} {CLUSTER_DOMAIN}\n"
            "options ndots:5\n"
        )
        (self.dir / "hosts").write_text(
            f"127.0.0.1\tlocalhost\n::1\tlocalhost\n{self.address}\t{self.pod_name}\n"
        )
        self._report()
        self.volume_builder = VolumeBuilder(self.api, self.pod, self.dir / "volumes")
        try:
            self.volumes = self.volume_builder.build()
        except (ConfigError, ApiException) as error:
            self.config_error = str(error) if isinstance(error, ConfigError) else error.reason

    def _tick(self) -> None:
        if self.config_error is not None and not self.volumes and self.volume_builder:
            # A volume's Secret or ConfigMap may appear later, as on a kubelet.
            try:
                self.volumes = self.volume_builder.build()
                self.config_error = None
            except (ConfigError, ApiException):
                for run in self.containers:
                    run.waiting = (
                        "ContainerCreating",
                        f"MountVolume.SetUp failed: {self.config_error}",
                    )
                return
        policy = self.pod["spec"].get("restartPolicy", "Always")
        for run in self.containers:
            code = run.exited()
            if code is not None:
                log.info("%s/%s %s exited %s", self.namespace, self.pod_name, run.name, code)
                run.record_exit(code)
                if policy == "Always" or (policy == "OnFailure" and code != 0):
                    run.schedule_restart()
            if (
                run.process is None
                and run.terminated is None
                and time.monotonic() >= run.next_start
            ):
                self._start(run)
            if run.running:
                self._probe(run)

    def _start(self, run: ContainerRun) -> None:
        spec = run.spec
        image = images.project_image(spec["image"], self.repo_root)
        try:
            argv = command_line(spec, image)
        except LookupError:
            run.waiting = (
                "ErrImagePull",
                f'image "{spec["image"]}" is not available on this node: only the project\'s '
                "own images (…/model-server, …/operator) run here, or a container with a command",
            )
            run.next_start = time.monotonic() + 10
            return
        try:
            uid, gid = identity(spec, self.pod["spec"], image)
            env = container_env(
                self.pod_with_ip(), spec, image.env if image else {},
                self.api.secret_data, self.api.config_map_data,
            )  # fmt: skip
            mounts = self._mounts(spec, image)
        except ConfigError as error:
            run.waiting = ("CreateContainerConfigError", str(error))
            run.next_start = time.monotonic() + 2
            return
        script = self.dir / f"start-{run.name}.sh"
        script.write_text(
            sandbox.launch_script(
                stash=self.dir / "stash" / run.name,
                mounts=mounts,
                hostname=self.pod_name,
                workdir=spec.get("workingDir") or (image.workdir if image else "/"),
                uid=uid,
                gid=gid,
                expose=sandbox.runtime_paths(self.repo_root) if image else (),
            )
        )
        run.start(sandbox.launch_argv(self.pod_netns, script, argv), env, uid, gid)
        log.info(
            "%s/%s started %s (pid %s)",
            self.namespace,
            self.pod_name,
            run.name,
            run.process.pid if run.process else "-",
        )

    def _accounts(self, name: str, image: images.ImageConfig | None) -> tuple[Path, Path]:
        """The container's /etc/passwd and /etc/group: a base image's, plus the image's users."""
        passwd = self.dir / f"passwd-{name}"
        group = self.dir / f"group-{name}"
        users = [*sandbox.BASE_PASSWD, *(image.passwd if image else ())]
        groups = [*sandbox.BASE_GROUP, *(image.group if image else ())]
        passwd.write_text("\n".join(users) + "\n")
        group.write_text("\n".join(groups) + "\n")
        return passwd, group

    def _mounts(
        self, spec: Mapping[str, Any], image: images.ImageConfig | None
    ) -> list[sandbox.Mount]:
        passwd, group = self._accounts(spec["name"], image)
        mounts = [
            sandbox.Mount(self.dir / "resolv.conf", "/etc/resolv.conf", read_only=True),
            sandbox.Mount(self.dir / "hosts", "/etc/hosts", read_only=True),
            sandbox.Mount(passwd, "/etc/passwd", read_only=True),
            sandbox.Mount(group, "/etc/group", read_only=True),
        ]
        for item in spec.get("volumeMounts") or []:
            volume = self.volumes.get(item["name"])
            if volume is None:
                raise ConfigError(f"volumeMount {item['name']} names no volume of the pod")
            source = volume.path.resolve() / item.get("subPath", "")
            mounts.append(sandbox.Mount(source, item["mountPath"], bool(item.get("readOnly"))))
        return mounts

    def pod_with_ip(self) -> dict[str, Any]:
        pod = copy.deepcopy(self.pod)
        pod.setdefault("status", {}).update(podIP=self.address, podIPs=[{"ip": self.address}])
        return pod

    def _exec_in(self, run: ContainerRun) -> Callable[[Sequence[str]], list[str]]:
        def argv(command: Sequence[str]) -> list[str]:
            pid = run.process.pid if run.process else 0
            return sandbox.exec_argv(pid, run.uid, run.gid, command)

        return argv

    def _probe(self, run: ContainerRun) -> None:
        now = time.monotonic()
        for kind, probe in run.probes.items():
            if kind != "startup" and not run.started:
                continue
            if kind == "startup" and run.started:
                continue
            if not probe.due(now):
                continue
            ok = probes.check(probe.spec, self.address, run.spec, self._exec_in(run))
            probe.record(ok, time.monotonic())
            if kind == "startup" and probe.passing:
                run.started = True
            elif kind == "readiness":
                run.ready = probe.passing if ok else (run.ready and not probe.failed)
                if not ok:
                    run.ready = False
            if kind in ("startup", "liveness") and probe.failed:
                log.info(
                    "%s/%s %s failed its %s probe: restarting",
                    self.namespace,
                    self.pod_name,
                    run.name,
                    kind,
                )
                code = self._kill(run)
                run.record_exit(code)
                run.schedule_restart()
                run.next_start = time.monotonic()  # a probe kill restarts at once the first time
                return
        if "readiness" not in run.probes:
            run.ready = run.started

    # -- stopping --------------------------------------------------------------

    def _grace(self) -> float:
        meta, spec = self.pod["metadata"], self.pod["spec"]
        seconds = meta.get("deletionGracePeriodSeconds")
        if seconds is None:
            seconds = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
        return float(seconds)

    def _pre_stop(self, run: ContainerRun, deadline: float) -> None:
        hook = ((run.spec.get("lifecycle") or {}).get("preStop")) or {}
        if not hook or not run.running:
            return
        budget = max(deadline - time.monotonic(), 0.0)
        if "sleep" in hook:
            time.sleep(min(float(hook["sleep"]["seconds"]), budget))
        elif "exec" in hook:
            probes.run_exec(self._exec_in(run)(hook["exec"]["command"]), budget)
        elif "httpGet" in hook:
            probes.http_get(self.address, hook["httpGet"], run.spec, budget)

    def _kill(self, run: ContainerRun, grace: float | None = None) -> int:
        grace = self._grace() if grace is None else grace
        deadline = time.monotonic() + grace
        self._pre_stop(run, deadline)
        return run.stop(max(deadline - time.monotonic(), 2.0 if grace else 0.0))

    def _terminate(self) -> None:
        grace = 0.0 if self.gone.is_set() else self._grace()
        running = [run for run in self.containers if run.running]
        for run in running:
            run.ready = False
        if not self.gone.is_set():
            self._report()
        threads = [threading.Thread(target=self._stop_one, args=(run, grace)) for run in running]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if not self.gone.is_set():
            self._report()
            self.api.remove_pod(self.namespace, self.pod_name, self.uid)

    def _stop_one(self, run: ContainerRun, grace: float) -> None:
        code = self._kill(run, grace)
        run.record_exit(code, reason="Completed" if code == 0 else "Error")

    def _teardown(self) -> None:
        for run in self.containers:
            if run.running:
                run.stop(0)
        if self.volume_builder:
            self.volume_builder.release()
        network.delete(self.pod_netns)
        shutil.rmtree(self.dir / "volumes", ignore_errors=True)

    # -- status ----------------------------------------------------------------

    def _condition(self, kind: str, ok: bool, reason: str = "") -> dict[str, Any]:
        status = "True" if ok else "False"
        previous = self.transitions.get(kind)
        if previous is None or previous[0] != status:
            self.transitions[kind] = (status, now_iso())
        return {
            "type": kind,
            "status": status,
            "lastTransitionTime": self.transitions[kind][1],
            # None deletes a reason left from an earlier patch (strategic merge).
            "reason": reason if reason and not ok else None,
        }

    def _phase(self) -> str:
        if any(run.running for run in self.containers):
            return "Running"
        finished = [run.terminated for run in self.containers]
        if all(finished):
            codes = [t["exitCode"] for t in finished if t]
            return "Succeeded" if all(code == 0 for code in codes) else "Failed"
        return "Pending" if not any(r.restart_count for r in self.containers) else "Running"

    def _report(self) -> None:
        ready = all(run.ready for run in self.containers)
        status = {
            "phase": self._phase(),
            "hostIP": str(network.GATEWAY),
            "hostIPs": [{"ip": str(network.GATEWAY)}],
            "podIP": self.address,
            "podIPs": [{"ip": self.address}],
            "startTime": self.start_time,
            "conditions": [
                self._condition("PodReadyToStartContainers", True),
                self._condition("Initialized", True),
                self._condition("ContainersReady", ready, "ContainersNotReady"),
                self._condition("Ready", ready, "ContainersNotReady"),
            ],
            "containerStatuses": [run.status(run.spec["image"]) for run in self.containers],
        }
        if status == self.sent:
            return
        try:
            self.api.patch_pod_status(self.namespace, self.pod_name, status)
            self.sent = status
        except ApiException as error:
            if error.status == 404:
                self.vanish()
            else:
                log.warning("pod status %s/%s: %s", self.namespace, self.pod_name, error.reason)
