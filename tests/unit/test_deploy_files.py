"""The deployment files cannot run here (no Docker engine or cluster): check their syntax and
that they wire the parts together as the code expects."""
from pathlib import Path

import yaml

from bot import paths

DEPLOY = paths.ROOT / "deploy"


def test_compose_file_is_valid_and_complete():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"rasa-1", "rasa-2", "actions", "worker", "console", "balancer", "postgres", "redis"} <= set(services)
    for name in ("rasa-1", "rasa-2"):
        command = services[name]["command"]
        assert "deploy/endpoints.replicas.yml" in command and "--auth-token" in command
        assert services[name]["environment"]["CLINIC_ENV"] == "production"
    # No secret value is written in the file: they all come from the environment.
    text = (DEPLOY / "docker-compose.yml").read_text()
    for secret in ("RASA_API_TOKEN", "WEBCHAT_SECRET", "POSTGRES_PASSWORD", "ACTION_SERVER_TOKEN"):
        assert f"${{{secret}:?" in text
    assert services["console"]["ports"] == ["127.0.0.1:8081:8081"]


def test_kubernetes_manifests_are_valid():
    docs = [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "assistant.yaml").read_text()) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {("Deployment", "rasa"), ("Service", "rasa"), ("Deployment", "actions"), ("Deployment", "worker"),
            ("Deployment", "console"), ("ConfigMap", "clinic-config")} <= kinds
    for d in docs:
        assert d["apiVersion"] in ("v1", "apps/v1") and d["metadata"]["name"]
        if d["kind"] == "Deployment":
            spec = d["spec"]
            assert spec["selector"]["matchLabels"] == spec["template"]["metadata"]["labels"]
            assert spec["template"]["spec"]["containers"][0]["image"]
    rasa = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "rasa")
    assert rasa["spec"]["replicas"] >= 2
    # The shared database being down must not take every replica out of the Service (the
    # fail-closed reply must still be served), and the outage spool must outlive a pod.
    pod = rasa["spec"]["template"]["spec"]
    container = pod["containers"][0]
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
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert all(compose["services"][s]["environment"]["RASA_URL"].startswith("http://rasa-")
               for s in ("worker", "console"))


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
