"""The deployment files cannot run here (no Docker engine or cluster): check their syntax, that
they wire the parts together as the code expects, and what they expose: which secrets each
service gets, that none is on a command line, and who may connect to whom. (The balancer's
nginx, Redis and the Rasa command are run for real in tests/integration/test_deploy_servers.py.)"""
import re
import subprocess
import sys

import pytest
import yaml

from bot.config import paths
from bot.serve.processes import project_env
from bot.config.secrets import MIN_LENGTH

DEPLOY = paths.ROOT / "deploy"
RASA_COMMAND_START = ["python", "-m", "bot.serve.rasa_server", "-m", "bot.serve.rasa_cli", "run"]


def compose():
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def k8s_docs():
    return [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "assistant.yaml").read_text()) if d]


def deployments():
    return {d["metadata"]["name"]: d for d in k8s_docs() if d["kind"] == "Deployment"}


def test_compose_file_is_valid_and_complete():
    services = compose()["services"]
    assert {"rasa-1", "rasa-2", "actions", "worker", "console", "balancer", "postgres", "redis"} <= set(services)
    for name in ("rasa-1", "rasa-2"):
        command = services[name]["command"]
        assert command[:len(RASA_COMMAND_START)] == RASA_COMMAND_START
        assert "deploy/endpoints.replicas.yml" in command and "--enable-api" in command
        assert services[name]["environment"]["CLINIC_ENV"] == "production"
    # No secret value is written in the file: they all come from the environment.
    text = (DEPLOY / "docker-compose.yml").read_text()
    for secret in ("RASA_API_TOKEN", "WEBCHAT_SECRET", "POSTGRES_PASSWORD", "ACTION_SERVER_TOKEN", "REDIS_PASSWORD"):
        assert f"${{{secret}:?" in text
    assert services["console"]["ports"] == ["127.0.0.1:8081:8081"]
    # What is published is what listens: the console on the container's addresses (the
    # published port cannot reach a server bound to the container's own loopback), the
    # balancer on exactly the ports nginx.conf listens on.
    console = services["console"]["command"]
    assert console[console.index("--host") + 1] == "0.0.0.0" and console[console.index("--port") + 1] == "8081"
    listens = set(re.findall(r"^\s*listen\s+(\d+)", (DEPLOY / "nginx.conf").read_text(), flags=re.M))
    published = {p.split(":")[-1] for p in services["balancer"]["ports"]}
    assert listens and published == listens, (published, listens)


def test_kubernetes_manifests_are_valid():
    docs = k8s_docs()
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {("Deployment", "rasa"), ("Service", "rasa"), ("Deployment", "actions"), ("Deployment", "worker"),
            ("Deployment", "console"), ("ConfigMap", "clinic-config"), ("Deployment", "redis"),
            ("Service", "redis")} <= kinds
    for d in docs:
        assert d["apiVersion"] in ("v1", "apps/v1", "networking.k8s.io/v1") and d["metadata"]["name"]
        if d["kind"] == "Deployment":
            spec = d["spec"]
            assert spec["selector"]["matchLabels"] == spec["template"]["metadata"]["labels"]
            assert spec["template"]["spec"]["containers"][0]["image"]
            # None of them talks to the Kubernetes API: no credentials for it in the pod.
            assert spec["template"]["spec"]["automountServiceAccountToken"] is False
    rasa = deployments()["rasa"]
    assert rasa["spec"]["replicas"] >= 2
    # The shared database being down must not take every replica out of the Service (the
    # fail-closed reply must still be served), and the outage spool must outlive a pod.
    pod = rasa["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][:len(RASA_COMMAND_START)] == RASA_COMMAND_START
    assert container["readinessProbe"]["httpGet"]["path"] == "/"
    assert {"name": "SPOOL_DIR", "value": "/spool"} in container["env"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "clinic-spool"
    assert ("PersistentVolumeClaim", "clinic-spool") in kinds


def test_the_balancer_exposes_only_the_patient_facing_routes():
    conf = (DEPLOY / "nginx.conf").read_text()
    assert "location / { return 404; }" in conf
    exposed = [line.split("location", 1)[1].split("{")[0].strip() for line in conf.splitlines()
               if line.strip().startswith("location") and "return 404" not in line]
    for route in exposed:
        assert any(p in route for p in ("webchat", "telegram", "socket", "health/ready")), route
    assert "limit_req zone=sessions" in conf
    # The worker and the console reach Rasa's API directly, never through the balancer.
    services = compose()["services"]
    assert all(services[s]["environment"]["RASA_URL"].startswith("http://rasa-") for s in ("worker", "console"))


def test_replica_endpoints_use_the_atomic_lock_store():
    endpoints = yaml.safe_load((DEPLOY / "endpoints.replicas.yml").read_text())
    # The action server only takes calls that carry the shared secret.
    assert endpoints["action_endpoint"]["headers"] == {"X-Action-Token": "${ACTION_SERVER_TOKEN}"}
    assert endpoints["lock_store"]["type"] == "bot.storage.lock_store.AtomicRedisLockStore"
    assert endpoints["tracker_store"]["type"] == "bot.storage.tracker_store.CachedSQLTrackerStore"
    # Rasa falls back to an in-memory store, with only a warning, if these do not import.
    from bot.storage.lock_store import AtomicRedisLockStore
    from bot.storage.tracker_store import CachedSQLTrackerStore

    assert AtomicRedisLockStore and CachedSQLTrackerStore


# ------------------------------------------------------------------------------------ secrets

# The secrets of the compose file (variables of its .env) and which service uses which: the
# Rasa server keeps the tracker store and the lock store, calls the action server, serves the
# API, signs web chat sessions and runs the Telegram channel; the worker sends patients
# messages through Rasa's API and staff their notifications; the console sends staff replies
# through Rasa's API.
COMPOSE_SECRETS = {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "RASA_API_TOKEN", "ACTION_SERVER_TOKEN", "WEBCHAT_SECRET",
                   "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "STAFF_WEBHOOK_SECRET", "STAFF_TELEGRAM_TOKEN"}
RASA_SECRETS = {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "RASA_API_TOKEN", "ACTION_SERVER_TOKEN", "WEBCHAT_SECRET",
                "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"}
COMPOSE_EXPECTED = {
    "rasa-1": RASA_SECRETS, "rasa-2": RASA_SECRETS,
    "actions": {"POSTGRES_PASSWORD", "ACTION_SERVER_TOKEN"},
    "worker": {"POSTGRES_PASSWORD", "RASA_API_TOKEN", "STAFF_WEBHOOK_SECRET", "STAFF_TELEGRAM_TOKEN"},
    "console": {"POSTGRES_PASSWORD", "RASA_API_TOKEN"},
    "balancer": set(),
    "postgres": {"POSTGRES_PASSWORD"},
    "redis": {"REDIS_PASSWORD"},
}
# The same in Kubernetes, as keys of the clinic-secrets Secret (DATABASE_URL holds the
# database password; the optional Telegram and notifier settings are kept there too).
K8S_EXPECTED = {
    "rasa": {"DATABASE_URL", "REDIS_PASSWORD", "RASA_API_TOKEN", "ACTION_SERVER_TOKEN", "WEBCHAT_SECRET",
             "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_WEBHOOK_URL"},
    "actions": {"DATABASE_URL", "ACTION_SERVER_TOKEN"},
    "worker": {"DATABASE_URL", "RASA_API_TOKEN", "STAFF_WEBHOOK_URL", "STAFF_WEBHOOK_SECRET",
               "STAFF_TELEGRAM_TOKEN", "STAFF_TELEGRAM_CHAT_ID"},
    "console": {"DATABASE_URL", "RASA_API_TOKEN"},
    "redis": {"REDIS_PASSWORD"},
}


def _compose_references(value) -> set:
    """Variables that compose puts into `value` (not "$$", which is a literal "$")."""
    text = yaml.safe_dump(value).replace("$$", "")
    return set(re.findall(r"\$\{?(\w+)", text))


def test_each_compose_service_gets_only_its_own_secrets():
    services = compose()["services"]
    assert set(services) == set(COMPOSE_EXPECTED)
    given = {name: _compose_references(s.get("environment", {})) & COMPOSE_SECRETS for name, s in services.items()}
    assert given == COMPOSE_EXPECTED


def _k8s_secret_keys(container) -> set:
    keys = set()
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            keys.add(f"every key of {source['secretRef']['name']}")
    for var in container.get("env", []):
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == "clinic-secrets" and ref["key"] == var["name"], var
            keys.add(ref["key"])
    return keys


def test_each_kubernetes_pod_gets_only_its_own_secrets():
    given = {}
    for name, d in deployments().items():
        for container in d["spec"]["template"]["spec"]["containers"]:
            given[name] = given.get(name, set()) | _k8s_secret_keys(container)
    assert given == K8S_EXPECTED


def _commands():
    for name, service in compose()["services"].items():
        yield f"compose {name}", "compose", service.get("command") or []
    for name, d in deployments().items():
        for c in d["spec"]["template"]["spec"]["containers"]:
            yield f"k8s {name}", "k8s", [*(c.get("command") or []), *(c.get("args") or [])]


def test_no_secret_is_on_a_command_line():
    """`ps`, `docker inspect` and the pod spec show command lines: a secret there is readable by
    anyone on the host or with read access to pods."""
    for where, kind, command in _commands():
        text = " ".join(command)
        # compose replaces ${VAR} and $VAR in a command by the value ("$$" is a literal "$");
        # Kubernetes replaces $(VAR).
        substituted = _compose_references(command) if kind == "compose" else set(re.findall(r"\$\((\w+)\)", text))
        assert not substituted, f"{where}: {sorted(substituted)} put into the command line"
        assert "--auth-token" not in text and "-t" not in command, where
        assert not re.search(r"--requirepass\b", text), where


def test_redis_has_a_password_which_rasa_uses():
    services = compose()["services"]
    script = " ".join(services["redis"]["command"])
    assert "requirepass $$REDIS_PASSWORD" in script  # read by the container's shell, from its environment
    assert services["rasa-1"]["environment"]["REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")
    redis_pod = deployments()["redis"]["spec"]["template"]["spec"]["containers"][0]
    assert "requirepass $REDIS_PASSWORD" in " ".join(redis_pod["command"])
    rasa_env = {v["name"]: v for v in deployments()["rasa"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert rasa_env["REDIS_URL"]["value"].startswith("redis://:$(REDIS_PASSWORD)@redis:")
    # Kubernetes only expands $(VAR) for variables defined earlier in the list.
    names = list(rasa_env)
    assert names.index("REDIS_PASSWORD") < names.index("REDIS_URL")
    config = next(d for d in k8s_docs() if d["kind"] == "ConfigMap")
    assert "REDIS_URL" not in config["data"]


# ---------------------------------------------------------------------------------- networks

def _selects(selector, labels) -> bool:
    return set((selector or {}).get("matchLabels", {}).items()) <= set(labels.items()) and \
        not (selector or {}).get("matchExpressions")


def _allowed_ingress(policies, target_labels, source_labels, source_in_namespace):
    """Ports on which a pod with `source_labels` may connect to one with `target_labels`
    under these NetworkPolicies ("any" when not restricted)."""
    selecting = [p for p in policies if "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
                 and _selects(p["spec"]["podSelector"], target_labels)]
    if not selecting:
        return {"any"}
    ports = set()
    for policy in selecting:
        for rule in policy["spec"].get("ingress") or []:
            peers = rule.get("from")
            matched = peers is None or any(
                "ipBlock" in peer
                or ("namespaceSelector" in peer and _selects(peer.get("podSelector"), source_labels)
                    and not peer["namespaceSelector"].get("matchLabels")
                    and not peer["namespaceSelector"].get("matchExpressions"))
                or ("namespaceSelector" not in peer and source_in_namespace
                    and _selects(peer.get("podSelector"), source_labels))
                for peer in peers)
            if matched:
                ports |= {p.get("port", "any") for p in rule.get("ports") or [{}]}
    return ports


def test_network_policies_allow_only_the_connections_the_assistant_makes():
    docs = k8s_docs()
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    pods = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments().items()}
    # Sources: our pods, the public entry (labelled as the manifest asks, maybe in another
    # namespace), and anything else in the cluster.
    sources = {**{name: (labels, True) for name, labels in pods.items()},
               "balancer": ({"clinic-balancer": "true"}, False), "other pod": ({"app": "other"}, False),
               "other pod here": ({"app": "other"}, True)}
    allowed = set()
    for target, target_labels in pods.items():
        for source, (labels, here) in sources.items():
            if source != target:
                for port in _allowed_ingress(policies, target_labels, labels, here):
                    allowed.add((source, target, port))
    assert allowed == {("balancer", "rasa", 5005), ("worker", "rasa", 5005), ("console", "rasa", 5005),
                       ("rasa", "actions", 5055), ("rasa", "redis", 6379)}
    # Redis opens no connection.
    redis_egress = [p for p in policies if "Egress" in p["spec"].get("policyTypes", [])
                    and _selects(p["spec"]["podSelector"], pods["redis"])]
    assert redis_egress and not any(p["spec"].get("egress") for p in redis_egress)


def test_compose_networks_keep_the_balancer_to_rasa_and_the_data_inside():
    spec = compose()
    services, networks = spec["services"], spec.get("networks") or {}

    def nets(name):
        return set(services[name].get("networks") or ["default"])

    # Only the Rasa replicas share a network with the balancer.
    assert {s for s in services if s != "balancer" and nets(s) & nets("balancer")} == {"rasa-1", "rasa-2"}
    # The database, Redis and the action server are only on internal networks (no way out,
    # no published port), shared with the application's services alone.
    for name in ("postgres", "redis", "actions"):
        assert nets(name) and all((networks.get(n) or {}).get("internal") is True for n in nets(name)), name
        assert "ports" not in services[name], name


# ------------------------------------------------------------------- the Rasa server command

def _rasa_command(env):
    command = compose()["services"]["rasa-1"]["command"]
    assert "--auth-token" not in command, "the API token is on the command line"
    assert not _compose_references(command)
    return [sys.executable if part == "python" else part for part in command]


@pytest.mark.parametrize("env, problem", [
    ({"RASA_API_TOKEN": ""}, "RASA_API_TOKEN is not set"),
    ({"RASA_API_TOKEN": "short-token"}, "RASA_API_TOKEN is shorter"),
    ({"RASA_API_TOKEN": "x" * MIN_LENGTH, "TELEGRAM_WEBHOOK_SECRET": "short-secret"},
     "TELEGRAM_WEBHOOK_SECRET is shorter"),
])
def test_the_rasa_command_refuses_a_missing_or_short_secret_in_production(tmp_path, env, problem):
    """Before Rasa loads anything (the real start, with a good token, is in
    tests/integration/test_deploy_servers.py)."""
    command = _rasa_command(env)
    full_env = project_env(**{"CLINIC_ENV": "production", "TELEGRAM_WEBHOOK_SECRET": "", **env})
    out = subprocess.run(command, cwd=paths.ROOT, env=full_env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 2 and problem in out.stderr and "not starting" in out.stderr, out.stderr


def test_the_rasa_command_adds_the_token_from_the_environment_only(monkeypatch):
    from bot.serve.rasa_server import command

    token = "t" * MIN_LENGTH
    monkeypatch.setenv("CLINIC_ENV", "production")
    monkeypatch.setenv("RASA_API_TOKEN", token)
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET", raising=False)
    argv = compose()["services"]["rasa-1"]["command"][3:]
    module, args = command(argv)
    assert module == "bot.serve.rasa_cli"
    assert args == [*argv[2:], "--auth-token", token]
    # One given on the command line is refused, however argparse would have spelled it.
    for given in (["--auth-token", token], [f"--auth-token={token}"], ["--auth", token], [f"-t{token}"]):
        with pytest.raises(ValueError, match="RASA_API_TOKEN"):
            command([*argv, *given])
