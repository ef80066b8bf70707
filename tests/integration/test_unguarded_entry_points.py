"""Our code refuses to serve from a stock entry point that lacks bot/rasa_ext's safety changes."""
import subprocess
import sys

from bot.config import paths
from bot.serve.processes import free_port, project_env


def test_a_bare_rasa_sdk_will_not_run_our_actions():
    result = subprocess.run([sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(free_port())],
                            cwd=paths.ROOT, env=project_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "python -m bot.serve.action_server" in result.stderr, result.stderr[-3000:]
    assert "up and running" not in result.stderr + result.stdout
