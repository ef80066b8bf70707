"""Knowledge-base commands for staff and the build.

    python -m bot.knowledge check   validate every entry; non-zero exit with file+field messages
    python -m bot.knowledge build   validate, then regenerate the Rasa data derived from it
    python -m bot.knowledge stale   exit 1 if the generated files are out of date
"""
import sys

from bot import paths
from bot.knowledge.generate import build, stale_files
from bot.knowledge.loader import KnowledgeError, load_knowledge_base


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else "check"
    try:
        kb = load_knowledge_base()
    except KnowledgeError as exc:
        print(exc, file=sys.stderr)
        return 2
    if command == "check":
        pending = sum(1 for e in kb if not e.reviewed)
        print(f"knowledge base OK: {len(kb)} entries, {pending} awaiting staff review")
        return 0
    if command == "build":
        changed = build(kb)
        for p in changed:
            print(f"regenerated {p.relative_to(paths.ROOT)}")
        if not changed:
            print("generated knowledge data is up to date")
        return 0
    if command == "stale":
        stale = stale_files(kb)
        for p in stale:
            print(f"stale: {p.relative_to(paths.ROOT)} (run `python -m bot.knowledge build`)")
        return 1 if stale else 0
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main())
