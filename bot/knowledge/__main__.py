"""Knowledge-base commands for staff and the build.

    python -m bot.knowledge check         validate every entry; non-zero exit with file+field messages
    python -m bot.knowledge check DIR     validate an export (DIR/*.md or DIR/entries/*.md); topics
                                          without a published entry are listed, not refused
    python -m bot.knowledge build         validate, then regenerate the Rasa data derived from it
    python -m bot.knowledge stale         exit 1 if the generated files are out of date
    python -m bot.knowledge export DIR    write the published set (the database's) to DIR/*.md
    python -m bot.knowledge propose FILE  save a proposals file's wording as new versions awaiting
                                          sign-off (a new database gets knowledge/proposals/
                                          when it is seeded)
"""
import sys
from pathlib import Path

from bot.config import paths
from bot.knowledge.generate import build, stale_files
from bot.knowledge.loader import KnowledgeError, load_knowledge_base, load_topics


def _database_url() -> str:
    from bot.config.settings import Settings
    from bot.storage.db import upgrade

    url = Settings.from_env().database_url
    upgrade(url)
    return url


def check_export(directory: Path) -> int:
    entries = directory / "entries" if (directory / "entries").is_dir() else directory
    try:
        kb = load_knowledge_base(entries_dir=entries, every_topic=False)
    except KnowledgeError as exc:
        print(exc, file=sys.stderr)
        return 2
    missing = sorted(set(load_topics()) - {e.topic for e in kb})
    print(f"export OK: {len(kb)} entries in {entries}, {sum(1 for e in kb if e.reviewed)} signed")
    if missing:
        print(f"note: {len(missing)} topic(s) have no published entry: {', '.join(missing)}")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else "check"
    if command == "check" and len(argv) > 1:
        return check_export(Path(argv[1]))
    if command == "export" and len(argv) == 2:
        from bot.knowledge.export import export_published

        written, left_out = export_published(_database_url(), Path(argv[1]))
        print(f"exported {len(written)} published entries to {argv[1]}")
        if left_out:
            print(f"not exported (never signed): {', '.join(left_out)}")
        return 0
    if command == "propose" and len(argv) == 2:
        from bot.knowledge.proposals import ProposalError
        from bot.knowledge.store import apply_proposals

        try:
            results = apply_proposals(_database_url(), Path(argv[1]))
        except ProposalError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for entry_id, number in results:
            print(f"{entry_id}: " + (f"version {number} awaiting sign-off" if number else "already proposed"))
        return 0
    if command not in ("check", "build", "stale"):
        print(__doc__, file=sys.stderr)
        return 64
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
    stale = stale_files(kb)
    for p in stale:
        print(f"stale: {p.relative_to(paths.ROOT)} (run `python -m bot.knowledge build`)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
