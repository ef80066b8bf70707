"""Our code refuses to serve from a stock entry point that lacks bot/rasa_ext's safety changes."""
import subprocess
import sys

import pytest

from bot.config import paths
from bot.serve.processes import free_port, project_env


def test_a_bare_rasa_sdk_will_not_run_our_actions():
    result = subprocess.run([sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(free_port())],
                            cwd=paths.ROOT, env=project_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "python -m bot.serve.action_server" in result.stderr, result.stderr[-3000:]
    assert "up and running" not in result.stderr + result.stdout


@pytest.mark.slow
def test_a_bare_rasa_run_stops_instead_of_serving_without_the_safety_changes(tmp_path):
    """Rasa's server catches errors while it loads a model and then serves on without one,
    answering nothing: our pipeline stops the process instead."""
    from bot.model import verified_model

    endpoints = tmp_path / "endpoints.yml"  # Rasa's defaults: in-memory trackers, no action server
    endpoints.write_text("{}\n")
    proc = subprocess.Popen([sys.executable, "-m", "rasa", "run", "--model", str(verified_model()),
                             "--endpoints", str(endpoints), "-i", "127.0.0.1", "-p", str(free_port())],
                            cwd=paths.ROOT, env=project_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        out = proc.communicate(timeout=600)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, out[-3000:]
    assert "python -m bot.serve.rasa_cli" in out, out[-3000:]
