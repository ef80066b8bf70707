"""Imports follow the flow channel -> Rasa -> (triage, knowledge, actions) -> storage -> console:
nothing lower imports something higher, and no module imports itself back (at any depth, also
through imports inside functions)."""
import ast
from pathlib import Path
from typing import Dict, List, Set

from bot.config import paths

FORBIDDEN = [
    # (importer prefix, imported prefix, why)
    ("bot.channels", "bot.console", "a channel must not depend on a staff screen"),
    ("bot.", "actions", "the bot package must not import the action server's adapters"),
    ("bot.triage", "bot.rasa_ext.", "the pipeline must not switch on changes to Rasa as a side effect"),
    ("bot.knowledge", "bot.rasa_ext.", "the pipeline must not switch on changes to Rasa as a side effect"),
    ("bot.rasa_ext", "bot.serve", "the patches must not depend on the entry points that install them"),
    ("bot.channels", "bot.rasa_ext.", "a channel uses bot.rasa_ext's public functions, not a patch module"),
    ("bot.eval", "bot.rasa_ext.", "the evaluation uses bot.rasa_ext's public functions, not a patch module"),
    ("bot.storage", "bot.console", "storage must not depend on a staff screen"),
    ("bot.escalation", "bot.console", "escalation must not depend on a staff screen"),
]


def _modules() -> Dict[str, Path]:
    found = {}
    for path in [*paths.ROOT.glob("bot/**/*.py"), *paths.ROOT.glob("actions/**/*.py")]:
        name = ".".join(path.relative_to(paths.ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(path: Path, known: Set[str]) -> Set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n in known}


def _graph() -> Dict[str, Set[str]]:
    modules = _modules()
    return {name: _imports(path, set(modules)) for name, path in modules.items()}


def violations(graph: Dict[str, Set[str]]) -> List[str]:
    def within(name: str, prefix: str) -> bool:
        return name == prefix.rstrip(".") and not prefix.endswith(".") or name.startswith(
            prefix if prefix.endswith(".") else prefix + ".")

    return sorted(f"{importer} imports {imported}: {why}"
                  for importer, imported_names in graph.items() for imported in imported_names
                  for prefix, target, why in FORBIDDEN
                  if within(importer, prefix) and within(imported, target))


def cycles(graph: Dict[str, Set[str]]) -> List[str]:
    found, state = [], {}

    def visit(name: str, trail: List[str]) -> None:
        state[name] = "open"
        for nxt in sorted(graph.get(name, ())):
            if nxt == name or nxt.startswith(name + "."):
                continue  # a package importing its own submodule
            if state.get(nxt) == "open":
                found.append(" -> ".join([*trail[trail.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return found


def test_no_import_runs_against_the_flow():
    wrong = violations(_graph())
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_itself_back():
    found = cycles(_graph())
    assert not found, "\n".join(found)


def test_the_checks_find_what_they_describe():
    graph = {"bot.channels.pause": {"bot.console.review"}, "bot.console.review": {"bot.storage.db"},
             "bot.resilience.replay": {"bot.resilience.tracker"}, "bot.resilience.tracker": {"bot.resilience.replay"},
             "bot.eval.driver": {"actions.webhook_guard"}, "bot.triage.tokenizer": {"bot.rasa_ext.speed.hot_paths"},
             "bot.triage.engine": {"bot.rasa_ext"}}
    assert violations(graph) == [
        "bot.channels.pause imports bot.console.review: a channel must not depend on a staff screen",
        "bot.eval.driver imports actions.webhook_guard: the bot package must not import the action server's adapters",
        "bot.triage.tokenizer imports bot.rasa_ext.speed.hot_paths: the pipeline must not switch on changes to "
        "Rasa as a side effect"]
    assert cycles(graph) == ["bot.resilience.replay -> bot.resilience.tracker -> bot.resilience.replay"]
