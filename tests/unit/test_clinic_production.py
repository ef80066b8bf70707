"""Production refuses clinic.yml placeholders (bot/config/clinic.py): every fact the safety replies
quote must be filled in, in the file or by its environment variable, and each process that
answers patients stops as it starts, naming what to fill in. Development runs with them."""
import logging
import subprocess
import sys

import pytest
import yaml

from bot.config import paths
from bot.config.clinic import OVERRIDES, ClinicConfigError, load_at_start, load_clinic
from bot.serve.processes import project_env

COMPLETE = {
    "timezone": "Europe/London",
    "hours": {"mon": "09:00-18:00"},
    "urgent_callback_minutes": 30,
    "safety_net_minutes": 30,
    "contact": "+44 20 7946 0000",
    "out_of_hours_contact": "+44 20 7946 0999",
    "emergency_number": "999 or 112",
}
PLACEHOLDERS = {"contact": "<the clinic's main phone line>",
                "out_of_hours_contact": "<the clinic's out-of-hours line>"}


@pytest.fixture(autouse=True)
def no_overrides(monkeypatch):
    """Only what a test sets: no contact line or clinic file from the caller's environment."""
    for name in (*OVERRIDES.values(), "CLINIC_FILE", "CLINIC_SAFETY_NET_MINUTES"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def production(monkeypatch):
    monkeypatch.setenv("CLINIC_ENV", "production")


def clinic_file(tmp_path, **changes):
    """A clinic file: COMPLETE with `changes` (a value of None leaves the key out)."""
    data = {k: v for k, v in {**COMPLETE, **changes}.items() if v is not None}
    path = tmp_path / "clinic.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def refusal(path) -> str:
    with pytest.raises(ClinicConfigError) as err:
        load_clinic(path)
    return str(err.value)


@pytest.mark.parametrize("field, variable", [("contact", "CLINIC_CONTACT"),
                                             ("out_of_hours_contact", "CLINIC_OUT_OF_HOURS_CONTACT")])
def test_production_refuses_a_placeholder_contact_line(tmp_path, production, field, variable):
    message = refusal(clinic_file(tmp_path, **{field: PLACEHOLDERS[field]}))
    assert f"- {field}: still the placeholder {PLACEHOLDERS[field]!r}" in message
    assert f"'{field}:' in {tmp_path / 'clinic.yml'}" in message and variable in message
    assert "CLINIC_ENV=production" in message
    assert message.count("\n  - ") == 1  # only the offending field


@pytest.mark.parametrize("field", ["contact", "out_of_hours_contact"])
def test_production_refuses_a_contact_line_left_out(tmp_path, production, field):
    message = refusal(clinic_file(tmp_path, **{field: None}))
    assert f"- {field}: not set" in message and OVERRIDES[field] in message


@pytest.mark.parametrize("timezone, problem", [
    (None, "timezone: not set"),
    ("Mars/Olympus_Mons", "timezone: 'Mars/Olympus_Mons' is not a time zone name"),
    ("<UTC>", "timezone: still the placeholder '<UTC>'"),
])
def test_production_refuses_a_missing_invalid_or_placeholder_time_zone(tmp_path, production, timezone, problem):
    message = refusal(clinic_file(tmp_path, timezone=timezone))
    assert problem in message and "IANA time zone name" in message


def test_production_names_every_problem_at_once(tmp_path, production):
    message = refusal(clinic_file(tmp_path, timezone=None, **PLACEHOLDERS,
                                  hours={"mon": "<09:00-17:00>"}))
    for field in ("timezone", "contact", "out_of_hours_contact", "hours.mon"):
        assert f"\n  - {field}: " in message, message


def test_production_accepts_a_complete_file_and_utc_set_explicitly(tmp_path, production):
    clinic = load_clinic(clinic_file(tmp_path))
    assert (clinic.timezone, clinic.contact, clinic.placeholders) == ("Europe/London", "+44 20 7946 0000", ())
    assert load_clinic(clinic_file(tmp_path, timezone="UTC")).timezone == "UTC"


def test_production_accepts_placeholders_replaced_by_the_environment(tmp_path, production, monkeypatch):
    path = clinic_file(tmp_path, **PLACEHOLDERS)
    monkeypatch.setenv("CLINIC_CONTACT", "+44 20 7946 0000")
    assert "out_of_hours_contact" in refusal(path) and "- contact:" not in refusal(path)
    monkeypatch.setenv("CLINIC_OUT_OF_HOURS_CONTACT", "+44 20 7946 0999")
    clinic = load_clinic(path)
    assert (clinic.contact, clinic.out_of_hours_contact) == ("+44 20 7946 0000", "+44 20 7946 0999")


def test_a_placeholder_given_by_the_environment_is_refused_and_traced_to_it(tmp_path, production, monkeypatch):
    """The Kubernetes ConfigMap ships "<...>" contact lines: editing clinic.yml would not help."""
    monkeypatch.setenv("CLINIC_CONTACT", "<the clinic's main phone line>")
    message = refusal(clinic_file(tmp_path))
    assert "contact: still the placeholder" in message and "(from the environment variable CLINIC_CONTACT)" in message


def test_the_repositorys_clinic_file_is_refused_in_production(production):
    """It ships with placeholders: a deployment has to fill them in."""
    message = refusal(paths.ROOT / "clinic.yml")
    for field in ("timezone", "contact", "out_of_hours_contact"):
        assert f"\n  - {field}: still the placeholder" in message


def test_development_uses_the_placeholders_text_with_a_one_line_warning(monkeypatch, caplog):
    monkeypatch.setenv("CLINIC_ENV", "development")
    with caplog.at_level(logging.WARNING, logger="bot.config.clinic"):
        clinic = load_at_start()
    assert clinic.contact == "the clinic's main phone line"  # the text inside the brackets
    assert clinic.out_of_hours_contact == "the clinic's out-of-hours line" and clinic.timezone == "UTC"
    assert clinic.placeholders == ("timezone", "contact", "out_of_hours_contact")
    [warning] = [r.getMessage() for r in caplog.records]
    assert "\n" not in warning and "contact, out_of_hours_contact" in warning


def test_development_still_refuses_malformed_values(tmp_path, monkeypatch):
    monkeypatch.setenv("CLINIC_ENV", "development")
    with pytest.raises(ClinicConfigError, match="timezone: 'Mars/Olympus_Mons'"):
        load_clinic(clinic_file(tmp_path, timezone="<Mars/Olympus_Mons>"))


def test_the_clinic_file_can_be_named_by_the_environment(tmp_path, production, monkeypatch):
    monkeypatch.setenv("CLINIC_FILE", str(clinic_file(tmp_path, contact="+1 555 0100")))
    assert load_clinic().contact == "+1 555 0100"
    monkeypatch.setenv("CLINIC_FILE", str(tmp_path / "missing.yml"))
    with pytest.raises(ClinicConfigError, match="missing.yml: cannot be read"):
        load_clinic()


# ---------------------------------------------------------------- each process, for real

STARTS = {
    "launcher": ["-m", "bot.serve.run"],
    "worker": ["-m", "bot.serve.worker", "--once"],
    "action server": ["-m", "bot.serve.action_server", "--actions", "actions", "--port", "9"],
    "rasa server": ["-m", "bot.serve.rasa_cli", "run", "--model", "models/assistant.tar.gz", "-p", "9"],
    # As deploy/ starts it: the API token checked (and good), then the same Rasa entry point.
    "deployed rasa server": ["-m", "bot.serve.rasa_server", "-m", "bot.serve.rasa_cli", "run", "-p", "9"],
}


@pytest.mark.parametrize("process", list(STARTS))
def test_each_process_that_answers_patients_refuses_to_start_with_placeholders(tmp_path, process):
    """The repository's clinic.yml (placeholders) in production: exit code 2 with the message,
    before anything is started (no log, no child process, the database not opened)."""
    # The database "lives" under a plain file: opened at all, it fails at once. So without the
    # check the launcher and the worker crash (this test fails) instead of starting everything.
    (tmp_path / "not-a-directory").write_text("")
    env = project_env(CLINIC_ENV="production", DATABASE_URL=f"sqlite:///{tmp_path / 'not-a-directory' / 'c.db'}",
                      LOG_DIR=str(tmp_path / "logs"), RASA_API_TOKEN="t" * 40)
    for name in (*OVERRIDES.values(), "CLINIC_FILE", "TELEGRAM_WEBHOOK_SECRET"):
        env.pop(name, None)
    out = subprocess.run([sys.executable, *STARTS[process]], cwd=paths.ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2, out.stderr[-3000:]
    assert "not starting" in out.stderr and "is not ready for production" in out.stderr
    assert "contact: still the placeholder" in out.stderr and "CLINIC_CONTACT" in out.stderr
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert not (tmp_path / "logs").exists()


# ------------------------------------------------------------------------- deploy files

def test_deploy_files_give_every_service_that_answers_patients_the_contact_lines():
    """Compose requires them from .env; the Kubernetes ConfigMap has them as placeholders to
    replace (which production refuses until someone does)."""
    services = yaml.safe_load((paths.ROOT / "deploy" / "docker-compose.yml").read_text())["services"]
    for name in ("rasa-1", "rasa-2", "actions", "worker"):
        env = services[name]["environment"]
        assert env["CLINIC_ENV"] == "production"
        for variable in ("CLINIC_CONTACT", "CLINIC_OUT_OF_HOURS_CONTACT"):
            assert env[variable].startswith(f"${{{variable}:?"), (name, variable)  # compose refuses it unset
    docs = [d for d in yaml.safe_load_all((paths.ROOT / "deploy" / "k8s" / "assistant.yaml").read_text()) if d]
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "clinic-config")
    assert config["data"]["CLINIC_ENV"] == "production"
    assert {"CLINIC_CONTACT", "CLINIC_OUT_OF_HOURS_CONTACT"} <= set(config["data"])
    for d in docs:
        if d["kind"] == "Deployment" and d["metadata"]["name"] in ("rasa", "actions", "worker"):
            container = d["spec"]["template"]["spec"]["containers"][0]
            assert {"configMapRef": {"name": "clinic-config"}} in container["envFrom"], d["metadata"]["name"]
